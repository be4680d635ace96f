using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>
/// What a value head changes in the lists: items predicted below a threshold (binary: likely rejected; regression:
/// rated low) come after every other item in evaluation and are left out of published lists.
/// </summary>
public static class OutcomeFilter
{
    /// <summary>The threshold of a model's mode: the configured one, else 0.5 for binary; regression filters only when
    /// one is configured (its scale is the log's); modes without a value head never filter.</summary>
    public static double? Threshold(HrnnSettings settings, double? configured) => settings.Outcome switch
    {
        OutcomeKind.Binary => configured ?? 0.5,
        OutcomeKind.Regression => configured,
        _ => null,
    };

    /// <summary>
    /// Conservative ranks as <see cref="HrnnInference.ConservativeRanks"/> with the accepted items first: an accepted
    /// target counts the accepted items scoring at least as high; a rejected one all accepted items plus the rejected
    /// ones scoring at least as high. NaN targets rank last.
    /// </summary>
    public static Tensor Ranks(Tensor scores, Tensor target, Tensor accepted)
    {
        long catalogue = scores.shape[1] - 1;
        var targetScore = scores.gather(1, target);
        var ahead = scores.narrow(1, 1, catalogue).ge(targetScore);
        var ok = accepted.narrow(1, 1, catalogue);
        var targetOk = accepted.gather(1, target).squeeze(1);
        var acceptedAhead = ahead.logical_and(ok).sum(1);
        var rejectedAhead = ahead.logical_and(ok.logical_not()).sum(1) + ok.sum(1);
        var ranks = where(targetOk, acceptedAhead, rejectedAhead);
        return where(targetScore.squeeze(1).isnan(), tensor(catalogue, device: scores.device), ranks);
    }

    /// <summary>Each listed item's predicted value; slots left empty by the filter (score -inf) become item 0, value NaN.</summary>
    internal static void ListValues(HrnnModel model, Tensor sessionStates, float[]? bases, int[] topK, float[] topScores, int k,
        float[] values, int block)
    {
        int users = topK.Length / Math.Max(k, 1);
        for (int start = 0; start < users; start += block)
        {
            int n = Math.Min(block, users - start);
            using var scope = NewDisposeScope();
            var all = model.OutcomeAll(sessionStates.narrow(0, start, n),
                bases is null ? null : tensor(bases.AsSpan(start, n).ToArray()).to(sessionStates.device));
            var items = tensor(topK.AsSpan(start * k, n * k).ToArray().Select(i => (long)i).ToArray(), [n, k]).to(all.device);
            all.gather(1, items).cpu().data<float>().CopyTo(values, start * k);
        }
        for (int j = 0; j < topK.Length; j++)
            if (float.IsNegativeInfinity(topScores[j])) { topK[j] = 0; values[j] = float.NaN; }
    }
}
