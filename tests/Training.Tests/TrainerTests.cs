using Xunit.Abstractions;
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

    [Fact]
    public void Resuming_after_a_kill_reaches_the_same_model_as_an_uninterrupted_run()
    {
        TorchRuntime.EnsureLoaded();
        var (train, valid, items) = TestData.Generated(80, 150, seed: 5);
        var settings = Small(ModelKind.HrnnAll, epochs: 3);

        var straightDir = Directory.CreateTempSubdirectory("hrnn-straight").FullName;
        using var straight = new HrnnTrainer(settings, items, CPU, straightDir);
        var expected = straight.Train(train, valid, resume: false);

        var killedDir = Directory.CreateTempSubdirectory("hrnn-killed").FullName;
        using (var killed = new HrnnTrainer(settings, items, CPU, killedDir) { AfterCheckpoint = e => { if (e == 2) throw new SimulatedKill(); } })
            Assert.Throws<SimulatedKill>(() => killed.Train(train, valid, resume: false));
        using var resumed = new HrnnTrainer(settings, items, CPU, killedDir);
        var actual = resumed.Train(train, valid, resume: true);

        Assert.Equal(2, actual.ResumedFromEpoch);
        Assert.Equal(expected.Epochs.Select(e => e.Loss), actual.Epochs.Select(e => e.Loss));
        foreach (var ((name, a), (_, b)) in straight.Model.named_parameters().Zip(resumed.Model.named_parameters()))
            Assert.True(a.allclose(b, 1e-6, 1e-7), $"parameter {name} differs after resume");
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
