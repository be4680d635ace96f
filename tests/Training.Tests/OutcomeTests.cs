using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Tests.Training;

/// <summary>The outcome modes: each mode's objective on a hand-made batch (computed here independently), the outcome
/// travelling with its target through the batcher, and training with values end to end.</summary>
public sealed class OutcomeTests
{
    // Three next-item rows: positives on the diagonal (as the trainer lays them out), every other column a negative.
    static readonly float[,] S = { { 2.0f, 0.5f, -1.0f }, { 0.3f, -0.2f, 1.2f }, { -0.7f, 0.1f, 0.4f } };
    // The targets' values (row 1 is a dislike) and the value head's raw output for each row's target.
    static readonly float[] V = [1f, 0f, 0.6f];
    static readonly float[] Raw = [0.3f, -0.4f, 0.9f];
    const double HeadWeight = 0.7;

    static double CrossEntropy(int i) => -Math.Log(Math.Exp(S[i, i]) / Enumerable.Range(0, 3).Sum(j => Math.Exp(S[i, j])));
    static double Sig(double x) => 1 / (1 + Math.Exp(-x));

    /// <summary>The objective the trainer builds for one step: the ranking loss with each row weighted as the mode says,
    /// plus the value head's loss times its weight for the modes with a head.</summary>
    static double Objective(HrnnSettings s)
    {
        TorchRuntime.EnsureLoaded();
        using var scores = tensor(S);
        using var negatives = ones(3, 3, dtype: ScalarType.Bool).logical_and(eye(3, dtype: ScalarType.Bool).logical_not());
        using var weights = tensor(V.Select(v => OutcomeTraining.RankingWeight(s, v)).ToArray());
        using var reg = tensor(1f);
        using var ranking = Losses.Compute(LossKind.CrossEntropy, scores, negatives, weights, reg);
        double total = ranking.item<float>();
        if (s.HasOutcomeHead)
        {
            using var head = OutcomeTraining.HeadLoss(s, tensor(Raw), tensor(V.Select(v => OutcomeTraining.HeadTarget(s, v)).ToArray()), ones(3));
            total += s.OutcomeWeight * head.item<float>();
        }
        return total;
    }

    [Fact]
    public void Positive_mode_counts_every_target_once_whatever_its_value()
    {
        double expected = Enumerable.Range(0, 3).Average(CrossEntropy);
        Assert.Equal(expected, Objective(new HrnnSettings()), 5);
    }

    [Fact]
    public void Binary_mode_ranks_only_liked_targets_and_adds_the_heads_cross_entropy()
    {
        double ranking = (CrossEntropy(0) + CrossEntropy(2)) / 2;
        double[] label = [1, 0, 1];
        double bce = Enumerable.Range(0, 3).Average(i => -(label[i] * Math.Log(Sig(Raw[i])) + (1 - label[i]) * Math.Log(1 - Sig(Raw[i]))));
        Assert.Equal(ranking + HeadWeight * bce,
            Objective(new HrnnSettings { Outcome = OutcomeKind.Binary, OutcomeWeight = HeadWeight }), 5);
    }

    [Fact]
    public void Soft_mode_weights_each_target_by_its_value()
    {
        double expected = (1.0 * CrossEntropy(0) + 0.0 * CrossEntropy(1) + 0.6 * CrossEntropy(2)) / 1.6;
        Assert.Equal(expected, Objective(new HrnnSettings { Outcome = OutcomeKind.Soft }), 5);
    }

    [Fact]
    public void Regression_mode_adds_the_squared_error_or_huber_loss_of_the_predicted_value()
    {
        double ranking = (CrossEntropy(0) + CrossEntropy(2)) / 2;
        double mse = Enumerable.Range(0, 3).Average(i => Math.Pow(Raw[i] - V[i], 2));
        Assert.Equal(ranking + HeadWeight * mse,
            Objective(new HrnnSettings { Outcome = OutcomeKind.Regression, OutcomeWeight = HeadWeight }), 5);
        // Huber with delta 1: quadratic below 1, linear beyond; these errors are all below 1 but row 1 is 0.4.
        double huber = Enumerable.Range(0, 3).Average(i =>
        {
            double d = Math.Abs(Raw[i] - V[i]);
            return d <= 1 ? 0.5 * d * d : d - 0.5;
        });
        Assert.Equal(ranking + HeadWeight * huber,
            Objective(new HrnnSettings { Outcome = OutcomeKind.Regression, OutcomeWeight = HeadWeight, OutcomeLoss = OutcomeLossKind.Huber }), 5);
    }

    [Fact]
    public void Event_weights_make_a_purchase_count_as_much_as_its_value()
    {
        float[] values = [1f, 5f, 1f]; // view, purchase, view
        var s = new HrnnSettings { EventWeights = true };
        var w = values.Select(v => (double)OutcomeTraining.RankingWeight(s, v)).ToArray();
        Assert.Equal([1.0, 5.0, 1.0], w);
        TorchRuntime.EnsureLoaded();
        using var loss = Losses.Compute(LossKind.CrossEntropy, tensor(S),
            ones(3, 3, dtype: ScalarType.Bool).logical_and(eye(3, dtype: ScalarType.Bool).logical_not()),
            tensor(w.Select(x => (float)x).ToArray()), tensor(1f));
        Assert.Equal((CrossEntropy(0) + 5 * CrossEntropy(1) + CrossEntropy(2)) / 7, loss.item<float>(), 5);
    }

    /// <summary>User 0's session 1, 2, 3 with item 2 disliked (value 0): item 2 is the input of the step that predicts
    /// 3, so the GRU reads it, and the step predicting it carries its 0, which no mode but positive trains as a positive.</summary>
    [Fact]
    public void A_zero_outcome_event_is_input_but_never_a_positive_target()
    {
        var data = TestData.FromLists([[[1, 2, 3], [4, 5]]]).WithValues([1f, 0f, 1f, 1f, 0.5f]);
        var batcher = new UserParallelBatcher(data, ModelKind.HrnnInit, batchSize: 1, userOrder: [0]);
        var rows = batcher.Chunks(16).SelectMany(c => Enumerable.Range(0, c.Steps).Select(t => (c.Input[t], c.Target[t], c.Outcome[t]))).ToList();

        Assert.Contains(rows, r => r.Item1 == 2 && r.Item2 == 3);
        var toDisliked = Assert.Single(rows, r => r.Item2 == 2);
        Assert.Equal(0f, toDisliked.Item3);
        Assert.Equal(0.5f, Assert.Single(rows, r => r.Item2 == 5).Item3);
        foreach (var mode in new[] { OutcomeKind.Binary, OutcomeKind.Soft, OutcomeKind.Regression })
            Assert.Equal(0f, OutcomeTraining.RankingWeight(new HrnnSettings { Outcome = mode }, toDisliked.Item3));
        Assert.Equal(1f, OutcomeTraining.RankingWeight(new HrnnSettings(), toDisliked.Item3));
    }

    /// <summary>Regression predicts relative to the user's mean value before the predicted event; a user's first event
    /// and a user without events start from the mean over all events, the next session from the user's whole mean.</summary>
    [Fact]
    public void The_regression_baseline_is_the_users_mean_before_each_event()
    {
        var data = TestData.FromLists([[[1, 2], [3]], [[4, 5]]]).WithValues([1f, 0f, 0.5f, 0.2f, 0.6f]);
        var baseline = new OutcomeBaseline(data);
        float global = (1f + 0f + 0.5f + 0.2f + 0.6f) / 5;
        Assert.Equal([global, 1f, 0.5f, global, 0.2f], Enumerable.Range(0, 5).Select(baseline.Before), new ToleranceComparer());
        Assert.Equal(0.5f, baseline.All(0), 5);
        Assert.Equal(0.4f, baseline.All(1), 5);
    }

    sealed class ToleranceComparer : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) < 1e-6;
        public int GetHashCode(float obj) => 0;
    }

    static HrnnSettings Small(OutcomeKind mode) => new()
    {
        Model = ModelKind.HrnnInit, SessionHidden = 16, UserHidden = 16, BatchSize = 16, Epochs = 2, Patience = 0,
        Optimizer = OptimizerKind.Adam, LearningRate = 0.01, Seed = 4, Outcome = mode, Reminders = false,
    };

    /// <summary>Values of a generated log: every item whose index is a multiple of 3 is disliked.</summary>
    static (SessionDataset Train, SessionDataset Valid, IdMap Items) WithDislikes()
    {
        var (train, valid, items) = TestData.Generated(60, 90, seed: 8);
        float[] Values(SessionDataset d) => d.Items.Select(i => i % 3 == 0 ? 0f : 0.2f * (1 + i % 5)).ToArray();
        return (train.WithValues(Values(train)), valid.WithValues(Values(valid)), items);
    }

    [Fact]
    public void Positive_mode_trains_the_same_with_values_or_without()
    {
        TorchRuntime.EnsureLoaded();
        var (train, valid, items) = WithDislikes();
        using var plain = new HrnnTrainer(Small(OutcomeKind.Positive), items, CPU, Directory.CreateTempSubdirectory("outcome-plain").FullName);
        var expected = plain.Train(train.WithValues(null), valid.WithValues(null), resume: false);
        using var valued = new HrnnTrainer(Small(OutcomeKind.Positive), items, CPU, Directory.CreateTempSubdirectory("outcome-valued").FullName);
        var actual = valued.Train(train, valid, resume: false);
        Assert.Equal(expected.Epochs.Select(e => e.Loss), actual.Epochs.Select(e => e.Loss));
        Assert.Null(actual.Outcome);
    }

    [Theory]
    [InlineData(OutcomeKind.Binary)]
    [InlineData(OutcomeKind.Regression)]
    public void Modes_with_a_value_head_count_the_negative_targets_and_log_the_heads_loss(OutcomeKind mode)
    {
        TorchRuntime.EnsureLoaded();
        var (train, valid, items) = WithDislikes();
        // Next-item targets: every event but the first of its session.
        long negatives = 0, targets = 0;
        for (int s = 0; s < train.SessionCount; s++)
            for (int e = train.SessionStarts[s] + 1; e < train.SessionStarts[s + 1]; e++)
            {
                targets++;
                if (train.Values![e] == 0) negatives++;
            }
        using var trainer = new HrnnTrainer(Small(mode), items, CPU, Directory.CreateTempSubdirectory("outcome-head").FullName);
        var result = trainer.Train(train, valid, resume: false);
        Assert.NotNull(result.Outcome);
        Assert.Equal(negatives, result.Outcome.NegativeTargets);
        Assert.Equal(targets - negatives, result.Outcome.PositiveTargets);
        Assert.All(result.Epochs, e => Assert.True(e.OutcomeLoss is > 0 and < 10, $"value loss {e.OutcomeLoss}"));
        Assert.True(result.Epochs[^1].OutcomeLoss < result.Epochs[0].OutcomeLoss);
    }

    [Fact]
    public void Soft_labels_outside_zero_to_one_are_refused_naming_the_value()
    {
        TorchRuntime.EnsureLoaded();
        var (train, valid, items) = TestData.Generated(30, 60, seed: 1);
        var values = Enumerable.Repeat(1f, train.EventCount).ToArray();
        values[7] = 4f;
        using var trainer = new HrnnTrainer(Small(OutcomeKind.Soft), items, CPU, Directory.CreateTempSubdirectory("outcome-soft").FullName);
        var e = Assert.Throws<PipelineException>(() => trainer.Train(train.WithValues(values), valid, resume: false));
        Assert.Equal("Training:Outcome soft: event 7 of the fit split has value 4, outside [0, 1] (soft labels: scale them, e.g. rating / 5)", e.Message);
        var noValues = Assert.Throws<PipelineException>(() => trainer.Train(train, valid, resume: false));
        Assert.StartsWith("Training:Outcome soft: the prepared events have no values", noValues.Message);
    }
}
