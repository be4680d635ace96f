using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Tests.Training;

/// <summary>Each loss against a hand computation on a 3x3 score matrix (positives on the diagonal, every
/// off-diagonal entry a negative).</summary>
public sealed class LossTests
{
    static readonly float[,] S = { { 2.0f, 0.5f, -1.0f }, { 0.3f, -0.2f, 1.2f }, { -0.7f, 0.1f, 0.4f } };

    static double Compute(LossKind kind, double bprReg = 1.0)
    {
        TorchRuntime.EnsureLoaded();
        using var scores = tensor(S);
        using var negatives = ones(3, 3, dtype: ScalarType.Bool).logical_and(eye(3, dtype: ScalarType.Bool).logical_not());
        using var rows = ones(3);
        using var reg = tensor((float)bprReg);
        using var loss = Losses.Compute(kind, scores, negatives, rows, reg);
        return loss.item<float>();
    }

    static double Sig(double x) => 1 / (1 + Math.Exp(-x));

    static IEnumerable<(int I, int J)> Negatives() =>
        from i in Enumerable.Range(0, 3) from j in Enumerable.Range(0, 3) where i != j select (i, j);

    [Fact]
    public void Top1_is_the_mean_over_negatives_of_sigmoid_differences_plus_sigmoid_squares_after_tanh()
    {
        double total = 0;
        for (int i = 0; i < 3; i++)
            total += Negatives().Where(p => p.I == i)
                .Average(p => Sig(Math.Tanh(S[i, p.J]) - Math.Tanh(S[i, i])) + Sig(Math.Pow(Math.Tanh(S[i, p.J]), 2)));
        Assert.Equal(total / 3, Compute(LossKind.Top1), 5);
    }

    [Fact]
    public void Bpr_is_the_mean_negative_log_sigmoid_of_positive_minus_negative_after_tanh()
    {
        double total = 0;
        for (int i = 0; i < 3; i++)
            total += Negatives().Where(p => p.I == i).Average(p => -Math.Log(Sig(Math.Tanh(S[i, i]) - Math.Tanh(S[i, p.J]))));
        Assert.Equal(total / 3, Compute(LossKind.Bpr), 5);
    }

    [Fact]
    public void Cross_entropy_is_the_softmax_log_loss_of_the_diagonal()
    {
        double total = 0;
        for (int i = 0; i < 3; i++)
            total += -Math.Log(Math.Exp(S[i, i]) / Enumerable.Range(0, 3).Sum(j => Math.Exp(S[i, j])));
        Assert.Equal(total / 3, Compute(LossKind.CrossEntropy), 5);
    }

    [Fact]
    public void Bpr_max_weights_pairs_by_the_softmax_of_the_negatives_and_regularises_their_scores()
    {
        double total = 0;
        for (int i = 0; i < 3; i++)
        {
            var negs = Negatives().Where(p => p.I == i).Select(p => (double)S[i, p.J]).ToArray();
            var z = negs.Sum(Math.Exp);
            var w = negs.Select(x => Math.Exp(x) / z).ToArray();
            var ranking = -Math.Log(negs.Select((x, k) => w[k] * Sig(S[i, i] - x)).Sum());
            total += ranking + 0.5 * negs.Select((x, k) => w[k] * x * x).Sum();
        }
        Assert.Equal(total / 3, Compute(LossKind.BprMax, bprReg: 0.5), 5);
    }

    [Fact]
    public void Rows_without_a_target_do_not_count()
    {
        TorchRuntime.EnsureLoaded();
        using var scores = tensor(S);
        using var negatives = ones(3, 3, dtype: ScalarType.Bool).logical_and(eye(3, dtype: ScalarType.Bool).logical_not());
        using var all = Losses.Compute(LossKind.CrossEntropy, scores, negatives, tensor(new float[] { 1, 0, 0 }), tensor(1f));
        double first = -Math.Log(Math.Exp(S[0, 0]) / Enumerable.Range(0, 3).Sum(j => Math.Exp(S[0, j])));
        Assert.Equal(first, all.item<float>(), 5);
    }
}

public sealed class LogQCorrectionTests
{
    [Fact]
    public void In_batch_columns_are_corrected_by_the_data_distribution_and_sampled_ones_by_its_alpha_power()
    {
        TorchRuntime.EnsureLoaded();
        // Supports 6, 3, 1; alpha 0.5. Two in-batch columns (items 1, 2), two sampled ones (items 3, 1).
        using var logQ = new LogQCorrection([0, 6, 3, 1], sampleAlpha: 0.5, weight: 1.0, CPU);
        var values = logQ.For(tensor(new long[] { 1, 2, 3, 1 }), inBatch: 2).data<float>().ToArray();
        double sampledTotal = Math.Sqrt(6) + Math.Sqrt(3) + 1;
        double[] expected = [Math.Log(0.6), Math.Log(0.3), Math.Log(1 / sampledTotal), Math.Log(Math.Sqrt(6) / sampledTotal)];
        Assert.Equal(expected.Length, values.Length);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], values[i], 5);
    }
}
