using System.Globalization;
using System.Text;

namespace HrnnPipeline.Ingest.Synthetic;

/// <summary>What the generator writes beside the clicks.</summary>
public enum SyntheticOutcomes
{
    /// <summary>user_id,item_id,timestamp only (the default; the output is unchanged by the outcome code).</summary>
    None,
    /// <summary>A value column: 0 for an item the user dislikes, otherwise a rating / 5 in {0.2 .. 1.0}.</summary>
    Ratings,
    /// <summary>An event_type column: the clicks are views, and some sessions end in a purchase of an item viewed in them.</summary>
    Purchases,
}

/// <summary>
/// The outcome logs, built on the very same clicks as the plain log (their randomness is drawn from generators of
/// their own, so the click stream of a seed does not change). Known effects, for the outcome modes to find:
/// <list type="bullet">
/// <item>Ratings: every user has a trait (0..3, from their first main category) and every item one (from its id); a
/// user dislikes (value 0) the items whose trait equals theirs, also inside the categories they click most. Other items get a rating of
/// 3 + 1.2 q_i + 0.8 b_u + noise, clamped to 1..5, divided by 5: q_i an item quality, b_u a user bias. A user's mean
/// value misses q_i and the dislikes; a model of the next item's value can learn both.</item>
/// <item>Purchases: with probability 0.3 a session ends in a purchase of one of the items viewed in it (one not
/// disliked, if the user has any such), a minute after its last view.</item>
/// </list>
/// </summary>
public sealed partial class SyntheticLogGenerator
{
    /// <summary>The user's trait: items with the same trait are disliked. It follows the user's first main taste (a
    /// category), so the clicks reveal it: a model can learn which items a user who clicks such a category rejects.</summary>
    int UserTrait(int user)
    {
        // The first draws of UserEvents' generator: the number of tastes, then the first taste.
        var rng = new Random(unchecked(_o.Seed * 1_000_003 + user * 7_919 + 0x5eed));
        _ = rng.Next(3);
        return Draw(_groupWeightCdf, rng) % 4;
    }

    static int ItemTrait(int item, int seed) => (int)(Mix(seed, item, 0x17e4) % 4);

    /// <summary>True when the user dislikes the item (value 0 in the ratings log).</summary>
    public bool Dislikes(int user, int item) => UserTrait(user) == ItemTrait(item, _o.Seed);

    /// <summary>A stable 64-bit mix of (seed, id, salt): the same in every process, unlike HashCode.</summary>
    static ulong Mix(int seed, int id, int salt)
    {
        ulong x = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)id * 0xC2B2AE3D27D4EB4FUL ^ (ulong)salt);
        x ^= x >> 33; x = unchecked(x * 0xFF51AFD7ED558CCDUL);
        x ^= x >> 33; x = unchecked(x * 0xC4CEB9FE1A85EC53UL);
        return x ^ (x >> 33);
    }

    /// <summary>A standard normal from a mixed id: the item quality and the user bias.</summary>
    static double Normal(int seed, int id, int salt)
    {
        double u1 = 1.0 - (Mix(seed, id, salt) >> 11) * (1.0 / (1UL << 53));
        double u2 = (Mix(seed, id, salt + 1) >> 11) * (1.0 / (1UL << 53));
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>The rating log's value of one click.</summary>
    double Rating(int user, int item, Random noise)
    {
        if (Dislikes(user, item)) return 0;
        double rating = 3 + 1.2 * Normal(_o.Seed, item, 0x9a1) + 0.8 * Normal(_o.Seed, user, 0xb1a5) + 0.5 * Gaussian(noise);
        return Math.Clamp(Math.Round(rating), 1, 5) / 5;
    }

    static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>The events of the outcome logs: the clicks, each with its type or value, and the purchases.</summary>
    public IEnumerable<(int User, int Item, long Timestamp, string? Type, double? Value)> OutcomeEvents()
    {
        for (int u = 0; u < _o.Users; u++)
        {
            var rng = new Random(unchecked(_o.Seed * 1_000_003 + u * 7_919 + 0x0c0e));
            if (_o.Outcomes == SyntheticOutcomes.Ratings)
            {
                foreach (var (user, item, ts) in UserEvents(u)) yield return (user, item, ts, null, Rating(user, item, rng));
                continue;
            }
            var session = new List<int>();
            long last = long.MinValue;
            foreach (var (user, item, ts) in UserEvents(u))
            {
                // Gaps inside a session are under 30 minutes and between sessions at least an hour.
                if (session.Count > 0 && ts - last > 1800)
                {
                    if (Purchase(u, session, rng) is { } bought) yield return (u, bought, last + 60, "purchase", null);
                    session.Clear();
                }
                session.Add(item);
                last = ts;
                yield return (user, item, ts, "view", null);
            }
            if (session.Count > 0 && Purchase(u, session, rng) is { } final) yield return (u, final, last + 60, "purchase", null);
        }
    }

    int? Purchase(int user, List<int> viewed, Random rng)
    {
        if (rng.NextDouble() >= 0.3) return null;
        var liked = viewed.Where(i => !Dislikes(user, i)).ToList();
        var from = liked.Count > 0 ? liked : viewed;
        return from[rng.Next(from.Count)];
    }

    long WriteWithOutcomes(string path, IProgress<long>? progress)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        var tmp = path + ".tmp";
        long events = 0;
        bool ratings = _o.Outcomes == SyntheticOutcomes.Ratings;
        using (var writer = new StreamWriter(tmp, false, new UTF8Encoding(false), 1 << 20))
        {
            writer.Write(ratings ? "user_id,item_id,timestamp,value\n" : "user_id,item_id,timestamp,event_type\n");
            foreach (var (user, item, ts, type, value) in OutcomeEvents())
            {
                writer.Write(string.Create(CultureInfo.InvariantCulture,
                    $"u{user},i{item},{ts},{(ratings ? value!.Value.ToString("0.0", CultureInfo.InvariantCulture) : type)}\n"));
                if ((++events & 0xFFFFF) == 0) progress?.Report(events);
            }
        }
        File.Move(tmp, path, overwrite: true);
        progress?.Report(events);
        return events;
    }
}
