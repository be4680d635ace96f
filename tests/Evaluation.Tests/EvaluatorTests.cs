using System.Text.Json;
using HrnnPipeline.Evaluation;
using HrnnPipeline.Evaluation.Baselines;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Tests.Evaluation;

public sealed class EvaluatorTests
{
    static readonly EvaluationOptions Options = new() { Ks = [1, 2] };

    // User 0 has 7 training sessions (long history), user 1 has 2 (short history).
    static readonly SessionDataset History = TestData.Sessions(0,
        [.. Enumerable.Range(0, 7).Select(_ => (0, new[] { 1, 2 })), (1, [3, 4]), (1, [5, 6])]);

    static readonly IdMap Items = TestData.Items(10, 20, 30, 40, 50, 60, 70, 80, 90, 100);
    static readonly DatasetStats Stats = new(2, 10, 9, 18, 2, 10);

    /// <summary>User 0 positions 1..6, user 1 positions 1..2 (and position 0 for both when asked), all at one rank.</summary>
    static ModelRun Run(string model, int seed, int rank, bool sessionStart = false)
    {
        var predictions = new List<Prediction>();
        foreach (var (user, last) in new[] { (0, 6), (1, 2) })
            for (int t = sessionStart ? 0 : 1; t <= last; t++)
                predictions.Add(new Prediction(user, t, 1, rank, [1, 2]));
        return new ModelRun(model, seed, predictions, TrainSeconds: seed, EventsPerSecond: 100 * seed);
    }

    static EvaluationReport Summarise(params ModelRun[] runs) =>
        Evaluator.Summarise(Stats, History, Items, runs, Options);

    [Fact]
    public void Seeds_aggregate_into_mean_and_standard_deviation_per_model()
    {
        var report = Summarise(Run("rnn", 1, rank: 1), Run("rnn", 2, rank: 2));
        var rnn = Assert.Single(report.Results);
        Assert.Equal(2, rnn.Seeds);
        Assert.Equal(8, rnn.Predictions);
        Assert.Equal(0.5, rnn.Metrics["recall@1"], 12);
        Assert.Equal(Math.Sqrt(0.5), rnn.Metrics["recall@1_std"], 12);
        Assert.Equal(0.75, rnn.Metrics["mrr@2"], 12);
        Assert.Equal(Math.Sqrt(0.125), rnn.Metrics["mrr@2_std"], 12);
        Assert.Equal(1.5, rnn.TrainSeconds);
        Assert.Equal(150, rnn.EventsPerSecond);
    }

    [Fact]
    public void Each_model_is_tested_against_rnn_on_seed_averaged_reciprocal_ranks()
    {
        var report = Summarise(Run("rnn", 1, rank: 1), Run("rnn", 2, rank: 2), Run("pop", 1, rank: 3));
        Assert.Null(report.Results.Single(r => r.Model == "rnn").VsReference);
        var vs = report.Results.Single(r => r.Model == "pop").VsReference!;
        // 8 pairs, all with difference 1/3 - 3/4: tied, so W+ = 0, variance (8*9*17 - 0.5*504)/24 = 40.5,
        // z = -18/sqrt(40.5) = -2*sqrt(2), p = erfc(2).
        Assert.Equal(8, vs.Test.Pairs);
        Assert.Equal(0.004677734981047265, vs.Test.PValue, 12);
        Assert.Equal("rnn", vs.Better);
        Assert.Equal(0.75, vs.ReferenceMeanReciprocalRank, 12);
    }

    [Fact]
    public void Breakdowns_split_by_history_length_and_position()
    {
        var report = Summarise(Run("rnn", 1, rank: 1));
        var history = report.Breakdowns.Single(b => b.Name == "history_length");
        Assert.Equal(["<=6", ">6"], history.Buckets.Select(b => b.Bucket));
        Assert.Equal([2.0, 6.0], history.Buckets.Select(b => b.Models.Single().Metrics["predictions"]));
        var position = report.Breakdowns.Single(b => b.Name == "position");
        Assert.Equal(["1-2", "3-4", "5+"], position.Buckets.Select(b => b.Bucket));
        Assert.Equal([4.0, 2.0, 2.0], position.Buckets.Select(b => b.Models.Single().Metrics["predictions"]));
        Assert.All(position.Buckets, b => Assert.Equal(1.0, b.Models.Single().Metrics["recall@1"]));
    }

    [Fact]
    public void Session_start_is_reported_apart_and_only_for_models_that_predict_it()
    {
        var report = Summarise(Run("rnn", 1, rank: 1), Run("pop", 1, rank: 2, sessionStart: true));
        var start = Assert.Single(report.SessionStart);
        Assert.Equal("pop", start.Model);
        Assert.Equal(2, start.Metrics["predictions"]);
        Assert.Equal(8, report.Results.Single(r => r.Model == "pop").Predictions); // position 0 stays out
    }

    [Fact]
    public void Run_times_the_fit_unless_the_caller_trained_the_model()
    {
        var train = TestData.Sessions(0, (0, [1, 2, 3]), (1, [2, 3, 4]));
        var test = TestData.Sessions(100, (0, [2, 3, 4]), (1, [1, 2]));
        var items = TestData.ItemsOf(train, 4);
        var timed = Evaluator.Run(new PopRanker(), 7, train, test, items, Options, CancellationToken.None);
        Assert.Equal(("pop", 7, 5), (timed.Model, timed.Seed, timed.Predictions.Count)); // 2 + 1 next, 2 starts
        Assert.True(timed.TrainSeconds > 0);
        Assert.Equal(train.EventCount / timed.TrainSeconds, timed.EventsPerSecond, 6);

        var trained = Evaluator.Run(new PopRanker(), 7, train, test, items, Options, CancellationToken.None,
            new TrainingStats(Seconds: 12.5, EventsPerSecond: 4000));
        Assert.Equal((12.5, 4000.0), (trained.TrainSeconds, trained.EventsPerSecond));
    }

    [Fact]
    public void The_baselines_use_the_papers_settings()
    {
        var all = BaselineRankers.All();
        Assert.Equal(["pop", "ppop", "item-knn", "sknn"], all.Select(r => r.Name));
        Assert.Equal(300, all.OfType<ItemKnnRanker>().Single().Neighbours);
        Assert.Equal(100, all.OfType<SessionKnnRanker>().Single().Neighbours);
    }

    [Fact]
    public void A_rank_outside_the_catalogue_is_a_one_line_error()
    {
        var bad = new ModelRun("rnn", 3, [new Prediction(0, 1, 1, 0, [])], 0, 0);
        var e = Assert.Throws<PipelineException>(() => Summarise(bad));
        Assert.Equal("evaluation: model rnn seed 3 ranked user 0 position 1 at 0, outside 1..10", e.Message);
    }

    [Fact]
    public void The_same_seed_twice_is_a_one_line_error()
    {
        var e = Assert.Throws<PipelineException>(() => Summarise(Run("pop", 1, 1), Run("pop", 1, 2)));
        Assert.Equal("evaluation: model pop has two runs with seed 1", e.Message);
    }

    [Fact]
    public void A_test_split_with_two_sessions_for_a_user_is_rejected()
    {
        var test = TestData.Sessions(100, (0, [1, 2]), (0, [2, 3]));
        var e = Assert.Throws<PipelineException>(() => Evaluator.CheckTestSplit(test, Items));
        Assert.Equal("test split: user 0 has 2 sessions; the protocol evaluates exactly one (the user's last)", e.Message);
    }

    [Fact]
    public void A_report_folder_that_is_a_file_is_a_one_line_error()
    {
        var file = Path.GetTempFileName();
        try
        {
            var e = Assert.Throws<PipelineException>(() =>
                EvaluationWriter.Write(file, Summarise(Run("rnn", 1, 1))));
            Assert.StartsWith($"{file}: cannot write the evaluation report", e.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }
}

[Collection(LastfmCollection.Name)]
public sealed class EvaluationOutputTests(LastfmFixture lastfm) : IDisposable
{
    readonly string _folder = Path.Combine(Path.GetTempPath(), "hrnn-eval-out-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }

    /// <summary>The four baselines plus a stand-in "rnn" with two seeds (item-knn's and sknn's predictions).</summary>
    EvaluationReport WriteReport()
    {
        var s = lastfm.Split;
        var runs = lastfm.Runs.Values.ToList();
        runs.Add(lastfm.Runs["item-knn"] with { Model = "rnn", Seed = 1 });
        runs.Add(lastfm.Runs["sknn"] with { Model = "rnn", Seed = 2 });
        var report = Evaluator.Summarise(DatasetStats.Of(s.Train, s.Test, s.Items), s.Train, s.Items, runs,
            LastfmFixture.Options);
        EvaluationWriter.Write(_folder, report);
        return report;
    }

    [Fact]
    public void Evaluation_json_has_every_key_the_checks_read()
    {
        WriteReport();
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(_folder, "evaluation.json")));
        var root = json.RootElement;

        var dataset = root.GetProperty("dataset");
        Assert.Equal(190, dataset.GetProperty("users").GetInt32());
        Assert.Equal(768, dataset.GetProperty("items").GetInt32());
        Assert.Equal(11392, dataset.GetProperty("train_sessions").GetInt32());
        Assert.Equal(78102, dataset.GetProperty("train_events").GetInt32());
        Assert.Equal(190, dataset.GetProperty("test_sessions").GetInt32());
        Assert.Equal(1011, dataset.GetProperty("test_events").GetInt32());

        var results = root.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(["pop", "ppop", "item-knn", "sknn", "rnn"], results.Select(r => r.GetProperty("model").GetString()));
        foreach (var r in results)
        {
            foreach (int k in new[] { 5, 10, 20 })
                foreach (var metric in new[] { "recall", "mrr", "precision", "ndcg" })
                {
                    Assert.True(r.TryGetProperty($"{metric}@{k}", out _), $"{metric}@{k}");
                    Assert.True(r.TryGetProperty($"{metric}@{k}_std", out _), $"{metric}@{k}_std");
                }
            foreach (var key in new[] { "seeds", "coverage@20", "mean_popularity@20", "predictions", "train_seconds", "events_per_second" })
                Assert.True(r.TryGetProperty(key, out _), key);
            Assert.Equal(821, r.GetProperty("predictions").GetInt32());
            bool isRnn = r.GetProperty("model").GetString() == "rnn";
            Assert.Equal(!isRnn, r.TryGetProperty("wilcoxon_vs_rnn", out var w));
            if (!isRnn)
            {
                Assert.InRange(w.GetProperty("p_value").GetDouble(), 0, 1);
                Assert.False(string.IsNullOrEmpty(w.GetProperty("better").GetString()));
            }
        }
        var rnn = results.Single(r => r.GetProperty("model").GetString() == "rnn");
        Assert.Equal(2, rnn.GetProperty("seeds").GetInt32());
        Assert.True(rnn.GetProperty("recall@5_std").GetDouble() > 0);

        var breakdowns = root.GetProperty("breakdowns");
        foreach (var bucket in new[] { "<=6", ">6" })
            Assert.True(breakdowns.GetProperty("history_length").GetProperty(bucket).GetProperty("sknn").TryGetProperty("recall@20", out _));
        foreach (var bucket in new[] { "1-2", "3-4", "5+" })
            Assert.True(breakdowns.GetProperty("position").GetProperty(bucket).GetProperty("pop").TryGetProperty("mrr@5", out _));
        var starts = root.GetProperty("session_start").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(["pop", "ppop"], starts);
    }

    [Fact]
    public void Report_shows_the_paper_table_and_embeds_charts_that_exist()
    {
        var report = WriteReport();
        var md = File.ReadAllText(Path.Combine(_folder, "report.md"));
        Assert.Contains("| model | Recall@5 | MRR@5 | Recall@10 | MRR@10 | Recall@20 | MRR@20 | p vs rnn (better) | seeds |", md);
        Assert.Contains("Full ranking over all 768 catalogue items", md);
        Assert.Contains("Conservative ties", md);
        Assert.Contains(" ± ", md); // the two-seed rnn row
        var itemKnn = report.Results.Single(r => r.Model == "item-knn");
        Assert.Contains($"| item-knn | {itemKnn.Metrics["recall@5"]:F4} |", md);
        var images = System.Text.RegularExpressions.Regex.Matches(md, @"!\[[^\]]*\]\(([^)]+)\)").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(["metrics.png", "history_length.png", "position.png"], images);
        foreach (var image in images)
        {
            var bytes = File.ReadAllBytes(Path.Combine(_folder, image));
            Assert.True(bytes.Length > 1000, image);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        }
        Assert.Empty(Directory.GetFiles(_folder, "*.tmp"));
    }
}
