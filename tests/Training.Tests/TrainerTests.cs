using Xunit.Abstractions;
using HrnnPipeline.Features;
using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Tests.Training;

public sealed class TrainerTests(ITestOutputHelper output)
{
    static HrnnSettings Small(ModelKind kind, int epochs) => new()
    {
        Model = kind, SessionHidden = 32, UserHidden = 32, BatchSize = 32, Epochs = epochs, Loss = LossKind.CrossEntropy,
        Optimizer = OptimizerKind.Adam, LearningRate = 0.01, NSample = 32, Patience = 0, DropoutSession = 0.1,
        DropoutInit = 0.1, DropoutUser = 0.1, Seed = 3,
    };

    sealed class SimulatedKill : Exception;

    /// <summary>One uninterrupted run, and one killed after epoch 2's checkpoint and resumed from it.</summary>
    static (HrnnTrainer Straight, TrainResult Expected, HrnnTrainer Resumed, TrainResult Actual) StraightAndResumed(
        HrnnSettings settings, SessionDataset train, SessionDataset valid, IdMap items)
    {
        var straight = new HrnnTrainer(settings, items, CPU, Directory.CreateTempSubdirectory("hrnn-straight").FullName);
        var expected = straight.Train(train, valid, resume: false);
        var killedDir = Directory.CreateTempSubdirectory("hrnn-killed").FullName;
        using (var killed = new HrnnTrainer(settings, items, CPU, killedDir) { AfterCheckpoint = e => { if (e == 2) throw new SimulatedKill(); } })
            Assert.Throws<SimulatedKill>(() => killed.Train(train, valid, resume: false));
        var resumed = new HrnnTrainer(settings, items, CPU, killedDir);
        return (straight, expected, resumed, resumed.Train(train, valid, resume: true));
    }

    [Fact]
    public void Resuming_after_a_kill_reaches_the_same_model_as_an_uninterrupted_run()
    {
        TorchRuntime.EnsureLoaded();
        var (train, valid, items) = TestData.Generated(80, 150, seed: 5);
        var settings = Small(ModelKind.HrnnAll, epochs: 3);

        var (straight, expected, resumed, actual) = StraightAndResumed(settings, train, valid, items);
        using var _ = straight;
        using var __ = resumed;

        Assert.Equal(2, actual.ResumedFromEpoch);
        Assert.Equal(expected.Epochs.Select(e => e.Loss), actual.Epochs.Select(e => e.Loss));
        foreach (var ((name, a), (_, b)) in straight.Model.named_parameters().Zip(resumed.Model.named_parameters()))
            Assert.True(a.allclose(b, 1e-6, 1e-7), $"parameter {name} differs after resume");
    }

    [Theory]
    [InlineData(true, 1)]
    [InlineData(false, 4)]
    [InlineData(true, 4)]
    public void Resuming_with_burn_in_and_a_longer_bptt_window_reaches_the_same_model_too(bool burnIn, int window)
    {
        // Split users keep their parts' end states in the checkpoint, so a resumed run starts the next epoch's later
        // parts from the same burn-in states as the uninterrupted one.
        TorchRuntime.EnsureLoaded();
        var (train, valid, items) = TestData.Generated(80, 150, seed: 5);
        var settings = Small(ModelKind.HrnnInit, epochs: 3) with { MaxSessionsPerSlot = 2, BurnIn = burnIn, BpttSteps = window };
        var (straight, expected, resumed, actual) = StraightAndResumed(settings, train, valid, items);
        straight.Dispose();
        resumed.Dispose();
        Assert.Equal(expected.Epochs.Select(e => e.Loss), actual.Epochs.Select(e => e.Loss));

        if (!burnIn) return;
        // And the burn-in is used: the same training without it starts every later part from zero and ends elsewhere.
        using var fresh = new HrnnTrainer(settings with { BurnIn = false }, items, CPU, Directory.CreateTempSubdirectory("hrnn-burn-off").FullName);
        var without = fresh.Train(train, valid, resume: false);
        Assert.NotEqual(expected.Epochs[^1].Loss, without.Epochs[^1].Loss);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void The_user_gru_learns_from_predictions_after_the_first_of_a_session_only_with_a_longer_bptt_window(int window)
    {
        // Sessions [x, y, z] whose first target y carries weight 0 (a soft label of 0): only the second target trains.
        // With a window of one step the state is detached before that prediction, so the user GRU and W_init, which
        // reach it only through s_0, get no gradient and never move; with three steps they do.
        TorchRuntime.EnsureLoaded();
        var rng = new Random(4);
        var users = Enumerable.Range(0, 40).Select(u => Enumerable.Range(0, 6)
            .Select(_ => new[] { 1 + rng.Next(10), 11 + rng.Next(10), 21 + u % 10 }).ToArray()).ToArray();
        var fit = TestData.FromLists(users);
        var values = Enumerable.Range(0, fit.EventCount).Select(e => e % 3 == 1 ? 0f : 1f).ToArray();
        var settings = Small(ModelKind.HrnnInit, epochs: 2) with { Outcome = OutcomeKind.Soft, BpttSteps = window, Reminders = false };
        using var trainer = new HrnnTrainer(settings, TestData.Items(30), CPU, Directory.CreateTempSubdirectory("hrnn-bptt").FullName);
        var before = UserLevel(trainer.Model);
        trainer.Train(fit.WithValues(values), null, resume: false);
        var after = UserLevel(trainer.Model);
        bool moved = before.Zip(after).Any(p => !p.First.allclose(p.Second, 0, 0));
        Assert.Equal(window > 1, moved);
        foreach (var t in before.Concat(after)) t.Dispose();
    }

    static List<Tensor> UserLevel(HrnnModel model) =>
        [.. model.named_parameters().Where(p => p.name.Contains("user", StringComparison.OrdinalIgnoreCase) || p.name.StartsWith("_init"))
            .Select(p => p.parameter.detach().clone())];

    [Fact]
    public void Refit_learns_from_the_sessions_early_stopping_held_out_for_the_chosen_epochs()
    {
        // Every user's extra latest session plays 149 -> 150, a pair the fit and valid splits never show: the refit
        // model, trained on everything for the epochs validation chose, ranks 150 after 149; the held-out model cannot.
        TorchRuntime.EnsureLoaded();
        var (train, _, items) = TestData.Generated(80, 150, seed: 5);
        var sessions = Enumerable.Range(0, train.UserCount).Select(u => Enumerable.Range(train.UserStarts[u], train.UserStarts[u + 1] - train.UserStarts[u])
            .Select(s => train.Items[train.SessionStarts[s]..train.SessionStarts[s + 1]]).Where(x => !x.Contains(149)).ToArray()).Where(ss => ss.Length >= 2).ToArray();
        var fit = TestData.FromLists([.. sessions.Select(ss => ss[..^1])]);
        var valid = TestData.FromLists([.. sessions.Select(ss => new[] { ss[^1] })]);
        var all = TestData.FromLists([.. sessions.Select(ss => ss.Append([149, 150, 149, 150]).ToArray())]);
        var settings = Small(ModelKind.HrnnInit, epochs: 3) with { Refit = true, Reminders = false };
        using var trained = HrnnTrainer.TrainAndRefit(settings, items, fit, valid, items, all, CPU,
            Directory.CreateTempSubdirectory("hrnn-refit").FullName, resume: false);
        Assert.NotNull(trained.HeldOut);
        Assert.NotNull(trained.Result.Refit);
        Assert.Equal(trained.Result.BestEpoch, trained.Result.Refit.Epochs.Count);
        double refit = MeanRank(trained.Model, all), heldOut = MeanRank(trained.HeldOut.Model, all);
        output.WriteLine($"rank of 150 after 149: refit {refit:F1}, held out {heldOut:F1}");
        Assert.True(refit <= 3, $"refit ranks 150 at {refit:F1}");
        Assert.True(heldOut > 10, $"held-out model ranks 150 at {heldOut:F1}");
    }

    /// <summary>Mean rank of item 150 after 149 in a test session [149, 150] after each user's whole history.</summary>
    static double MeanRank(HrnnModel model, SessionDataset history)
    {
        var test = TestData.FromLists([.. Enumerable.Range(0, history.UserCount).Select(_ => new[] { new[] { 149, 150 } })]);
        var (data, evaluated) = UserHistories.Join(history, test);
        var ranks = new List<long>();
        new HrnnInference(model, CPU).Run(new HrnnInference.Request(data, 64, 1) { EvalSessions = evaluated }, rows =>
        {
            for (int i = 0; i < rows.Rank.Length; i++) if (rows.Position[i] == 1) ranks.Add(rows.Rank[i]);
        }, null);
        return ranks.Average();
    }

    [Fact]
    public void Training_loss_falls_and_validation_is_measured_each_epoch()
    {
        TorchRuntime.EnsureLoaded();
        var (train, valid, items) = TestData.Generated(120, 200, seed: 2);
        using var trainer = new HrnnTrainer(Small(ModelKind.HrnnInit, epochs: 3) with { Reminders = false }, items, CPU,
            Directory.CreateTempSubdirectory("hrnn-loss").FullName);
        var result = trainer.Train(train, valid, resume: false);
        Assert.Equal(3, result.Epochs.Count);
        Assert.True(result.Epochs[^1].Loss < result.Epochs[0].Loss);

        // The best epoch's figure is the kept model's MRR@20 on the validation sessions, recomputed here from the
        // ranks of every next-item target, and it beats ranking by training popularity on the same targets.
        var (data, evaluated) = UserHistories.Join(train, valid);
        var ranks = new List<long>();
        var targets = new List<int>();
        new HrnnInference(trainer.Model, CPU).Run(new HrnnInference.Request(data, 64, 1) { EvalSessions = evaluated }, rows =>
        {
            for (int i = 0; i < rows.Rank.Length; i++)
                if (rows.Position[i] > 0) { ranks.Add(rows.Rank[i]); targets.Add(rows.Target[i]); }
        }, null);
        static double Mrr(IEnumerable<long> ranks) => ranks.Average(r => r <= 20 ? 1.0 / r : 0);
        var best = result.Epochs.Single(e => e.Epoch == result.BestEpoch);
        Assert.Equal(Mrr(ranks), best.ValidMrr!.Value, 1e-9);
        var support = new long[items.TableSize];
        foreach (var item in train.Items) support[item]++;
        double pop = Mrr(targets.Select(t => (long)support.Skip(1).Count(c => c >= support[t])));
        Assert.True(best.ValidMrr > pop + 0.02, $"valid MRR@20 {best.ValidMrr:F4}, popularity {pop:F4}");
    }

    [Fact]
    public void Validation_bootstraps_each_user_from_their_last_n_fit_sessions_only()
    {
        // Each epoch's validation figures are those of running only each user's last ValidationHistorySessions fit
        // sessions before their validation sessions, and the earlier sessions would have changed them.
        TorchRuntime.EnsureLoaded();
        var (train, valid, items) = TestData.Generated(60, 120, seed: 4);
        const int last = 2;
        Assert.Contains(Enumerable.Range(0, train.UserCount), u => train.UserStarts[u + 1] - train.UserStarts[u] > last);
        var settings = Small(ModelKind.HrnnInit, epochs: 1) with { Reminders = false, ValidationHistorySessions = last };
        using var trainer = new HrnnTrainer(settings, items, CPU, Directory.CreateTempSubdirectory("hrnn-valid-last").FullName);
        var epoch = trainer.Train(train, valid, resume: false).Epochs.Single();

        var lastSessions = TestData.FromLists([.. Enumerable.Range(0, train.UserCount).Select(u =>
            Enumerable.Range(train.UserStarts[u], train.UserStarts[u + 1] - train.UserStarts[u]).TakeLast(last)
                .Select(s => train.SessionItems(s).ToArray()).ToArray())]);
        var (bounded, boundedMrr) = ValidationFigures(trainer.Model, lastSessions, valid, settings.BatchSize);
        var (whole, wholeMrr) = ValidationFigures(trainer.Model, train, valid, settings.BatchSize);
        output.WriteLine($"valid loss: trainer {epoch.ValidLoss:F6}, last {last} sessions {bounded:F6}, whole history {whole:F6}");
        Assert.Equal(bounded, epoch.ValidLoss!.Value, 1e-9);
        Assert.Equal(boundedMrr, epoch.ValidMrr!.Value, 1e-9);
        Assert.True(Math.Abs(whole - bounded) > 1e-4, $"the earlier sessions changed nothing ({whole:F6})");
    }

    /// <summary>Validation's loss and MRR@20 over the next-item targets of <paramref name="valid"/> after each user's
    /// <paramref name="history"/>, at the batch width validation runs.</summary>
    static (double Loss, double Mrr) ValidationFigures(HrnnModel model, SessionDataset history, SessionDataset valid, int batchSize)
    {
        var (data, evaluated) = UserHistories.Join(history, valid);
        double loss = 0, rr = 0;
        int n = 0;
        int lossRows = 0;
        new HrnnInference(model, CPU).Run(new HrnnInference.Request(data, Math.Max(batchSize, 256), 1) { EvalSessions = evaluated }, rows =>
        {
            for (int i = 0; i < rows.Rank.Length; i++)
            {
                if (rows.Position[i] == 0) continue;
                n++;
                if (rows.Rank[i] <= 20) rr += 1.0 / rows.Rank[i];
                // Validation's loss: every ValidationLossUserStride-th user's predictions.
                if (rows.UserBlock[i] % HrnnTrainer.ValidationLossUserStride(data.UserCount) != 0) continue;
                lossRows++;
                loss += rows.LogLoss[i];
            }
        }, null);
        return (loss / lossRows, rr / n);
    }

    [Fact]
    public void Joining_with_a_bound_keeps_each_users_last_history_sessions_and_every_later_one()
    {
        var history = TestData.FromLists([[[1, 2], [3, 4], [5, 6]], [[7, 8]]]);
        var later = TestData.FromLists([[[9, 10]], [[11, 12], [13, 14]]]);
        var (data, evaluated) = UserHistories.Join(history, later, historySessions: 2);
        Assert.Equal([3, 4, 5, 6, 9, 10, 7, 8, 11, 12, 13, 14], data.Items);
        Assert.Equal([false, false, true, false, true, true], evaluated);
        Assert.Equal([0, 3, 6], data.UserStarts);
        Assert.Equal(UserHistories.Join(history, later).Data.Items, UserHistories.Join(history, later, historySessions: 0).Data.Items);
    }

    /// <summary>The start objective trains only the start head, so with it or without it the next-item training is the
    /// same: the logged losses must be too (they are the figures rnn and hrnn compare on), and the start loss is logged
    /// apart.</summary>
    [Fact]
    public void The_logged_loss_is_the_next_item_loss_and_the_start_loss_is_logged_apart()
    {
        TorchRuntime.EnsureLoaded();
        var (train, valid, items) = TestData.Generated(80, 150, seed: 6);
        EpochResult[] Epochs(HrnnSettings settings)
        {
            using var trainer = new HrnnTrainer(settings, items, CPU, Directory.CreateTempSubdirectory("hrnn-start-loss").FullName);
            return [.. trainer.Train(train, valid, resume: false).Epochs];
        }
        var withStart = Epochs(Small(ModelKind.HrnnInit, epochs: 2) with { SessionStartWeight = 1 });
        var withoutStart = Epochs(Small(ModelKind.HrnnInit, epochs: 2) with { SessionStartWeight = 0 });
        var rnn = Epochs(Small(ModelKind.Rnn, epochs: 2));

        Assert.Equal(withoutStart.Select(e => e.Loss), withStart.Select(e => e.Loss));
        // Validation likewise: its loss is the next-item one, so the trained start head changes nothing there.
        Assert.Equal(withoutStart.Select(e => e.ValidLoss), withStart.Select(e => e.ValidLoss));
        Assert.All(withStart, e => Assert.True(e.StartLoss > 0, $"epoch {e.Epoch}: start loss {e.StartLoss}"));
        Assert.All(withoutStart, e => Assert.Null(e.StartLoss));
        Assert.All(rnn, e => { Assert.Null(e.StartLoss); Assert.True(e.Loss > 0); });
    }

    [Fact]
    public void Native_memory_stays_flat_across_epochs()
    {
        TorchRuntime.EnsureLoaded();
        var (train, valid, items) = TestData.Generated(300, 2000, seed: 4);
        var resident = new Dictionary<int, long>();
        using var trainer = new HrnnTrainer(Small(ModelKind.HrnnAll, epochs: 6) with { BatchSize = 16 }, items, CPU,
            Directory.CreateTempSubdirectory("hrnn-memory").FullName)
        {
            AfterCheckpoint = epoch =>
            {
                // Managed handles to native tensors are released by finalizers; collect them so what remains is
                // what the trainer still holds.
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
                using var self = System.Diagnostics.Process.GetCurrentProcess();
                resident[epoch] = self.WorkingSet64;
            },
        };
        trainer.Train(train, valid, resume: false);
        double growth = (double)resident[5] / resident[1] - 1;
        output.WriteLine(string.Join(", ", resident.Select(kv => $"epoch {kv.Key}: {kv.Value >> 20} MiB")));
        Assert.True(growth < 0.10, $"resident memory grew {growth:P1} from epoch 1 ({resident[1] >> 20} MiB) to epoch 5 ({resident[5] >> 20} MiB)");
    }

    /// <summary>Validation samples whole users (<see cref="HrnnSettings.ValidationUsers"/>) with this.</summary>
    [Fact]
    public void A_subset_of_users_keeps_their_sessions_whole_and_in_order()
    {
        var data = TestData.FromLists([[[1, 2], [3, 4, 5]], [[6, 7]], [[8, 9], [1, 2]]]);
        var picked = data.OfUsers([2, 0]);
        Assert.Equal([2, 0], picked.Users);
        Assert.Equal([8, 9, 1, 2, 1, 2, 3, 4, 5], picked.Items);
        Assert.Equal([0, 2, 4, 6, 9], picked.SessionStarts);
    }
}
