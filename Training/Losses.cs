using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace HrnnPipeline.Training;

/// <summary>
/// Ranking losses over a score matrix [B, C] whose row b has its positive in column b; the other columns are the
/// other slots' targets (popularity-sampled by construction) and then any shared extra samples. <c>negatives</c>
/// marks, per row, the columns that count as its negatives (valid, and not the row's own item again). Each returns
/// the mean over rows where <c>rows</c> is 1. Final activations as in GRU4Rec: tanh for TOP1 and BPR, softmax inside
/// cross-entropy, linear for BPR-max.
/// </summary>
public static class Losses
{
    public static Tensor Compute(LossKind kind, Tensor scores, Tensor negatives, Tensor rows, Tensor bprReg, Tensor? logQ = null)
    {
        if (logQ is not null) scores = scores.Minus(logQ.unsqueeze(0));
        var batch = scores.shape[0];
        var positive = scores.narrow(1, 0, batch).diagonal().unsqueeze(1);
        var mask = negatives.to_type(scores.dtype);
        var count = mask.sum(1).clamp_min(Scalars.One);
        var perRow = kind switch
        {
            LossKind.Top1 => Top1(tanh(scores), tanh(positive), mask, count),
            LossKind.Bpr => (-F.logsigmoid(tanh(positive).Minus(tanh(scores))) * mask).sum(1) / count,
            LossKind.CrossEntropy => CrossEntropy(scores, positive, negatives),
            LossKind.BprMax => BprMax(scores, positive, negatives, mask, bprReg),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        return (perRow * rows).sum() / rows.sum().clamp_min(Scalars.One);
    }

    /// <summary>TOP1 (Hidasi et al. 2016, as used by the paper): mean over negatives j of σ(r_j − r_i) + σ(r_j²).</summary>
    static Tensor Top1(Tensor s, Tensor p, Tensor mask, Tensor count) =>
        (sigmoid(s.Minus(p)).Plus(sigmoid(s * s)) * mask).sum(1) / count;

    /// <summary>Softmax cross-entropy over the positive and the row's negatives.</summary>
    static Tensor CrossEntropy(Tensor s, Tensor p, Tensor negatives)
    {
        var batch = s.shape[0];
        var keep = negatives.clone();
        keep.narrow(1, 0, batch).diagonal().fill_(true);
        var logits = s.masked_fill(keep.logical_not(), Scalars.NegativeLarge);
        return logits.logsumexp(1).Minus(p.squeeze(1));
    }

    /// <summary>BPR-max (Hidasi & Karatzoglou 2018): BPR weighted by the softmax of the negatives, plus score regularisation.</summary>
    static Tensor BprMax(Tensor s, Tensor p, Tensor negatives, Tensor mask, Tensor bprReg)
    {
        var weights = softmax(s.masked_fill(negatives.logical_not(), Scalars.NegativeLarge), 1) * mask;
        var ranking = -log((weights * sigmoid(p.Minus(s))).sum(1).PlusScalar(Scalars.Tiny));
        return ranking.Plus((weights * s * s).sum(1) * bprReg);
    }
}
