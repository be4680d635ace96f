using HrnnPipeline.Features;
using HrnnPipeline.Ingest.Synthetic;

namespace HrnnPipeline.Tests.Training;

/// <summary>Small datasets for the trainer's tests, built in memory.</summary>
static class TestData
{
    /// <summary>Sessions given as item lists per user: users[u][s] = items.</summary>
    public static SessionDataset FromLists(int[][][] users, int firstUser = 0)
    {
        var u = new List<int>(); var s = new List<int>(); var i = new List<int>(); var t = new List<long>();
        int session = 0;
        for (int user = 0; user < users.Length; user++)
            foreach (var items in users[user])
            {
                foreach (var item in items) { u.Add(user + firstUser); s.Add(session); i.Add(item); t.Add(t.Count * 60_000L); }
                session++;
            }
        return SessionDataset.FromSortedEvents(u.ToArray(), s.ToArray(), i.ToArray(), t.ToArray());
    }

    public static IdMap Items(int count, long[]? support = null) =>
        new(Enumerable.Range(0, count + 1).Select(x => x == 0 ? "" : $"i{x}").ToArray(),
            support ?? Enumerable.Range(0, count + 1).Select(x => x == 0 ? 0L : count + 1L - x).ToArray(), 1);

    /// <summary>A generated log, sessionised with a 30-minute gap, items mapped densely; each user's last session is
    /// returned separately as the test session.</summary>
    public static (SessionDataset Train, SessionDataset Test, IdMap Items) Generated(int users, int items, int seed, double tasteStrength = 0.85, double favouriteShare = 0.10)
    {
        var gen = new SyntheticLogGenerator(new SyntheticLogOptions { Users = users, Items = items, Seed = seed, TasteStrength = tasteStrength, FavouriteShare = favouriteShare });
        var perUser = new Dictionary<int, List<List<int>>>();
        int lastUser = -1; long lastTs = 0;
        foreach (var (user, item, ts) in gen.Events())
        {
            if (!perUser.TryGetValue(user, out var sessions)) perUser[user] = sessions = [];
            if (user != lastUser || ts - lastTs > 1800) sessions.Add([]);
            var current = sessions[^1];
            if (current.Count == 0 || current[^1] != item) current.Add(item);
            lastUser = user; lastTs = ts;
        }
        var kept = perUser.Values.Select(ss => ss.Where(x => x.Count >= 2).ToList()).Where(ss => ss.Count >= 3).ToList();
        var train = TestData.FromLists(kept.Select(ss => ss.Take(ss.Count - 1).Select(x => x.ToArray()).ToArray()).ToArray());
        var test = TestData.FromLists(kept.Select(ss => new[] { ss[^1].ToArray() }).ToArray());
        var support = new long[items + 1];
        foreach (var item in train.Items) support[item]++;
        for (int i = 1; i <= items; i++) support[i] = Math.Max(support[i], 1);
        return (train, test, Items(items, support));
    }
}
