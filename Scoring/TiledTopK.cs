using HrnnPipeline.Features;
using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Scoring;

/// <summary>
/// The scorer's lists (<see cref="HrnnInference.ICaptureLists"/>) without a dense [rows, items] temporary per step:
/// a block of rows is scored a tile of items at a time into one preallocated buffer (bias copied in, then
/// <c>addmm_</c>, the dense path's own product), each tile keeps its best groups of adjacent items, and the tiles'
/// groups are merged. Exact (no <see cref="CandidateIndex"/>): the top k of the best k groups' items, the dense
/// path's scores and lists. With the reminder mix, (1 - w) softmax(s) + w h ranks an item outside the history by its
/// score alone, so the mixed top-k lies among the score top-k and the history items: the softmax normaliser is summed
/// tile by tile, the history items' scores are read from the tiles, and only those candidates are mixed. Seen items
/// (exclude-seen) are masked in each tile and the fill reads their scores the same way. Approximate
/// (<see cref="CandidateIndex"/>): no tiles; each row's candidates are its cluster's, scored exactly.
/// </summary>
public sealed class TiledTopK(int rows = TiledTopK.DefaultRows, int tile = TiledTopK.DefaultTile, CandidateIndex? approximate = null,
    int group = TiledTopK.DefaultGroup) : HrnnInference.ICaptureLists, IDisposable
{
    public const int DefaultRows = 512;
    public const int DefaultTile = 8192;
    public const int DefaultGroup = 8;

    Tensor? _buffer, _scratch;
    ReminderMixer? _mixer;
    SessionDataset? _mixerData;

    /// <summary>Null: exact; otherwise the candidate index of the approximate mode.</summary>
    public CandidateIndex? Approximate => approximate;

    public bool Fill(HrnnInference.CaptureBlock block)
    {
        using var _ = no_grad();
        for (int start = 0; start < block.Users.Length; start += rows)
        {
            using var scope = NewDisposeScope();
            FillRows(block, start, Math.Min(rows, block.Users.Length - start));
        }
        return true;
    }

    void FillRows(HrnnInference.CaptureBlock block, int start, int n)
    {
        int k = block.K, width = block.Width;
        var device = block.Queries.device;
        var queries = block.Queries.narrow(0, start, n);
        var history = block.History.AsSpan(start, n);
        var mix = block.Mix;
        var weights = new float[n];
        bool mixing = false;
        for (int r = 0; r < n; r++) mixing |= (weights[r] = mix?.For(history[r].Start).Weight ?? 0) > 0;

        // Sparse entries whose scores the lists need: the seen items (excluded, then the fill), the history items (mix).
        var entryRows = new List<long>(); var entryItems = new List<long>();
        int[]? seenCount = block.ExcludeFrom is { } from
            ? HrnnInference.SeenItems(block.Users.AsSpan(start, n), from, width, entryRows, entryItems) : null;
        int seenEntries = entryRows.Count;
        float[] historyWeight = [];
        if (mixing)
        {
            if (!ReferenceEquals(_mixerData, block.Data)) (_mixer, _mixerData) = (new ReminderMixer(block.Data, width), block.Data);
            var (hRows, hItems, hValues) = _mixer!.HistoryEntries(history, row => mix!.For(row.Start).Decay);
            entryRows.AddRange(hRows); entryItems.AddRange(hItems);
            historyWeight = hValues;
        }
        var all = Sparse.Of(entryRows, entryItems, device);

        var entryScores = new List<Tensor>();
        Tensor candidates;
        float[] candidateScores;
        double[]? rowMax, rowZ;
        if (approximate is not null)
        {
            // The candidates' and the entries' scores are exact; seen candidates are left out by RowLists.
            Tensor scores;
            (candidates, scores, rowMax, rowZ) = approximate.Select(queries, block.Items, width, k, seenCount?.Max() ?? 0, mixing);
            candidateScores = scores.cpu().data<float>().ToArray();
            if (all.Count > 0) entryScores.Add(ExactEntries(queries, block.Items, all.Rows, all.Items));
        }
        else
        {
            // The exact tiles mask the seen items themselves.
            var seen = Sparse.Of(entryRows.GetRange(0, seenEntries), entryItems.GetRange(0, seenEntries), device);
            (candidates, candidateScores, rowMax, rowZ) = ExactCandidates(block, queries, n, mixing, all, seen, entryScores);
        }
        int listed = (int)candidates.shape[1];
        var sortedEntryScores = entryScores.Count == 0 ? [] : cat(entryScores, 0).cpu().data<float>().ToArray();
        var entryScore = new float[all.Count];
        for (int i = 0; i < all.Count; i++) entryScore[all.Order[i]] = sortedEntryScores[i];
        var lists = new RowLists(k, listed, candidates.to_type(ScalarType.Int32).cpu().data<int>().ToArray(),
            candidateScores, entryRows, entryItems, entryScore, seenEntries, historyWeight);
        lists.Write(block, start, n, seenCount, mixing ? weights : null, rowMax, rowZ);
    }

    /// <summary>The exact path: the best k items of each row by the tiles' products, their scores, the normalisers.</summary>
    (Tensor Candidates, float[] Scores, double[]? RowMax, double[]? RowZ) ExactCandidates(HrnnInference.CaptureBlock block,
        Tensor queries, int n, bool mixing, Sparse all, Sparse seen, List<Tensor> entryScores)
    {
        int k = block.K, width = block.Width;
        var device = queries.device;
        // Each tile keeps its best k groups of `group` columns by their maxima, then the best k groups of all tiles
        // are kept, and the best k items of theirs: a row's top items lie in its top groups (each top item's group has
        // a maximum at least as high), so the wide topk runs over a group-th of the columns.
        var tiles = TileBounds(width, tile, group);
        int widest = tiles.Max(t => RoundUp(t.Width, group));
        var buffer = Buffer(ref _buffer, n, widest, device);
        var scratch = mixing ? Buffer(ref _scratch, n, widest, device) : null;
        var groupSize = tensor((long)group, device: device);
        var inGroup = arange(group, ScalarType.Int64, device: device);
        var tileGroupMax = new List<Tensor>(); var tileColumns = new List<Tensor>(); var tileValues = new List<Tensor>();
        var softMax = new List<Tensor>(); var softSum = new List<Tensor>();
        var negInf = full(1, float.NegativeInfinity, device: device);
        foreach (var (c0, w) in tiles)
        {
            int padded = RoundUp(w, group);
            var tileScores = buffer.narrow(0, 0, n).narrow(1, 0, padded);
            var scores = tileScores.narrow(1, 0, w);
            scores.copy_(block.Items.Bias.narrow(0, c0, w).unsqueeze(0).expand(n, w));
            scores.addmm_(queries, block.Items.Output.narrow(0, c0, w).t(), 1, 1);
            if (c0 == 0) scores.narrow(1, 0, 1).fill_(Scalars.NegativeInfinity); // the padding is never listed
            if (padded > w) tileScores.narrow(1, w, padded - w).fill_(Scalars.NegativeInfinity); // the last group's tail
            if (all.In(c0, w) is ({ } rowIndex, { } columns)) entryScores.Add(scores.index(rowIndex, columns));
            if (mixing)
            {
                // The softmax is over the whole row, before anything is masked (the dense path mixes, then masks).
                var max = scores.amax([1], keepdim: true);
                var exp = scratch!.narrow(0, 0, n).narrow(1, 0, w);
                exp.copy_(scores).sub_(max).exp_();
                softMax.Add(max.squeeze(1));
                softSum.Add(exp.sum(1, type: ScalarType.Float32));
            }
            if (seen.In(c0, w) is ({ } seenRows, { } seenColumns)) scores.index_put_(negInf.expand(seenRows.shape[0]), seenRows, seenColumns);
            // A tile's group j is its columns j, j + G, j + 2G, ... (G = padded / group): the maximum over the middle
            // dimension runs along contiguous rows (one over adjacent columns was slower than topk itself).
            int stride = padded / group;
            var maxima = group == 1 ? tileScores : tileScores.view(n, group, stride).amax([1]);
            var (groupMax, groupAt) = maxima.topk(Math.Min(k, stride), 1);
            var tileColumn = group == 1 ? groupAt
                : groupAt.unsqueeze(2).add(inGroup.mul(tensor((long)stride, device: device)), Scalars.IntOne).flatten(1);
            tileGroupMax.Add(groupMax);
            tileValues.Add(tileScores.gather(1, tileColumn));
            tileColumns.Add(c0 == 0 ? tileColumn : tileColumn.add(tensor((long)c0, device: device), Scalars.IntOne));
        }
        var groupMaxima = cat(tileGroupMax, 1);
        var best = groupMaxima.topk(Math.Min(k, (int)groupMaxima.shape[1]), 1).indexes;
        // Every kept group is `group` consecutive entries of the tiles' columns and values.
        var pick = group == 1 ? best : best.mul(groupSize).unsqueeze(2).add(inGroup, Scalars.IntOne).flatten(1);
        var groupValues = cat(tileValues, 1).gather(1, pick);
        var (candidateValues, at) = groupValues.topk(Math.Min(k, (int)groupValues.shape[1]), 1);
        var candidates = cat(tileColumns, 1).gather(1, pick).gather(1, at);
        var (rowMax, rowZ) = mixing ? Normalisers(stack(softMax, 1), stack(softSum, 1), n) : (null, null);
        return (candidates, candidateValues.cpu().data<float>().ToArray(), rowMax, rowZ);
    }

    static Tensor ExactEntries(Tensor queries, HrnnModel.ItemRows items, Tensor rowIndex, Tensor itemIndex) =>
        queries.index_select(0, rowIndex).mul(items.Output.index_select(0, itemIndex)).sum(1).Plus(items.Bias.index_select(0, itemIndex));

    /// <summary>Each row's softmax maximum and normaliser sum(exp(s - max)) from the tiles' own.</summary>
    static (double[] Max, double[] Z) Normalisers(Tensor maxes, Tensor sums, int n)
    {
        int t = (int)maxes.shape[1];
        var m = maxes.cpu().data<float>().ToArray();
        var z = sums.cpu().data<float>().ToArray();
        var rowMax = new double[n];
        var rowZ = new double[n];
        for (int r = 0; r < n; r++)
        {
            float best = float.NegativeInfinity;
            for (int i = 0; i < t; i++) best = Math.Max(best, m[r * t + i]);
            double sum = 0;
            for (int i = 0; i < t; i++) sum += z[r * t + i] * Math.Exp(m[r * t + i] - best);
            rowMax[r] = best; rowZ[r] = sum;
        }
        return (rowMax, rowZ);
    }

    static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    /// <summary>Tiles of about equal width covering columns 0..width-1, each but the last a whole number of groups.</summary>
    static (int Start, int Width)[] TileBounds(int width, int tile, int group)
    {
        int count = (width + tile - 1) / tile;
        int each = RoundUp((width + count - 1) / count, group);
        return Enumerable.Range(0, count).Select(i => (i * each, Math.Min(each, width - i * each))).Where(t => t.Item2 > 0).ToArray();
    }

    /// <summary>The preallocated [rows, width] buffer, grown once (never per block: fresh pages per temporary cost 3-7x).</summary>
    Tensor Buffer(ref Tensor? buffer, int n, int width, Device device)
    {
        if (buffer is not null && buffer.shape[0] >= n && buffer.shape[1] >= width && buffer.device == device)
            return buffer;
        buffer?.Dispose();
        buffer = empty(Math.Max(n, rows), width, device: device).DetachFromDisposeScope();
        return buffer;
    }

    public void Dispose()
    {
        _buffer?.Dispose();
        _scratch?.Dispose();
    }

    /// <summary>Sparse (row, item) entries sorted by item, so each tile's entries are one range; <see cref="Order"/>
    /// maps a sorted position back to the entry's place in the lists it was built from.</summary>
    sealed class Sparse
    {
        public required int Count { get; init; }
        public required int[] Order { get; init; }
        public required long[] SortedItems { get; init; }
        public required Tensor Rows { get; init; }
        public required Tensor Items { get; init; }

        public static Sparse Of(List<long> rows, List<long> items, Device device)
        {
            var order = Enumerable.Range(0, rows.Count).OrderBy(i => items[i]).ToArray();
            var sorted = order.Select(i => items[i]).ToArray();
            return new Sparse
            {
                Count = rows.Count, Order = order, SortedItems = sorted,
                Rows = tensor(order.Select(i => rows[i]).ToArray()).to(device), Items = tensor(sorted).to(device),
            };
        }

        /// <summary>The rows and tile columns of the entries with items in [c0, c0 + w); nulls when none.</summary>
        public (Tensor? Rows, Tensor? Columns) In(int c0, int w)
        {
            int from = LowerBound(c0), to = LowerBound(c0 + w);
            if (to == from) return (null, null);
            var columns = Items.narrow(0, from, to - from);
            return (Rows.narrow(0, from, to - from), c0 == 0 ? columns : columns.sub(tensor((long)c0, device: Items.device)));
        }

        int LowerBound(long value)
        {
            int lo = 0, hi = SortedItems.Length;
            while (lo < hi)
            {
                int mid = (lo + hi) >>> 1;
                if (SortedItems[mid] < value) lo = mid + 1; else hi = mid;
            }
            return lo;
        }
    }
}
