using HrnnPipeline.Features;
using HrnnPipeline.Scoring.Publishing;

namespace HrnnPipeline.Tests.Scoring;

/// <summary>
/// Deterministic score shards standing in for the scorer: which items a user gets depends on the user and on a
/// per-version seed, so a reader can tell from the items alone which version a list came from.
/// </summary>
public static class FakeScores
{
    public const int StateSize = 4;

    /// <summary>A user id with non-ASCII letters, a space and a slash: ids are stored and served as given.</summary>
    public const string OddUser = "usér ü/7";

    public static string UserId(int u) => u == 7 ? OddUser : $"user-{u}";

    public static string ItemId(int idx) => $"item-{idx:D5}";

    public static IdMap Items(int itemCount)
    {
        var ids = new string[itemCount + 1];
        var counts = new long[itemCount + 1];
        ids[0] = "";
        for (int i = 1; i <= itemCount; i++)
        {
            ids[i] = ItemId(i);
            counts[i] = 1000 - i;
        }
        return new IdMap(ids, counts, firstIndex: 1);
    }

    /// <summary>Dense item index of the user's rank-th item (1-based) in a version with this seed.</summary>
    public static int ItemIdx(int seed, int u, int rank, int itemCount) => (u * 13 + seed * 101 + rank - 1) % itemCount + 1;

    public static float Score(int seed, int rank) => seed + 1f - rank / 1000f;

    public static float[] UserState(int seed, int u) => [seed, u, 0.5f, -1f];

    public static float[] SessionState(int seed, int u) => [u, seed, -0.25f, 2f];

    /// <summary>Writes <paramref name="users"/> users' top-<paramref name="k"/> lists into <paramref name="shards"/> shards,
    /// their markers saying they were scored as <paramref name="scoringMode"/>.</summary>
    public static string Write(string scoresRoot, string version, int seed, int users, int k, int itemCount, int shards = 2,
        string scoringMode = "exact")
    {
        if (k > itemCount) throw new ArgumentException("k must not exceed the item count");
        var versionDir = Path.Combine(scoresRoot, version);
        var itemIds = new string[k];
        var scores = new float[k];
        for (int s = 0; s < shards; s++)
        {
            using var writer = new ScoreShardWriter(versionDir, s, shards) { ScoringMode = scoringMode };
            for (int u = s; u < users; u += shards)
            {
                for (int r = 1; r <= k; r++)
                {
                    itemIds[r - 1] = ItemId(ItemIdx(seed, u, r, itemCount));
                    scores[r - 1] = Score(seed, r);
                }
                writer.Add(UserId(u), itemIds, scores, UserState(seed, u), SessionState(seed, u));
            }
            writer.Complete();
        }
        return versionDir;
    }
}
