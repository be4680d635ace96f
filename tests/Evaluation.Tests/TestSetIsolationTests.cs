using HrnnPipeline.Features;
using HrnnPipeline.Scoring.Evaluation;
using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Tests.Evaluation;

/// <summary>No test-set information reaches training or early stopping: the RNN models learn and select epochs
/// from the fit and validation splits alone.</summary>
public sealed class TestSetIsolationTests
{
    static readonly HrnnSettings Settings = new()
    {
        Model = ModelKind.HrnnInit, SessionHidden = 8, UserHidden = 8, BatchSize = 4, Epochs = 3, Patience = 1,
        Loss = LossKind.CrossEntropy, Optimizer = OptimizerKind.Adam, LearningRate = 0.05, Seed = 5,
    };

    static SessionDataset Fit() => TestData.Sessions(0,
        (0, [1, 2, 3]), (0, [2, 3, 4]), (0, [1, 3, 5]), (1, [4, 5, 6]), (1, [5, 6, 1]), (2, [6, 1, 2]), (2, [2, 4, 6]));

    static SessionDataset Valid() => TestData.Sessions(100, (0, [3, 4]), (1, [6, 2]), (2, [1, 5]));

    /// <summary>Trains through the harness's RNN adapter and returns its weights and chosen epoch.</summary>
    static (Dictionary<string, float[]> Weights, int BestEpoch) Train(SessionDataset trainArgument)
    {
        TorchRuntime.EnsureLoaded();
        var items = TestData.ItemsOf(Fit(), 6);
        using var ranker = new RnnRanker(Settings, Fit(), Valid(), Directory.CreateTempSubdirectory("isolation").FullName, CPU);
        ranker.Fit(trainArgument, items);
        var weights = new Dictionary<string, float[]>();
        // Rank once so the weights are read from the trained model the harness would use.
        _ = ranker.Rank(Fit(), Valid(), 3, CancellationToken.None).ToList();
        foreach (var (name, p) in ranker.Model!.named_parameters()) weights[name] = p.detach().cpu().data<float>().ToArray();
        return (weights, ranker.Result!.BestEpoch);
    }

    [Fact]
    public void What_the_harness_hands_to_Fit_besides_fit_and_valid_changes_nothing()
    {
        // The evaluator passes the train split to Fit; here one call gets sessions that look like the test split
        // (a leak, if it were used) and the other an empty dataset. Training must come out identical.
        var leak = TestData.Sessions(500, (0, [5, 6, 1, 2]), (1, [1, 2, 3]), (2, [3, 4, 5]));
        var (a, bestA) = Train(leak);
        var (b, bestB) = Train(SessionDataset.Empty);
        Assert.Equal(bestA, bestB);
        foreach (var (name, values) in a) Assert.Equal(values, b[name]);
    }
}
