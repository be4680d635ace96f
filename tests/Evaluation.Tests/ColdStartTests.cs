using HrnnPipeline.Evaluation;
using HrnnPipeline.Evaluation.Baselines;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Tests.Evaluation;

/// <summary>
/// The cold-start evaluation: the time-based split, the metadata popularity baseline, the cold items' figures, and an
/// RNN with metadata ranked within the evaluated catalogue. Items 1..8 fall into two categories (odd: "a", even: "b");
/// item 9 ("a") and item 10 ("b") are first played after the cut-off, and item 11 ("a") only metadata knows.
/// </summary>
public sealed class ColdStartTests
{
    const long Day = 86_400_000;

    static MetadataSource Metadata() => MetadataSource.FromRows([("genre", false)],
        Enumerable.Range(1, 11).Select(i => ($"i{i}", "genre", i % 2 == 1 ? "a" : "b", (double?)null)));

    /// <summary>Sessions of (user, start day, items), events a minute apart.</summary>
    static SessionDataset Log(params (int User, int Day, int[] Items)[] sessions)
    {
        var users = new List<int>(); var ids = new List<int>(); var items = new List<int>(); var times = new List<long>();
        for (int s = 0; s < sessions.Length; s++)
            for (int e = 0; e < sessions[s].Items.Length; e++)
            {
                users.Add(sessions[s].User); ids.Add(s); items.Add(sessions[s].Items[e]);
                times.Add(sessions[s].Day * Day + e * 60_000L);
            }
        return SessionDataset.FromSortedEvents(users.ToArray(), ids.ToArray(), items.ToArray(), times.ToArray());
    }

    [Fact]
    public void The_split_trains_on_sessions_before_the_cutoff_and_tests_each_users_first_session_after_it()
    {
        var log = Log(
            (0, 1, [1, 3, 5]), (0, 2, [3, 5, 7]), (0, 3, [5, 1, 8]), (0, 11, [9, 1, 3]), (0, 12, [9, 5]),
            (1, 1, [2, 4]), (1, 12, [10, 2, 4]),
            (2, 11, [1, 9]),                         // no history before the cut-off: left out
            (3, 2, [2, 6, 4]), (3, 11, [4]));        // a one-event test session: trains, is not tested
        var splits = EvaluationSplits.ColdStart(TestData.Items(new long[10]), log, DateTimeOffset.FromUnixTimeMilliseconds(10 * Day));

        Assert.Equal([0, 1], splits.Test.Users);
        Assert.Equal([9, 1, 3, 10, 2, 4], splits.Test.Items);
        // Valid: user 0's last history session, cleaned to the items fit has (item 8 is only in it); users 1 and 3
        // have one history session each, which stays in fit. Train has every history session whole.
        Assert.Equal([0], splits.Valid.Users);
        Assert.Equal([5, 1], splits.Valid.Items);
        Assert.Equal([1, 3, 5, 3, 5, 7, 2, 4, 2, 6, 4], splits.Fit.Items);
        Assert.Equal([1, 3, 5, 3, 5, 7, 5, 1, 8, 2, 4, 2, 6, 4], splits.Train.Items);
        Assert.Equal([0, 1, 3], splits.Train.Users);
        // Training support counts the training events; items 9 and 10 are cold.
        Assert.Equal([0, 2, 2, 2, 2, 3, 1, 1, 1, 0, 0], splits.Items.Counts);
        Assert.Equal([9, 10], Ranking.ColdItems(splits.Items.Counts));
        Assert.Contains("2 of 10 items have no training event", splits.Description);

        var none = Assert.Throws<PipelineException>(() =>
            EvaluationSplits.ColdStart(TestData.Items(new long[10]), log, DateTimeOffset.FromUnixTimeMilliseconds(20 * Day)));
        Assert.Contains("no user has a session before and one of 2 or more events after the cut-off", none.Message);
    }

    [Fact]
    public void Meta_pop_ranks_the_users_categories_first_and_a_cold_item_right_after_their_warm_items()
    {
        // User 0 plays category a (odd items), user 1 category b; item 1 is the most popular a, item 2 the most popular b.
        var train = TestData.Sessions(0, (0, [1, 3, 1, 5]), (1, [2, 4, 2, 6, 2]));
        var items = TestData.ItemsOf(train, 10);
        var ranker = new MetadataPopRanker(Metadata().Items!);
        ranker.Fit(train, items);
        var test = TestData.Sessions(10, (0, [9, 1]), (1, [10, 9]));
        var predictions = ranker.Rank(train, test, 10, CancellationToken.None).ToList();

        var start0 = predictions.Single(p => p.UserIdx == 0 && p.Position == 0);
        Assert.Equal([1, 3, 5, 7, 9], start0.TopK[..5]);
        Assert.Equal(5, start0.Rank); // item 9: after the four warm a items, before every b item
        Assert.Equal(2, start0.ColdRank); // among the cold items 7..10 (no training event), tied with item 7
        var next1 = predictions.Single(p => p.UserIdx == 1 && p.Position == 1);
        // After item 10 the session adds category b's share again; user 1 never played a, so item 9 ranks after every b item.
        Assert.True(next1.Rank > 5, $"item 9 ranked {next1.Rank} for a user of category b");
    }

    [Fact]
    public void Cold_targets_are_reported_apart_ranked_in_the_catalogue_and_among_the_cold_items()
    {
        var train = TestData.Sessions(0, (0, [1, 2, 3]), (1, [2, 3, 1]));
        var items = TestData.Items(3, 2, 2, 0, 0); // items 4 and 5: cold
        var test = TestData.Sessions(10, (0, [1, 4, 2]), (1, [3, 5]));
        var predictions = new List<Prediction>
        {
            new(0, 1, 4, 4, [1, 2, 3, 4, 5], ColdRank: 1),
            new(0, 2, 2, 1, [2, 1, 3, 4, 5]),
            new(1, 1, 5, 5, [1, 2, 3, 4, 5], ColdRank: 2),
        };
        var run = new ModelRun("m", 1, predictions, 0, 0);
        var options = new EvaluationOptions { Ks = [1, 4] };
        var report = Evaluator.Summarise(DatasetStats.Of(train, test, items), train, items, [run], options);
        var cold = report.Breakdowns.Single(b => b.Name == Evaluator.ColdItemsBreakdown);
        var byBucket = cold.Buckets.ToDictionary(b => b.Bucket, b => b.Models.Single().Metrics);
        Assert.Equal(0.5, byBucket["cold, full ranking"]["recall@4"]);
        Assert.Equal(0.0, byBucket["cold, full ranking"]["recall@1"]);
        Assert.Equal(0.5, byBucket["cold, among the 2 cold items"]["recall@1"]);
        Assert.Equal(0.75, byBucket["cold, among the 2 cold items"]["mrr@4"]);
        Assert.Equal(1.0, byBucket["warm"]["recall@1"]);
        Assert.Contains("## Cold items", EvaluationWriter.ToMarkdown(report));

        // The paper's split has no cold item: no such breakdown.
        var warm = Evaluator.Summarise(DatasetStats.Of(train, test, items), train, TestData.Items(3, 2, 2, 1, 1), [run], options);
        Assert.DoesNotContain(warm.Breakdowns, b => b.Name == Evaluator.ColdItemsBreakdown);
    }

    [Fact]
    public void An_rnn_with_metadata_ranks_within_the_evaluated_catalogue_and_scores_cold_items_from_metadata_alone()
    {
        TorchRuntime.EnsureLoaded();
        var rng = new Random(3);
        // Users 0..15 play one category each; items 9 and 10 are in the catalogue but no training session has them.
        var sessions = Enumerable.Range(0, 16).SelectMany(u => Enumerable.Range(0, 3).Select(_ =>
            (u, Enumerable.Range(0, 4).Select(_ => 1 + u % 2 + 2 * rng.Next(4)).ToArray()))).ToArray();
        var train = TestData.Sessions(0, sessions);
        var items = TestData.ItemsOf(train, 10);
        var test = TestData.Sessions(100, [.. Enumerable.Range(0, 16).Select(u => (u, new[] { 1 + u % 2, 9 + u % 2, 3 + u % 2 }))]);
        var settings = new HrnnSettings
        {
            Model = ModelKind.HrnnInit, SessionHidden = 8, UserHidden = 8, BatchSize = 4, Epochs = 2, Reminders = false,
            Loss = LossKind.CrossEntropy, Optimizer = OptimizerKind.Adam, LearningRate = 0.05, Seed = 5, Metadata = true, NSample = 8,
            Refit = false,
        };
        using var ranker = new RnnRanker(settings, train, null, Directory.CreateTempSubdirectory("cold").FullName, CPU)
        {
            Metadata = Metadata(),
        };
        var options = new EvaluationOptions { Ks = [1, 5] };
        var run = Evaluator.Run(ranker, 1, train, test, items, options, CancellationToken.None);

        // The model's table has item 11, which only metadata knows; the evaluation ranks the catalogue's 10 items.
        Assert.Equal(12, ranker.Model!.ItemTableSize);
        Assert.All(run.Predictions, p => Assert.InRange(p.Rank, 1, 10));
        Assert.All(run.Predictions, p => Assert.All(p.TopK, i => Assert.InRange(i, 1, 10)));
        var cold = run.Predictions.Where(p => p.Target is 9 or 10).ToList();
        Assert.NotEmpty(cold);
        Assert.All(cold, p => Assert.InRange(p.ColdRank!.Value, 1, 2));
        Assert.All(run.Predictions.Where(p => p.Target < 9), p => Assert.Null(p.ColdRank));
        // Items no training event has keep zero id rows: metadata alone represents them.
        using (no_grad())
            Assert.Equal(0f, ranker.Model.OutputTable.index_select(0, tensor(new long[] { 9, 10, 11 })).abs().sum().item<float>());
        Assert.NotNull(Evaluator.Summarise(DatasetStats.Of(train, test, items), train, items, [run], options));
    }
}
