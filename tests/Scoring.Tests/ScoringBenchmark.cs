using System.Diagnostics;
using System.Globalization;
using HrnnPipeline.Scoring;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace HrnnPipeline.Tests.Scoring;

/// <summary>Runs only when HRNN_SCORE_BENCH_WORK names a trained work folder: too slow for every test run.</summary>
public sealed class ScoringBenchmarkFactAttribute : FactAttribute
{
    public ScoringBenchmarkFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("HRNN_SCORE_BENCH_WORK") is not { } work || !Directory.Exists(work))
            Skip = "set HRNN_SCORE_BENCH_WORK to a trained work folder to measure the scoring step against the addmm bound";
    }
}

/// <summary>
/// Issue #14's scoring figures in one run, from the final states of every user of a trained work folder: (a) the
/// addmm bound of the same shapes, block by block as the scorer takes them, and topk on its output separately; the
/// dense path the scorer had (its stages timed); (b) the scorer's exact tiled top-k; (c) the approximate mode, with
/// recall@k against exact. HRNN_SCORE_BENCH_USERS caps the users (default all); HRNN_SCORE_BENCH_OUT: a file for the
/// report too.
/// </summary>
public sealed class ScoringBenchmark(ITestOutputHelper output)
{
    readonly List<string> _report = [];

    void Say(string line)
    {
        output.WriteLine(line);
        _report.Add(line);
        if (Environment.GetEnvironmentVariable("HRNN_SCORE_BENCH_OUT") is { } file) File.AppendAllText(file, line + "\n");
    }

    /// <summary>Keeps each captured block's queries (cloned) and fills nothing: the bootstrap alone.</summary>
    sealed class Recorder : HrnnInference.ICaptureLists
    {
        public List<HrnnInference.CaptureBlock> Blocks { get; } = [];

        public bool Fill(HrnnInference.CaptureBlock block)
        {
            Blocks.Add(block with { Queries = block.Queries.clone().DetachFromDisposeScope() });
            return true;
        }
    }

    [ScoringBenchmarkFact]
    public void Exact_scoring_against_the_addmm_bound_and_the_approximate_mode()
    {
        var work = new WorkDirectory(Environment.GetEnvironmentVariable("HRNN_SCORE_BENCH_WORK")!);
        int k = 20;
        using var loaded = ModelStore.Load(work.Models, null, "cpu");
        using var threads = TorchRuntime.AllCores();
        using var _ = no_grad();
        var model = loaded.Model;
        var history = UserHistories.ScoredBy(work.Prepared, loaded.Items);
        int cap = int.TryParse(Environment.GetEnvironmentVariable("HRNN_SCORE_BENCH_USERS"), out var c) ? c : history.UserCount;
        var order = Enumerable.Range(0, Math.Min(cap, history.UserCount)).ToArray();
        Say($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, load average {File.ReadAllText("/proc/loadavg").Trim()}");
        Say($"model {loaded.Version}: {order.Length:N0} users x {model.ItemTableSize - 1:N0} items, H {model.Settings.SessionHidden}, " +
            $"start head {model.HasStartHead}, reminders {model.Reminders}, {get_num_threads()} libtorch threads, {Environment.ProcessorCount} cores");

        // The bootstrap: every user's history through the GRUs, the lists left out.
        var recorder = new Recorder();
        var clock = Stopwatch.StartNew();
        new HrnnInference(model, CPU).Run(new HrnnInference.Request(history, 512, k) { CaptureFinal = true, UserOrder = order, Lists = recorder },
            null, _ => { });
        double bootstrap = clock.Elapsed.TotalSeconds;
        var blocks = recorder.Blocks;
        int users = blocks.Sum(b => b.Users.Length);
        Say($"bootstrap (GRU steps, capture bookkeeping, no lists): {bootstrap:F1} s, {blocks.Count} capture blocks, {users:N0} users");
        using var items = model.AllItems();
        var queries = cat(blocks.Select(b => b.Queries).ToList(), 0);
        int width = model.ItemTableSize, h = (int)queries.shape[1];

        double Gflops(double seconds) => 2.0 * users * width * h / seconds / 1e9;
        // [rows x H] x [H x items] block by block into a preallocated buffer: the product alone, nothing else.
        double Bound(int rows, int tile, bool topk)
        {
            using var scope = NewDisposeScope();
            int tiles = (width + tile - 1) / tile, each = (width + tiles - 1) / tiles;
            var buffer = empty(rows, each);
            var sw = Stopwatch.StartNew();
            for (int s = 0; s < users; s += rows)
            {
                int n = Math.Min(rows, users - s);
                var q = queries.narrow(0, s, n);
                for (int c0 = 0; c0 < width; c0 += each)
                {
                    int w = Math.Min(each, width - c0);
                    var out_ = buffer.narrow(0, 0, n).narrow(1, 0, w);
                    out_.copy_(items.Bias.narrow(0, c0, w).unsqueeze(0).expand(n, w));
                    out_.addmm_(q, items.Output.narrow(0, c0, w).t(), 1, 1);
                    if (topk) out_.topk(Math.Min(k, w), 1).values.Dispose();
                }
            }
            return sw.Elapsed.TotalSeconds;
        }
        // HRNN_SCORE_BENCH_QUICK=1: the bound, exact by default and the approximate variants only (the dense path on one
        // block); HRNN_SCORE_BENCH_APPROX: other approximate variants ("candidates:usersPerCluster:reach,...").
        bool quick = Environment.GetEnvironmentVariable("HRNN_SCORE_BENCH_QUICK") == "1";
        // The bound: the same product in the scorer's row blocks, over whole rows and over its tiles; the faster counts.
        var (rowsB, tileB) = (TiledTopK.DefaultRows, TiledTopK.DefaultTile);
        double wholeRows = Bound(rowsB, width, false), tiled = Bound(rowsB, tileB, false), tiledTopk = quick ? double.NaN : Bound(rowsB, tileB, true);
        double bound = Math.Min(wholeRows, tiled);
        Say($"(a) bound, addmm [{rowsB} x {h}] x [{h} x {width}] blocks: {wholeRows:F2} s ({Gflops(wholeRows):F1} GFLOP/s); in tiles of {tileB}: " +
            $"{tiled:F2} s ({Gflops(tiled):F1} GFLOP/s); bound {bound:F2} s. For comparison addmm + topk({k}) per tile: {tiledTopk:F2} s");

        // The dense path the scorer had (blocks of 2M / items rows, every temporary fresh), stage by stage.
        var dense = DenseLists(model, items, quick ? blocks.Take(1).ToList() : blocks, k, width);
        Say($"dense path (before): {dense.Seconds:F2} s = product {dense.Product:F2} + mix {dense.Mix:F2} + padding {dense.Padding:F2} + topk and copy {dense.TopK:F2}");

        // (b) The scorer's exact tiled top-k, as configured by default, then two other shapes for the record.
        (int[] TopK, float[] Scores, double Seconds) Exact(TiledTopK lists, string what)
        {
            using (lists)
            {
                var result = Lists(lists, blocks, k);
                Say($"(b) exact, {what}: {result.Seconds:F2} s, {users / result.Seconds:N0} users/s, {result.Seconds / bound:F2}x the bound; lists equal " +
                    $"to the dense path's {Same(result.TopK, dense.TopK_, k):P3} of users, max score change {MaxChange(result.Scores, dense.Scores, result.TopK, dense.TopK_):G3}");
                return result;
            }
        }
        var exact = Lists(new TiledTopK(), blocks, k);
        Say($"(b) exact, rows {rowsB} x tile {tileB}, groups of {TiledTopK.DefaultGroup} (the default): {exact.Seconds:F2} s, {users / exact.Seconds:N0} users/s, {exact.Seconds / bound:F2}x the bound");
        if (!quick)
        {
            Exact(new TiledTopK(), $"rows {rowsB} x tile {tileB}, groups of {TiledTopK.DefaultGroup} (the default), again, against the dense path");
            Exact(new TiledTopK(group: 1), $"rows {rowsB} x tile {tileB}, topk over every column (no groups)");
            Exact(new TiledTopK(256, 4096), $"rows 256 x tile 4096, groups of {TiledTopK.DefaultGroup}");
        }
        if (!quick) Say($"(b) exact: {exact.Seconds:F2} s against the bound {bound:F2} s: ratio {exact.Seconds / bound:F2}; {dense.Seconds / exact.Seconds:F2}x faster than the dense path");

        // (c) The approximate mode: users clustered by their queries, each scored against its cluster's candidates.
        var defaults = new ScoringOptions();
        var variants = new (int Candidates, int UsersPerCluster, double Reach)[]
        {
            (defaults.ApproximateCandidates, defaults.ApproximateUsersPerCluster, CandidateIndex.DefaultReach),
            (4096, 32, 0), (2048, 16, 0), (2048, 16, CandidateIndex.DefaultReach), (8192, 64, CandidateIndex.DefaultReach),
        };
        if (Environment.GetEnvironmentVariable("HRNN_SCORE_BENCH_APPROX") is { Length: > 0 } chosen)
            variants = chosen.Split(',').Select(v => v.Split(':')).Select(p => (int.Parse(p[0], CultureInfo.InvariantCulture),
                int.Parse(p[1], CultureInfo.InvariantCulture), double.Parse(p[2], CultureInfo.InvariantCulture))).ToArray();
        foreach (var (cand, per, reach) in variants.Distinct())
        {
            using var lists = new TiledTopK(approximate: new CandidateIndex(cand, per, reach));
            var (topK, _, seconds) = Lists(lists, blocks, k);
            Say($"(c) approximate, {lists.Approximate}: {seconds:F2} s, {exact.Seconds / seconds:F2}x faster than exact, " +
                $"recall@{k} against exact {Recall(topK, exact.TopK, k):F4}, lists equal {Same(topK, exact.TopK, k):P2}");
        }
        Say($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, load average {File.ReadAllText("/proc/loadavg").Trim()}");
        foreach (var b in blocks) b.Queries.Dispose();
    }

    static (int[] TopK, float[] Scores, double Seconds) Lists(HrnnInference.ICaptureLists lists, List<HrnnInference.CaptureBlock> blocks, int k)
    {
        var topK = new List<int>(); var scores = new List<float>();
        var sw = Stopwatch.StartNew();
        var filled = blocks.Select(b => b with { TopK = new int[b.Users.Length * k], TopScores = new float[b.Users.Length * k], SeenFill = new int[b.Users.Length] }).ToList();
        foreach (var b in filled) lists.Fill(b);
        double seconds = sw.Elapsed.TotalSeconds;
        foreach (var b in filled) { topK.AddRange(b.TopK); scores.AddRange(b.TopScores); }
        return (topK.ToArray(), scores.ToArray(), seconds);
    }

    sealed record Dense(double Seconds, double Product, double Mix, double Padding, double TopK, int[] TopK_, float[] Scores);

    /// <summary>The dense path as HrnnInference's Capture runs it without <see cref="HrnnInference.Request.Lists"/>.</summary>
    static Dense DenseLists(HrnnModel model, HrnnModel.ItemRows items, List<HrnnInference.CaptureBlock> blocks, int k, int width)
    {
        int block = (int)Math.Clamp(2_000_000L / model.ItemTableSize, 8, 1024);
        var mixer = blocks.Count > 0 && blocks[0].Mix is not null ? new ReminderMixer(blocks[0].Data, width) : null;
        var topK = new List<int>(); var topScores = new List<float>();
        double product = 0, mix = 0, padding = 0, top = 0;
        using var pad = tensor(new long[] { 0 });
        var total = Stopwatch.StartNew();
        foreach (var b in blocks)
            for (int start = 0; start < b.Users.Length; start += block)
            {
                int n = Math.Min(block, b.Users.Length - start);
                using var scope = NewDisposeScope();
                long t0 = Stopwatch.GetTimestamp();
                var scores = model.ScoreAll(b.Queries.narrow(0, start, n), items);
                long t1 = Stopwatch.GetTimestamp();
                var mixed = mixer?.Mix(scores, b.History.AsSpan(start, n), model.Reminders) ?? scores;
                long t2 = Stopwatch.GetTimestamp();
                mixed.index_fill_(1, pad, Scalars.NegativeInfinity);
                long t3 = Stopwatch.GetTimestamp();
                var (values, indexes) = mixed.topk(k, 1);
                topK.AddRange(indexes.to_type(ScalarType.Int32).data<int>().ToArray());
                topScores.AddRange(values.data<float>().ToArray());
                long t4 = Stopwatch.GetTimestamp();
                product += Stopwatch.GetElapsedTime(t0, t1).TotalSeconds; mix += Stopwatch.GetElapsedTime(t1, t2).TotalSeconds;
                padding += Stopwatch.GetElapsedTime(t2, t3).TotalSeconds; top += Stopwatch.GetElapsedTime(t3, t4).TotalSeconds;
            }
        return new Dense(total.Elapsed.TotalSeconds, product, mix, padding, top, topK.ToArray(), topScores.ToArray());
    }

    static double Same(int[] a, int[] b, int k)
    {
        int users = a.Length / k, same = 0;
        for (int u = 0; u < users; u++) same += a.AsSpan(u * k, k).SequenceEqual(b.AsSpan(u * k, k)) ? 1 : 0;
        return (double)same / Math.Max(users, 1);
    }

    static double Recall(int[] approx, int[] exact, int k)
    {
        int users = exact.Length / k;
        long hit = 0;
        for (int u = 0; u < users; u++)
        {
            var truth = exact.AsSpan(u * k, k).ToArray().ToHashSet();
            foreach (int i in approx.AsSpan(u * k, k)) hit += truth.Contains(i) ? 1 : 0;
        }
        return (double)hit / Math.Max(exact.Length, 1);
    }

    /// <summary>The largest relative score change where both lists have the same item at the same rank.</summary>
    static double MaxChange(float[] a, float[] b, int[] itemsA, int[] itemsB)
    {
        double max = 0;
        for (int i = 0; i < a.Length; i++)
            if (itemsA[i] == itemsB[i] && float.IsFinite(a[i]) && float.IsFinite(b[i]))
                max = Math.Max(max, Math.Abs(a[i] - b[i]) / Math.Max(Math.Abs(b[i]), 1e-30));
        return max;
    }
}
