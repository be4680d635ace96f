using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>
/// Each row's conservative full-catalogue rank of its target and its log loss, without the [rows, items] scores:
/// blocks of rows are scored a tile of items at a time into one reused buffer, and each tile adds to the rows' counts
/// (items scoring at least the target) and to their softmax normaliser (per-tile maximum and sum, combined at the
/// end). Validation needs nothing else, and the dense path (20-odd rows at a time, what a row block fits in at 80k
/// items, each block's scores 8 MB) took 2.3x as long: its time went to streaming the whole item table per block and
/// to passes over scores that never fit a cache.
/// The counts compare against the target's score from its own tile; the threshold is read beforehand from a product
/// of the same row block, and where the two differ in the last bit (the GEMM may sum in another order), the block is
/// counted again against its tiles' values, so a rank never depends on which product computed the target.
/// </summary>
public sealed class TiledRanks(int rows = TiledRanks.DefaultRows, int tile = TiledRanks.DefaultTile) : IDisposable
{
    // 256 x 2,048 floats (2 MB, the two cores' L2): on 8,192 rows x 81k items the fastest of the 64-1,024-row blocks
    // and 512-8,192-item tiles tried, 2.2 s against 5.1 s for the dense 24-row path (BENCHMARKS.md, "Validation").
    public const int DefaultRows = 256;
    public const int DefaultTile = 2048;

    Tensor? _buffer;

    /// <summary>Ranks over columns 1..width-1 of the item rows (the padding column 0 never counts), and
    /// logsumexp(scores) - score(target) over all columns, as <see cref="HrnnInference.ConservativeRanks"/> and the
    /// dense path compute them from the full scores; a NaN target ranks last (width - 1).</summary>
    public void Rank(Tensor queries, int[] targets, HrnnModel.ItemRows items, int width, long[] ranks, float[] logLoss,
        bool[] nanTarget)
    {
        using var _ = no_grad();
        var device = queries.device;
        int columns = Math.Min(tile, width);
        if (_buffer is null || _buffer.shape[1] < columns)
        {
            _buffer?.Dispose();
            // Kept across calls: the caller's dispose scope (one per chunk of steps) must not free it.
            _buffer = empty(rows, columns, device: device).DetachFromDisposeScope();
        }
        for (int start = 0; start < targets.Length; start += rows)
        {
            int n = Math.Min(rows, targets.Length - start);
            using var scope = NewDisposeScope();
            var q = queries.narrow(0, start, n);
            var target = tensor(targets.AsSpan(start, n).ToArray().Select(i => (long)i).ToArray()).to(device);
            // The target scores from a product of the same n rows (column j is row j's target): the diagonal.
            var threshold = HrnnModel.Score(q, items.Output.index_select(0, target), items.Bias.index_select(0, target))
                .diagonal().clone();
            var (ahead, fromTiles, max, sum) = Pass(q, targets.AsSpan(start, n), threshold, items, width);
            bool agree = threshold.eq(fromTiles).logical_or(threshold.isnan().logical_and(fromTiles.isnan())).all().item<bool>();
            if (!agree) ahead = Pass(q, targets.AsSpan(start, n), fromTiles, items, width).Ahead;
            var isNaN = fromTiles.isnan();
            where(isNaN, tensor((long)(width - 1), device: device), ahead).cpu().data<long>().CopyTo(ranks, start);
            isNaN.cpu().data<bool>().CopyTo(nanTarget, start);
            var top = max.amax([1], keepdim: true);
            var normaliser = sum.mul(max.sub(top).exp_()).sum(1).log_().add_(top.squeeze(1), Scalars.One);
            normaliser.sub(fromTiles).cpu().data<float>().CopyTo(logLoss, start);
        }
    }

    /// <summary>One pass over the tiles: per row the items 1..width-1 at or above <paramref name="threshold"/>, the
    /// target's score as its tile computes it, and the tiles' maxima and sums of exp(score - maximum) [n, tiles].</summary>
    (Tensor Ahead, Tensor FromTiles, Tensor Max, Tensor Sum) Pass(Tensor q, ReadOnlySpan<int> targets, Tensor threshold,
        HrnnModel.ItemRows items, int width)
    {
        var device = q.device;
        int n = targets.Length;
        var ahead = zeros(n, ScalarType.Int64, device: device);
        // Every target lies in one tile (targets are below width), so each row is overwritten once.
        var fromTiles = threshold.clone();
        var maxima = new List<Tensor>(); var sums = new List<Tensor>();
        var above = threshold.unsqueeze(1);
        var tileRows = new List<long>(); var tileColumns = new List<long>();
        for (int c0 = 0; c0 < width; c0 += tile)
        {
            int w = Math.Min(tile, width - c0);
            var scores = _buffer!.narrow(0, 0, n).narrow(1, 0, w);
            scores.copy_(items.Bias.narrow(0, c0, w).unsqueeze(0).expand(n, w));
            scores.addmm_(q, items.Output.narrow(0, c0, w).t(), 1, 1);
            if (c0 == 0) scores.narrow(1, 0, 1).fill_(Scalars.NegativeInfinity); // the padding, as ScoreAll has it
            var counted = c0 == 0 ? scores.narrow(1, 1, w - 1) : scores;
            ahead.add_(counted.ge(above).sum(1), Scalars.IntOne);
            tileRows.Clear(); tileColumns.Clear();
            for (int r = 0; r < n; r++)
                if (targets[r] >= c0 && targets[r] < c0 + w) { tileRows.Add(r); tileColumns.Add(targets[r] - c0); }
            if (tileRows.Count > 0)
            {
                var rowIndex = tensor(tileRows.ToArray()).to(device);
                fromTiles.index_put_(scores.index(rowIndex, tensor(tileColumns.ToArray()).to(device)), rowIndex);
            }
            // The tile's scores are not read again: exp(score - tile maximum) in place, summed.
            var max = scores.amax([1], keepdim: true);
            maxima.Add(max.squeeze(1));
            sums.Add(scores.sub_(max).exp_().sum(1));
        }
        return (ahead, fromTiles, stack(maxima, 1), stack(sums, 1));
    }

    public void Dispose() => _buffer?.Dispose();
}
