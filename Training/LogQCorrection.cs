using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>
/// The logQ correction of sampled softmax (cross-entropy over in-batch and extra sampled negatives): each column's
/// score is lowered by the log of the probability with which it was drawn. As in the official GRU4Rec, the in-batch
/// columns are other rows' targets, drawn from the data's own item distribution P0 (count / total), while only the extra
/// columns are drawn from P0^alpha; correcting both with P0^alpha under-corrects the popular in-batch items.
/// </summary>
public sealed class LogQCorrection : IDisposable
{
    readonly Tensor _inBatch;
    readonly Tensor _sampled;

    /// <param name="counts">Training support per item id (index 0, the padding, never drawn).</param>
    public LogQCorrection(IReadOnlyList<long> counts, double sampleAlpha, double weight, Device device)
    {
        float[] LogProbabilities(double alpha)
        {
            var w = DrawWeights(counts, alpha);
            double total = w.Sum();
            return [.. w.Select(x => (float)(weight * Math.Log(Math.Max(x / total, 1e-12))))];
        }
        _inBatch = tensor(LogProbabilities(1.0)).to(device);
        _sampled = tensor(LogProbabilities(sampleAlpha)).to(device);
    }

    /// <summary>Unnormalised draw weights count^alpha per item id (0 for the padding): the extra negatives are drawn in
    /// proportion to them (GRU4Rec's sample_alpha), and alpha 1 is the data's own distribution. An item no training event
    /// has (a cold item) is never drawn, so its id row stays untrained and metadata alone represents it; a map with no
    /// counts at all (hand-made ones) draws every item alike.</summary>
    public static double[] DrawWeights(IReadOnlyList<long> counts, double alpha)
    {
        bool none = counts.Skip(1).All(c => c <= 0);
        return [.. counts.Select((c, i) => i == 0 ? 0 : none ? 1 : c <= 0 ? 0 : Math.Pow(c, alpha))];
    }

    /// <summary>Per column: the first <paramref name="inBatch"/> columns are in-batch targets, the rest sampled.</summary>
    public Tensor For(Tensor columnItems, int inBatch)
    {
        long n = columnItems.shape[0];
        return cat([_inBatch.index_select(0, columnItems.narrow(0, 0, inBatch)),
            _sampled.index_select(0, columnItems.narrow(0, inBatch, n - inBatch))], 0);
    }

    public void Dispose()
    {
        _inBatch.Dispose();
        _sampled.Dispose();
    }
}
