using System.Buffers.Text;
using System.Text;

namespace HrnnPipeline.Ingest.Synthetic;

public sealed record SyntheticLogOptions
{
    public int Users { get; init; } = 1000;
    public int Items { get; init; } = 2000;
    public int Seed { get; init; } = 42;
    /// <summary>Mean sessions per user (geometric-like, long tail).</summary>
    public double MeanSessions { get; init; } = 12;
    /// <summary>Mean events per session (log-normal, long tail).</summary>
    public double MeanSessionLength { get; init; } = 6;
    /// <summary>Share of a session's clicks drawn from the user's tastes rather than global popularity.</summary>
    public double TasteStrength { get; init; } = 0.85;
    /// <summary>Share of clicks that return to one of the user's few favourite items.</summary>
    public double FavouriteShare { get; init; } = 0.10;
    public long StartUnixSeconds { get; init; } = 1_700_000_000;
    /// <summary>Also write item and user metadata files beside the log (see <see cref="SyntheticLogGenerator.WriteMetadata"/>).</summary>
    public bool Metadata { get; init; }
    /// <summary>With <see cref="Metadata"/>: items added to the catalogue late, clicked only after <see cref="NewItemsAfterDays"/>.</summary>
    public int NewItems { get; init; }
    public double NewItemsAfterDays { get; init; } = 40;
    /// <summary>Extra columns with a known effect (<see cref="SyntheticOutcomes"/>); None writes the plain log.</summary>
    public SyntheticOutcomes Outcomes { get; init; } = SyntheticOutcomes.None;
}

/// <summary>
/// A seeded synthetic interaction log with the structure HRNN is meant to exploit: Zipf item popularity; items in
/// taste groups; each user holds a few long-term tastes that persist across sessions and drift slowly, plus a few
/// favourite items they come back to; a session mostly draws from one taste and often moves to a related item;
/// session lengths, clicks gaps (seconds to minutes) and gaps between sessions (hours to days) are skewed.
/// Users are generated independently from (seed, user), so the output is identical for a seed at any size.
/// </summary>
public sealed partial class SyntheticLogGenerator
{
    readonly SyntheticLogOptions _o;
    readonly int _groups;
    readonly int[][] _groupItems;      // items of each group, most popular first
    readonly double[][] _groupCdf;     // Zipf within group
    readonly double[] _groupWeightCdf; // how popular each group is
    readonly double[] _globalCdf;      // Zipf over all items (index = item - 1)
    readonly int[] _itemGroup;
    readonly int[] _itemPosition;      // index of each item in its group's list

    public SyntheticLogGenerator(SyntheticLogOptions options)
    {
        if (options.Users < 1 || options.Items < 2) throw new ArgumentException("need at least 1 user and 2 items");
        if (options.FavouriteShare is < 0 or > 0.6) throw new ArgumentException($"favourite share {options.FavouriteShare}: must be in [0, 0.6]");
        _o = options;
        var rng = new Random(options.Seed);
        int items = options.Items;
        _groups = Math.Clamp(items / 50, 2, 2000);
        // Global Zipf(1.0) popularity over a random permutation of item ids.
        var rankOf = Enumerable.Range(0, items).ToArray();
        rng.Shuffle(rankOf);
        var weight = new double[items];
        for (int i = 0; i < items; i++) weight[i] = 1.0 / Math.Pow(rankOf[i] + 1, 1.0);
        _globalCdf = Cdf(weight);
        _itemGroup = new int[items];
        var members = Enumerable.Range(0, _groups).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < items; i++)
        {
            _itemGroup[i] = rng.Next(_groups);
            members[_itemGroup[i]].Add(i + 1);
        }
        for (int g = 0; g < _groups; g++) if (members[g].Count == 0) members[g].Add(rng.Next(items) + 1);
        _groupItems = members.Select(m => m.OrderByDescending(i => weight[i - 1]).ToArray()).ToArray();
        _groupCdf = _groupItems.Select(m => Cdf(m.Select((_, r) => 1.0 / (r + 1)).ToArray())).ToArray();
        _groupWeightCdf = Cdf(_groupItems.Select(m => m.Sum(i => weight[i - 1])).ToArray());
        _itemPosition = new int[items];
        foreach (var m in _groupItems)
            for (int p = 0; p < m.Length; p++) _itemPosition[m[p] - 1] = p;
    }

    static double[] Cdf(double[] w)
    {
        var cdf = new double[w.Length];
        double total = w.Sum(), acc = 0;
        for (int i = 0; i < w.Length; i++) cdf[i] = acc += w[i] / total;
        cdf[^1] = 1.0;
        return cdf;
    }

    static int Draw(double[] cdf, Random rng)
    {
        int i = Array.BinarySearch(cdf, rng.NextDouble());
        return Math.Min(i < 0 ? ~i : i, cdf.Length - 1);
    }

    static double LogNormal(Random rng, double mean, double sigma)
    {
        // Box-Muller; mu chosen so the distribution's mean is `mean`.
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        double z = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        return Math.Exp(Math.Log(mean) - sigma * sigma / 2 + sigma * z);
    }

    /// <summary>Writes the log as CSV with a header; returns the number of events.</summary>
    public long Write(string path, IProgress<long>? progress = null)
    {
        if (_o.Outcomes != SyntheticOutcomes.None) return WriteWithOutcomes(path, progress);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        var tmp = path + ".tmp";
        long events = 0;
        using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            stream.Write("user_id,item_id,timestamp\n"u8);
            var buffer = new byte[1 << 20];
            int used = 0;
            foreach (var (user, item, ts) in _o.NewItems > 0 ? WithNewItems(Events()) : Events())
            {
                if (used > buffer.Length - 64) { stream.Write(buffer, 0, used); used = 0; }
                used += Format(buffer.AsSpan(used), user, item, ts);
                if ((++events & 0xFFFFF) == 0) progress?.Report(events);
            }
            stream.Write(buffer, 0, used);
        }
        File.Move(tmp, path, overwrite: true);
        progress?.Report(events);
        return events;
    }

    static int Format(Span<byte> span, int user, int item, long ts)
    {
        int n = 0;
        span[n++] = (byte)'u';
        Utf8Formatter.TryFormat(user, span[n..], out int w); n += w;
        span[n++] = (byte)',';
        span[n++] = (byte)'i';
        Utf8Formatter.TryFormat(item, span[n..], out w); n += w;
        span[n++] = (byte)',';
        Utf8Formatter.TryFormat(ts, span[n..], out w); n += w;
        span[n++] = (byte)'\n';
        return n;
    }

    /// <summary>All events, user by user, in time order within a user.</summary>
    public IEnumerable<(int User, int Item, long Timestamp)> Events()
    {
        for (int u = 0; u < _o.Users; u++)
            foreach (var e in UserEvents(u))
                yield return e;
    }

    IEnumerable<(int User, int Item, long Timestamp)> UserEvents(int user)
    {
        // Not HashCode.Combine: it is randomised per process, and the log must be the same for a seed in every run.
        var rng = new Random(unchecked(_o.Seed * 1_000_003 + user * 7_919 + 0x5eed));
        // Long-term tastes: 2-4 groups with uneven weights; a few favourite items inside them.
        int tasteCount = 2 + rng.Next(3);
        var tastes = new int[tasteCount];
        var tasteWeight = new double[tasteCount];
        for (int t = 0; t < tasteCount; t++)
        {
            tastes[t] = Draw(_groupWeightCdf, rng);
            tasteWeight[t] = 1.0 / (t + 1);
        }
        var favourites = new int[2 + rng.Next(4)];
        for (int f = 0; f < favourites.Length; f++)
        {
            var g = tastes[rng.Next(tasteCount)];
            favourites[f] = _groupItems[g][Draw(_groupCdf[g], rng)];
        }
        // Within a taste, each user prefers their own part of the group: popularity ranks are rotated by a
        // per-user offset, so two users sharing a taste still click different items.
        var offsets = tastes.Select(g => rng.Next(_groupItems[g].Length)).ToArray();
        int sessions = 1 + (int)Math.Min(LogNormal(rng, _o.MeanSessions, 1.0), 500);
        long ts = _o.StartUnixSeconds + (long)(rng.NextDouble() * 30 * 86400);
        for (int s = 0; s < sessions; s++)
        {
            // Slow drift: now and then one taste is replaced by a new group.
            if (rng.NextDouble() < 0.05)
            {
                int replaced = rng.Next(tasteCount);
                tastes[replaced] = Draw(_groupWeightCdf, rng);
                offsets[replaced] = rng.Next(_groupItems[tastes[replaced]].Length);
            }
            int taste = Draw(Cdf(tasteWeight), rng);
            int group = tastes[taste];
            var members = _groupItems[group];
            int length = 1 + (int)Math.Min(LogNormal(rng, _o.MeanSessionLength, 0.8), 200);
            int item = 0;
            for (int e = 0; e < length; e++)
            {
                double r = rng.NextDouble();
                double fav = _o.FavouriteShare;
                if (r < fav) item = favourites[rng.Next(favourites.Length)];
                else if (item != 0 && r < fav + 0.35)
                {
                    // A related item: the neighbour of the current one in its group's popularity order.
                    var related = _groupItems[_itemGroup[item - 1]];
                    int pos = _itemPosition[item - 1];
                    item = related[(pos + 1 + rng.Next(2)) % related.Length];
                }
                else if (r < fav + _o.TasteStrength * (1 - fav))
                    item = members[(Draw(_groupCdf[group], rng) + offsets[taste]) % members.Length];
                else item = Draw(_globalCdf, rng) + 1;
                yield return (user, item, ts);
                ts += 5 + (long)Math.Min(LogNormal(rng, 90, 1.0), 1500); // seconds to minutes, always < 30 min
            }
            ts += 3600 + (long)Math.Min(LogNormal(rng, 36 * 3600, 1.2), 30 * 86400); // hours to days
        }
    }
}
