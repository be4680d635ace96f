using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Tests.Training;

public sealed class InferenceTests
{
    static List<(int User, int Position, int Target, long Rank)> Predictions(HrnnModel model, int batch)
    {
        var history = TestData.FromLists([[[1, 2, 3], [4, 5]], [[6, 7, 8]], [[2, 9], [3, 4, 5]], [[7, 1]]]);
        var test = TestData.FromLists([[[5, 6, 7]], [[8, 9]], [[1, 2, 3, 4]], [[9, 8, 7]]]);
        var (data, evaluated) = EvaluationSequences.Join(history, test);
        var result = new List<(int, int, int, long)>();
        new HrnnInference(model, CPU).Run(new HrnnInference.Request(data, batch, 3) { EvalSessions = evaluated }, rows =>
        {
            for (int i = 0; i < rows.Rank.Length; i++)
                result.Add((rows.UserBlock[i], rows.Position[i], rows.Target[i], rows.Rank[i]));
        }, null);
        return result.OrderBy(p => p.Item1).ThenBy(p => p.Item2).ToList();
    }

    [Theory]
    [InlineData(ModelKind.HrnnInit)]
    [InlineData(ModelKind.HrnnAll)]
    [InlineData(ModelKind.RnnConcat)]
    public void Parallel_slots_rank_exactly_as_one_user_at_a_time(ModelKind kind)
    {
        TorchRuntime.EnsureLoaded();
        manual_seed(3);
        using var model = new HrnnModel(new HrnnSettings { Model = kind, SessionHidden = 8, UserHidden = 8 }, 10);
        // One slot cannot mix up rows; several slots score start and next-item rows of many users in one block.
        var alone = Predictions(model, batch: 1);
        var together = Predictions(model, batch: 4);
        Assert.Equal(alone, together);
        // Every test position is predicted once: positions 1..n-1, plus the session start where the model can.
        Assert.Contains(alone, p => p.Position == 0);
        Assert.Equal(alone.Count, alone.Distinct().Count());
    }
}
