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
/// Validation asks for less: ranks exact up to its cutoff and the loss of a sample of rows; the other rows run over the
/// catalogue in descending bias and leave once their target is out of the cutoff (2.4x cheaper at 81k items).
/// </summary>
public sealed class TiledRanks(int rows = TiledRanks.DefaultRows, int tile = TiledRanks.DefaultTile) : IDisposable
{
    // 256 x 2,048 floats (2 MB, the two cores' L2): on 8,192 rows x 81k items the fastest of the 64-1,024-row blocks
    // and 512-8,192-item tiles tried, 2.2 s against 5.1 s for the dense 24-row path (BENCHMARKS.md, "Validation").
    public const int DefaultRows = 256;
    public const int DefaultTile = 2048;

    /// <summary>Rows whose count passes the cutoff by this many items leave the pass early: a last-bit difference in
    /// the target's score (see the class summary) moves a rank only by the items within that last bit of it, which in
    /// practice are none or one, not eight.</summary>
    public const int EarlyExitMargin = 8;

    Tensor? _buffer;
    // The catalogue in descending bias, for the passes that stop early: the likeliest items first, so a row that ranks
    // its target beyond the cutoff usually shows it within the first tiles.
    HrnnModel.ItemRows? _sortedFor;
    int _sortedWidth;
    Tensor? _sortedOutput, _sortedBias;
    int[] _sortedPosition = [];

    /// <summary>Ranks over columns 1..width-1 of the item rows (the padding column 0 never counts), and
    /// logsumexp(scores) - score(target) over all columns, as <see cref="HrnnInference.ConservativeRanks"/> and the
    /// dense path compute them from the full scores; a NaN target ranks last (width - 1).
    /// With <paramref name="cutoff"/> &gt; 0, the rows <paramref name="withLoss"/> marks false (null: every row has a loss) get no loss
    /// (NaN) and ranks that are exact up to the cutoff; beyond it they are lower bounds above the cutoff (validation's
    /// Recall and MRR at the cutoff need nothing else): such a row leaves the pass once enough items outscore it.</summary>
    public void Rank(Tensor queries, int[] targets, HrnnModel.ItemRows items, int width, long[] ranks, float[] logLoss,
        bool[] nanTarget, int cutoff = 0, bool[]? withLoss = null)
    {
        using var _ = no_grad();
        if (targets.Any(t => t < 1 || t >= width))
            throw new ArgumentOutOfRangeException(nameof(targets), $"a target outside the ranked items 1..{width - 1}");
        var device = queries.device;
        int columns = Math.Min(tile, width);
        if (_buffer is null || _buffer.shape[1] < columns)
        {
            _buffer?.Dispose();
            // Kept across calls: the caller's dispose scope (one per chunk of steps) must not free it.
            _buffer = empty(rows, columns, device: device).DetachFromDisposeScope();
        }
        var full = Enumerable.Range(0, targets.Length).Where(r => cutoff <= 0 || withLoss is null || withLoss[r]).ToArray();
        var early = cutoff <= 0 ? [] : Enumerable.Range(0, targets.Length).Where(r => withLoss is not null && !withLoss[r]).ToArray();
        Blocks(full, queries, targets, (q, t, at) =>
        {
            var (ahead, fromTiles, max, sum) = ExactPass(q, t, TargetScores(q, t, items), items, width);
            var top = max.amax([1], keepdim: true);
            var normaliser = sum.mul(max.sub(top).exp_()).sum(1).log_().add_(top.squeeze(1), Scalars.One);
            Store(at, ahead, fromTiles, width, ranks, nanTarget);
            var loss = normaliser.sub(fromTiles).cpu().data<float>().ToArray();
            for (int j = 0; j < at.Length; j++) logLoss[at[j]] = loss[j];
        });
        if (early.Length == 0) return;
        Sort(items, width);
        Blocks(early, queries, targets, (q, t, at) =>
        {
            var threshold = TargetScores(q, t, items);
            var (ahead, fromTiles) = EarlyExitPass(q, t, threshold, width, cutoff);
            Store(at, ahead, fromTiles, width, ranks, nanTarget);
            foreach (int r in at) logLoss[r] = float.NaN;
        });
    }

    /// <summary>Runs <paramref name="block"/> over the <paramref name="selected"/> rows, <see cref="rows"/> at a time,
    /// each in a dispose scope of its own, with the block's queries, targets and their row indexes.</summary>
    void Blocks(int[] selected, Tensor queries, int[] targets, Action<Tensor, int[], int[]> block)
    {
        bool all = selected.Length == targets.Length;
        for (int start = 0; start < selected.Length; start += rows)
        {
            int n = Math.Min(rows, selected.Length - start);
            using var scope = NewDisposeScope();
            var at = selected.AsSpan(start, n).ToArray();
            var q = all ? queries.narrow(0, start, n) : queries.index_select(0, tensor(at.Select(r => (long)r).ToArray()).to(queries.device));
            block(q, at.Select(r => targets[r]).ToArray(), at);
        }
    }

    /// <summary>The target scores from a product of the block's rows (column j is row j's target): the diagonal.</summary>
    static Tensor TargetScores(Tensor q, int[] targets, HrnnModel.ItemRows items)
    {
        var target = tensor(targets.Select(i => (long)i).ToArray()).to(q.device);
        return HrnnModel.Score(q, items.Output.index_select(0, target), items.Bias.index_select(0, target)).diagonal().clone();
    }

    /// <summary>Whether two rows of target scores are the same, NaN for NaN.</summary>
    static bool Same(Tensor a, Tensor b) => a.eq(b).logical_or(a.isnan().logical_and(b.isnan())).all().item<bool>();

    static void Store(int[] at, Tensor ahead, Tensor fromTiles, int width, long[] ranks, bool[] nanTarget)
    {
        var isNaN = fromTiles.isnan();
        var rank = where(isNaN, tensor((long)(width - 1), device: ahead.device), ahead).cpu().data<long>().ToArray();
        var nan = isNaN.cpu().data<bool>().ToArray();
        for (int j = 0; j < at.Length; j++) { ranks[at[j]] = rank[j]; nanTarget[at[j]] = nan[j]; }
    }

    /// <summary>The item rows 1..width-1 in descending bias, and each item's place in that order, once per item rows.</summary>
    void Sort(HrnnModel.ItemRows items, int width)
    {
        if (ReferenceEquals(_sortedFor, items) && _sortedWidth == width) return;
        _sortedOutput?.Dispose(); _sortedBias?.Dispose();
        using var scope = NewDisposeScope();
        var order = items.Bias.narrow(0, 1, width - 1).argsort(0, descending: true).add(Scalars.IntOne, Scalars.IntOne);
        _sortedOutput = items.Output.index_select(0, order).contiguous().DetachFromDisposeScope();
        _sortedBias = items.Bias.index_select(0, order).DetachFromDisposeScope();
        var sorted = order.cpu().data<long>().ToArray();
        _sortedPosition = new int[width];
        for (int j = 0; j < sorted.Length; j++) _sortedPosition[sorted[j]] = j;
        _sortedFor = items;
        _sortedWidth = width;
    }

    /// <summary>
    /// The counts of <see cref="Pass"/> over the sorted catalogue, without the normaliser, where a row whose count
    /// passes cutoff + <see cref="EarlyExitMargin"/> leaves after its tile (its count so far is its rank's lower bound)
    /// and the others go on with fewer rows. The rows that stay to the end are counted exactly, against their tiles'
    /// target scores where those differ from <paramref name="threshold"/>, as in <see cref="Rank"/>.
    /// </summary>
    (Tensor Ahead, Tensor FromTiles) EarlyExitPass(Tensor q, int[] targets, Tensor threshold, int width, int cutoff)
    {
        var device = q.device;
        int n = targets.Length, catalogue = width - 1;
        var counts = new long[n];
        var fromTiles = threshold.clone();
        var active = Enumerable.Range(0, n).ToArray();
        var activeQ = q;
        var above = threshold.unsqueeze(1);
        var ahead = zeros(n, ScalarType.Int64, device: device);
        var tileRows = new List<long>(); var tileColumns = new List<long>(); var tileTargets = new List<long>();
        for (int c0 = 0; c0 < catalogue && active.Length > 0; c0 += tile)
        {
            int w = Math.Min(tile, catalogue - c0), m = active.Length;
            var scores = _buffer!.narrow(0, 0, m).narrow(1, 0, w);
            scores.copy_(_sortedBias!.narrow(0, c0, w).unsqueeze(0).expand(m, w));
            scores.addmm_(activeQ, _sortedOutput!.narrow(0, c0, w).t(), 1, 1);
            ahead.add_(scores.ge(above).sum(1), Scalars.IntOne);
            tileRows.Clear(); tileColumns.Clear(); tileTargets.Clear();
            for (int j = 0; j < m; j++)
            {
                int place = _sortedPosition[targets[active[j]]];
                if (place >= c0 && place < c0 + w) { tileRows.Add(j); tileColumns.Add(place - c0); tileTargets.Add(active[j]); }
            }
            if (tileRows.Count > 0)
                fromTiles.index_put_(scores.index(tensor(tileRows.ToArray()).to(device), tensor(tileColumns.ToArray()).to(device)),
                    tensor(tileTargets.ToArray()).to(device));
            var now = ahead.cpu().data<long>().ToArray();
            var stay = Enumerable.Range(0, m).Where(j => now[j] <= cutoff + EarlyExitMargin).ToArray();
            if (stay.Length == m) continue;
            for (int j = 0; j < m; j++) counts[active[j]] = now[j];
            var keep = tensor(stay.Select(j => (long)j).ToArray()).to(device);
            active = stay.Select(j => active[j]).ToArray();
            activeQ = activeQ.index_select(0, keep);
            above = above.index_select(0, keep);
            ahead = ahead.index_select(0, keep);
        }
        if (active.Length > 0)
        {
            var last = ahead.cpu().data<long>().ToArray();
            for (int j = 0; j < active.Length; j++) counts[active[j]] = last[j];
            // The rows counted to the end: against their tiles' target scores where the threshold differed.
            var index = tensor(active.Select(r => (long)r).ToArray()).to(device);
            var own = fromTiles.index_select(0, index);
            var given = threshold.index_select(0, index);
            if (!Same(given, own))
            {
                // As Rank's full pass: the count against the target scores of the same tiles (the sorted tiles' value
                // of a target can differ in the last bit from the unsorted ones').
                var (again, unsorted, _, _) = ExactPass(q.index_select(0, index), active.Select(r => targets[r]).ToArray(), given,
                    _sortedFor!, width);
                var recount = again.cpu().data<long>().ToArray();
                for (int j = 0; j < active.Length; j++) counts[active[j]] = recount[j];
                fromTiles.index_copy_(0, index, unsorted);
            }
        }
        return (tensor(counts).to(device), fromTiles);
    }

    /// <summary><see cref="Pass"/> with exact counts: against <paramref name="threshold"/>, and where a tile's own score
    /// of a target differs from it in the last bit, once more against the tiles' scores.</summary>
    (Tensor Ahead, Tensor FromTiles, Tensor Max, Tensor Sum) ExactPass(Tensor q, int[] targets, Tensor threshold,
        HrnnModel.ItemRows items, int width)
    {
        var (ahead, fromTiles, max, sum) = Pass(q, targets, threshold, items, width);
        if (!Same(threshold, fromTiles)) ahead = Pass(q, targets, fromTiles, items, width).Ahead;
        return (ahead, fromTiles, max, sum);
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

    public void Dispose()
    {
        _buffer?.Dispose();
        _sortedOutput?.Dispose();
        _sortedBias?.Dispose();
    }
}
