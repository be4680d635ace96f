namespace HrnnPipeline.Evaluation.Baselines;

/// <summary>
/// Encodes "primary score, ties broken by popularity" exactly in float scores. Adding a tiny popularity term
/// (as the Python reference does in double) vanishes in float, so instead every item gets its popularity level
/// 1..D (equal support, equal level) and items with a positive primary score are lifted above D by their dense
/// rank on (primary, popularity). Scores stay small integers, exact in float up to 2^24 levels.
/// </summary>
public sealed class PopularityTieBreak
{
    public PopularityTieBreak(long[] popularity)
    {
        Popularity = popularity;
        Levels = new float[popularity.Length];
        var order = Enumerable.Range(1, popularity.Length - 1).OrderBy(i => popularity[i]).ToArray();
        int level = 0;
        for (int r = 0; r < order.Length; r++)
        {
            if (r == 0 || popularity[order[r]] != popularity[order[r - 1]]) level++;
            Levels[order[r]] = level;
        }
        DistinctLevels = level;
    }

    /// <summary>Training support per item (slot 0 padding).</summary>
    public long[] Popularity { get; }
    /// <summary>Popularity level per item: the score of an item with no primary score.</summary>
    public float[] Levels { get; }
    public int DistinctLevels { get; }

    /// <summary>Training support (events) per item 1..N.</summary>
    public static long[] Count(ReadOnlySpan<int> items, int catalogueSize)
    {
        var counts = new long[catalogueSize + 1];
        foreach (int item in items) counts[item]++;
        return counts;
    }

    /// <summary>
    /// Sorts <paramref name="candidates"/> ascending by (primary, popularity) and gives each its lifted score in
    /// <paramref name="lifted"/> (same order): above every popularity level, equal only for equal keys.
    /// </summary>
    public void Lift(Span<Candidate> candidates, Span<float> lifted)
    {
        var popularity = Popularity;
        candidates.Sort((a, b) =>
        {
            int c = a.Primary.CompareTo(b.Primary);
            return c != 0 ? c : popularity[a.Item].CompareTo(popularity[b.Item]);
        });
        int level = DistinctLevels;
        for (int r = 0; r < candidates.Length; r++)
        {
            if (r == 0 || candidates[r].Primary != candidates[r - 1].Primary
                       || popularity[candidates[r].Item] != popularity[candidates[r - 1].Item])
                level++;
            lifted[r] = level;
        }
    }

    /// <summary><see cref="Lift(Span{Candidate}, Span{float})"/> written straight into a score vector.</summary>
    public void LiftInto(Span<Candidate> candidates, Span<float> scores)
    {
        var lifted = new float[candidates.Length];
        Lift(candidates, lifted);
        for (int r = 0; r < candidates.Length; r++) scores[candidates[r].Item] = lifted[r];
    }

    /// <summary>
    /// A whole score vector from signed primaries: every item gets its popularity level, positive primaries are
    /// lifted above all levels, negative ones pushed below them (a negative score ranks under the unscored items,
    /// as it does in session-rec), zero counts as unscored. Reorders <paramref name="candidates"/>.
    /// </summary>
    public void RankInto(Span<Candidate> candidates, Span<float> scores)
    {
        Levels.CopyTo(scores);
        int positive = 0;
        for (int c = 0; c < candidates.Length; c++)
            if (candidates[c].Primary > 0) (candidates[positive], candidates[c]) = (candidates[c], candidates[positive++]);
        LiftInto(candidates[..positive], scores);
        int negative = 0;
        var rest = candidates[positive..];
        for (int c = 0; c < rest.Length; c++)
            if (rest[c].Primary < 0) (rest[negative], rest[c]) = (rest[c], rest[negative++]);
        if (negative == 0) return;
        var below = rest[..negative];
        var lifted = new float[negative];
        Lift(below, lifted);
        // The same dense levels, shifted so the highest negative sits at 0, under level 1.
        for (int r = 0; r < negative; r++) scores[below[r].Item] = lifted[r] - lifted[^1];
    }
}

/// <summary>An item with a positive primary score (co-occurrence similarity, user count, neighbour weight).</summary>
public record struct Candidate(int Item, double Primary);
