using Xunit.Abstractions;
using HrnnPipeline.Features;
using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Tests.Training;

/// <summary>hrnn-init and rnn trained once on a generated log with strong per-user tastes (a share of each user's
/// clicks returns to a few favourites, the rest mostly comes from the user's own taste groups), for the tests that the
/// user level learns what a session alone cannot know.</summary>
public sealed class TasteLog : IDisposable
{
    public const double FavouriteShare = 0.4;
    /// <summary>Each user's sessions before the test session.</summary>
    public SessionDataset Train { get; }
    public SessionDataset Test { get; }
    public IdMap Items { get; }
    /// <summary>hrnn-init and rnn trained on <see cref="Train"/> without validation (the model alone).</summary>
    public HrnnModel Hrnn { get; }
    public HrnnModel Rnn { get; }
    /// <summary>hrnn-init as the pipeline ships it: trained on all but each user's last session before the test, which
    /// validates (early stopping and the reminder mix).</summary>
    public HrnnModel Shipped { get; }
    readonly List<HrnnTrainer> _trainers = [];

    public TasteLog()
    {
        TorchRuntime.EnsureLoaded();
        (Train, Test, Items) = TestData.Generated(1000, 400, seed: 11, tasteStrength: 0.95, favouriteShare: FavouriteShare);
        var sessions = Enumerable.Range(0, Train.UserCount).Select(u => Enumerable.Range(Train.UserStarts[u], Train.UserStarts[u + 1] - Train.UserStarts[u])
            .Select(s => Train.Items[Train.SessionStarts[s]..Train.SessionStarts[s + 1]]).ToArray()).ToArray();
        var fit = TestData.FromLists([.. sessions.Select(ss => ss[..^1])]);
        var valid = TestData.FromLists([.. sessions.Select(ss => new[] { ss[^1] })]);
        Hrnn = Trained(ModelKind.HrnnInit, Train, null);
        Rnn = Trained(ModelKind.Rnn, Train, null);
        Shipped = Trained(ModelKind.HrnnInit, fit, valid);
    }

    HrnnModel Trained(ModelKind kind, SessionDataset fit, SessionDataset? valid)
    {
        var settings = new HrnnSettings
        {
            Model = kind, SessionHidden = 48, UserHidden = 48, BatchSize = 32, Epochs = 4, Loss = LossKind.CrossEntropy,
            Optimizer = OptimizerKind.Adagrad, LearningRate = 0.1, NSample = 64, Patience = 0, DropoutSession = 0.1, Seed = 1,
        };
        var trainer = new HrnnTrainer(settings, Items, CPU, Directory.CreateTempSubdirectory("hrnn-p").FullName);
        _trainers.Add(trainer);
        trainer.Train(fit, valid, resume: false);
        return trainer.Model;
    }

    /// <summary>Per test prediction (user block, position): whether the target ranks in the top 10, full ranking;
    /// with the model's reminder mix, if it has one.</summary>
    public Dictionary<(int User, int Position), bool> Hits(HrnnModel model)
    {
        var (data, evaluated) = UserHistories.Join(Train, Test);
        var hits = new Dictionary<(int, int), bool>();
        new HrnnInference(model, CPU).Run(new HrnnInference.Request(data, 64, 10) { EvalSessions = evaluated }, rows =>
        {
            for (int i = 0; i < rows.Rank.Length; i++) hits[(rows.UserBlock[i], rows.Position[i])] = rows.Rank[i] <= 10;
        }, null);
        return hits;
    }

    public void Dispose()
    {
        foreach (var t in _trainers) t.Dispose();
    }
}

public sealed class PersonalisationTests(TasteLog log, ITestOutputHelper output) : IClassFixture<TasteLog>
{
    [Fact]
    public void Hrnn_beats_a_session_only_rnn_on_the_first_events_of_a_session_when_users_have_strong_tastes()
    {
        var hrnn = log.Hits(log.Hrnn);
        var rnn = log.Hits(log.Rnn);
        var early = rnn.Keys.Where(k => k.Position is 1 or 2).ToList();
        // Paired on the same predictions (McNemar): where exactly one of the two models hits, hrnn must hit clearly more
        // often. A user level that learns nothing gives z around 0.
        int hrnnOnly = early.Count(k => hrnn[k] && !rnn[k]), rnnOnly = early.Count(k => rnn[k] && !hrnn[k]);
        double z = (hrnnOnly - rnnOnly) / Math.Sqrt(Math.Max(1, hrnnOnly + rnnOnly));
        double Recall(Dictionary<(int, int), bool> hits) => early.Average(k => hits[k] ? 1.0 : 0);
        output.WriteLine($"recall@10 at positions 1-2 over {early.Count}: hrnn {Recall(hrnn):F3}, rnn {Recall(rnn):F3}; hrnn only {hrnnOnly}, rnn only {rnnOnly}, z {z:F2}");
        Assert.True(z > 2, $"hrnn-init against rnn at positions 1-2: hrnn only {hrnnOnly}, rnn only {rnnOnly} (z = {z:F2})");
    }

    /// <summary>The published list comes from s_0 alone (no click of the new session yet), mixed with the user's history
    /// as validation chose: it must know the user better than the most popular items do.</summary>
    [Fact]
    public void The_session_start_list_beats_popularity_when_users_have_strong_tastes()
    {
        var starts = log.Hits(log.Shipped).Where(h => h.Key.Position == 0).ToList();
        double alone = log.Hits(log.Hrnn).Where(h => h.Key.Position == 0).Average(h => h.Value ? 1.0 : 0);
        var support = new long[log.Items.TableSize];
        foreach (var item in log.Train.Items) support[item]++;
        var top10 = Enumerable.Range(1, log.Items.TableSize - 1).OrderByDescending(i => support[i]).Take(10).ToHashSet();
        var firstItems = Enumerable.Range(0, log.Test.UserCount).ToDictionary(u => u, u => log.Test.Items[log.Test.SessionStarts[log.Test.UserStarts[u]]]);
        double model = starts.Average(h => h.Value ? 1.0 : 0);
        double pop = starts.Average(h => top10.Contains(firstItems[h.Key.User]) ? 1.0 : 0);
        output.WriteLine($"session-start recall@10 over {starts.Count}: hrnn-init {model:F3} ({log.Shipped.Reminders}; without a mix {alone:F3}), pop {pop:F3}");
        Assert.False(log.Shipped.Reminders.IsNone);
        Assert.True(starts.Count > 900);
        Assert.True(model > pop + 0.03, $"session-start recall@10: hrnn-init {model:F3}, pop {pop:F3}");
    }
}
