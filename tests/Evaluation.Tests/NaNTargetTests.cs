using HrnnPipeline.Evaluation;
using HrnnPipeline.Features;
using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Tests.Evaluation;

/// <summary>A model that scores a target NaN (a diverged run, a NaN weight): the target ranks last, the evaluation
/// counts it, and the run goes on (a NaN compares false with everything, so a plain count would rank it 0).</summary>
public sealed class NaNTargetTests
{
    static readonly HrnnSettings Settings = new()
    {
        Model = ModelKind.HrnnInit, SessionHidden = 8, UserHidden = 8, BatchSize = 4, Epochs = 1, Reminders = false,
        Loss = LossKind.CrossEntropy, Optimizer = OptimizerKind.Adam, LearningRate = 0.05, Seed = 5,
    };

    [Fact]
    public void A_NaN_scored_target_ranks_last_and_is_counted_without_aborting_the_evaluation()
    {
        TorchRuntime.EnsureLoaded();
        var train = TestData.Sessions(0,
            (0, [1, 2, 3]), (0, [2, 3, 4]), (0, [1, 3, 5]), (1, [4, 5, 6]), (1, [5, 6, 1]), (2, [6, 1, 2]), (2, [2, 4, 6]));
        var valid = TestData.Sessions(100, (0, [3, 4]), (1, [6, 2]), (2, [1, 5]));
        var test = TestData.Sessions(200, (0, [4, 3, 5]), (1, [3, 2, 1]), (2, [5, 6, 3]));
        var items = TestData.ItemsOf(train, 6);
        using var ranker = new RnnRanker(Settings, train, valid, Directory.CreateTempSubdirectory("nan").FullName, CPU);
        ranker.Fit(train, items);
        // Item 3's output bias is NaN: every prediction of item 3 scores NaN, and no other item's score does.
        using (no_grad()) ranker.Model!.OutputBias.index_fill_(0, tensor(new long[] { 3 }), float.NaN);

        var options = new EvaluationOptions { Ks = [1, 5] };
        var run = Evaluator.Run(ranker, 1, train, test, items, options, CancellationToken.None);
        var ofItem3 = run.Predictions.Where(p => p.Target == 3).ToList();
        Assert.NotEmpty(ofItem3);
        Assert.All(ofItem3, p => { Assert.Equal(6, p.Rank); Assert.True(p.NaNScore); });
        // The NaN item never ranks ahead of another target.
        Assert.All(run.Predictions.Where(p => p.Target != 3), p => { Assert.InRange(p.Rank, 1, 5); Assert.False(p.NaNScore); });

        var report = Evaluator.Summarise(DatasetStats.Of(train, test, items), train, items, [run], options);
        Assert.Equal(ofItem3.Count, Assert.Single(report.Results).NaNTargets);
        Assert.Equal(ofItem3.Count, (long)EvaluationWriter.ToJson(report)["results"]![0]!["nan_targets"]!);
        Assert.Contains("scored NaN", EvaluationWriter.ToMarkdown(report));
    }
}
