using HrnnPipeline.Evaluation;

namespace HrnnPipeline.Tests.Evaluation;

public sealed class MetricsTests
{
    static Prediction At(int rank, params int[] topK) => new(0, 1, 1, rank, topK);

    static readonly long[] NoPopularity = new long[31];

    [Fact]
    public void Metrics_follow_hand_computed_values_at_each_cutoff()
    {
        Prediction[] predictions = [At(1), At(3), At(5), At(6), At(21)];
        var m = Metrics.Compute(predictions, [5, 20], NoPopularity);

        Assert.Equal(3 / 5.0, m["recall@5"], 12);
        Assert.Equal((1 + 1 / 3.0 + 1 / 5.0) / 5, m["mrr@5"], 12);
        Assert.Equal(3 / 5.0 / 5, m["precision@5"], 12);
        Assert.Equal(0.37737056144690834, m["ndcg@5"], 12); // (1 + 1/log2(4) + 1/log2(6)) / 5

        Assert.Equal(4 / 5.0, m["recall@20"], 12);
        Assert.Equal(0.34, m["mrr@20"], 12);
        Assert.Equal(4 / 5.0 / 20, m["precision@20"], 12);
        Assert.Equal(0.4486119988685128, m["ndcg@20"], 12);
    }

    [Fact]
    public void A_hit_just_beyond_the_cutoff_counts_nothing()
    {
        var m = Metrics.Compute([At(6)], [5], NoPopularity);
        Assert.Equal(0, m["recall@5"]);
        Assert.Equal(0, m["mrr@5"]);
        Assert.Equal(0, m["ndcg@5"]);
        var atCutoff = Metrics.Compute([At(5)], [5], NoPopularity);
        Assert.Equal(1, atCutoff["recall@5"]);
        Assert.Equal(0.2, atCutoff["mrr@5"], 12);
    }

    [Fact]
    public void Coverage_and_popularity_are_measured_on_the_top_lists_cut_at_the_largest_k()
    {
        long[] popularity = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
        Prediction[] predictions = [At(1, 1, 2, 3), At(2, 2, 4)];
        var m = Metrics.Compute(predictions, [1, 2], popularity);
        Assert.Equal(3 / 10.0, m["coverage@2"], 12); // {1, 2, 4}; item 3 is beyond k = 2
        Assert.Equal((10 + 20 + 20 + 40) / 4.0, m["mean_popularity@2"], 12);
        Assert.Equal(22.5 / 100, m["mean_popularity_norm@2"], 12);
    }

    [Fact]
    public void No_predictions_give_zero_metrics_not_NaN()
    {
        var m = Metrics.Compute([], [5], NoPopularity);
        Assert.All(m.Values, v => Assert.Equal(0, v));
    }

    [Fact]
    public void Seeds_aggregate_to_mean_and_sample_standard_deviation()
    {
        var runs = new[] { 0.2, 0.4, 0.6 }
            .Select(v => (IReadOnlyDictionary<string, double>)new Dictionary<string, double> { ["recall@5"] = v })
            .ToList();
        var aggregated = Metrics.AggregateSeeds(runs);
        Assert.Equal(0.4, aggregated["recall@5"], 12);
        Assert.Equal(0.2, aggregated["recall@5_std"], 12);
    }

    [Fact]
    public void One_seed_has_zero_standard_deviation()
    {
        var aggregated = Metrics.AggregateSeeds([new Dictionary<string, double> { ["mrr@5"] = 0.3 }]);
        Assert.Equal(0.3, aggregated["mrr@5"]);
        Assert.Equal(0, aggregated["mrr@5_std"]);
    }
}
