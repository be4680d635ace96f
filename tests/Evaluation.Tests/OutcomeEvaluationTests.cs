using HrnnPipeline.Evaluation;
using HrnnPipeline.Features;

namespace HrnnPipeline.Tests.Evaluation;

/// <summary>Evaluation with outcome values: ranking metrics over positive targets only, and per value the mean rank
/// and Recall@20, RMSE/MAE of a regression head against the users' mean values, AUC of a value head.</summary>
public sealed class OutcomeEvaluationTests
{
    static readonly EvaluationOptions Options = new() { Ks = [1, 2] };
    static readonly IdMap Items = TestData.Items(10, 20, 30, 40, 50, 60);
    static readonly DatasetStats Stats = new(2, 6, 2, 6, 2, 8);

    // Training values: user 0 means 0.5, user 1 means 1.
    static readonly SessionDataset History = TestData.Sessions(0, (0, [1, 2]), (1, [3, 4])).WithValues([0f, 1f, 1f, 1f]);
    // Test sessions: user 0 targets 2 (value 0), 3 (1); user 1 targets 4 (0.5), 5 (0).
    static readonly SessionDataset Test = TestData.Sessions(10, (0, [1, 2, 3]), (1, [6, 4, 5])).WithValues([1f, 0f, 1f, 1f, 0.5f, 0f]);

    /// <summary>Next-item predictions of the test sessions at the given ranks (by user, position) and predicted values.</summary>
    static ModelRun Run(int seed, int[] ranks, float[]? predicted, string mode)
    {
        var predictions = new List<Prediction>
        {
            new(0, 1, 2, ranks[0], [1, 2], Predicted: predicted?[0]), new(0, 2, 3, ranks[1], [1, 2], Predicted: predicted?[1]),
            new(1, 1, 4, ranks[2], [1, 2], Predicted: predicted?[2]), new(1, 2, 5, ranks[3], [1, 2], Predicted: predicted?[3]),
        };
        OutcomeEvaluation.AttachOutcomes(predictions, Test);
        return new ModelRun("hrnn-init", seed, predictions, 1, 1) { OutcomeMode = mode };
    }

    [Fact]
    public void Outcomes_are_the_values_of_the_predicted_test_events()
    {
        var run = Run(1, [1, 1, 1, 1], null, "positive");
        Assert.Equal([0f, 1f, 0.5f, 0f], run.Predictions.Select(p => p.Outcome!.Value));
    }

    [Fact]
    public void Ranking_metrics_count_only_positive_targets()
    {
        // The negative targets rank first, the positive ones second: recall@1 would be 1/2 with them, 0 without.
        var report = Evaluator.Summarise(Stats, History, Items, [Run(1, [1, 2, 2, 1], null, "binary")], Options);
        var result = Assert.Single(report.Results);
        Assert.Equal(2, result.Predictions);
        Assert.Equal(0, result.Metrics["recall@1"], 12);
        Assert.Equal(1, result.Metrics["recall@2"], 12);
        var slices = Assert.Single(report.Outcomes!).ByValue;
        Assert.Equal([0.0, 0.5, 1.0], slices.Select(s => s.Value));
        Assert.Equal(1.0, slices[0].Metrics[OutcomeEvaluation.MeanRank], 12);
        Assert.Equal(2.0, slices[0].Metrics[OutcomeEvaluation.Targets], 12);
        Assert.Equal(2.0, slices[2].Metrics[OutcomeEvaluation.MeanRank], 12);
    }

    [Fact]
    public void Regression_is_scored_by_rmse_and_mae_beside_each_users_mean_value()
    {
        float[] predicted = [0.2f, 0.9f, 0.5f, 0.4f];
        var outcome = Assert.Single(OutcomeEvaluation.Summarise([Run(1, [1, 1, 1, 1], predicted, "regression")], History)!);
        double[] truth = [0, 1, 0.5, 0];
        double[] userMean = [0.5, 0.5, 1, 1];
        Assert.Equal(Math.Sqrt(truth.Select((t, i) => Math.Pow(t - predicted[i], 2)).Average()), outcome.Metrics["rmse"], 5);
        Assert.Equal(truth.Select((t, i) => Math.Abs(t - predicted[i])).Average(), outcome.Metrics["mae"], 5);
        Assert.Equal(Math.Sqrt(truth.Select((t, i) => Math.Pow(t - userMean[i], 2)).Average()), outcome.Metrics["user_mean_rmse"], 5);
        Assert.Equal(truth.Select((t, i) => Math.Abs(t - userMean[i])).Average(), outcome.Metrics["user_mean_mae"], 5);
    }

    [Fact]
    public void Binary_heads_get_an_auc_and_no_rmse()
    {
        // Liked targets (values 1, 0.5) at 0.9 and 0.4, disliked at 0.2 and 0.4: of the 4 pairs 3 are ordered, 1 tied.
        var outcome = Assert.Single(OutcomeEvaluation.Summarise([Run(1, [1, 1, 1, 1], [0.2f, 0.9f, 0.4f, 0.4f], "binary")], History)!);
        Assert.Equal(3.5 / 4, outcome.Metrics["auc"], 12);
        Assert.False(outcome.Metrics.ContainsKey("rmse"));
    }

    [Fact]
    public void Auc_is_null_when_one_class_is_missing()
    {
        Assert.Null(OutcomeEvaluation.Auc([(1, 0.3), (0.5, 0.1)]));
        Assert.Equal(0.75, OutcomeEvaluation.Auc([(1, 0.9), (0, 0.8), (1, 0.7), (0, 0.1)]));
    }

    [Fact]
    public void A_test_split_without_values_leaves_the_report_as_it_was()
    {
        var plain = new ModelRun("rnn", 1, [new Prediction(0, 1, 2, 1, [2])], 1, 1);
        var report = Evaluator.Summarise(Stats, History.WithValues(null), Items, [plain], Options);
        Assert.Null(report.Outcomes);
        Assert.Equal(1, Assert.Single(report.Results).Predictions);
    }
}
