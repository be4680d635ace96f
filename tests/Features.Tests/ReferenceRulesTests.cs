using HrnnPipeline.Features;

namespace HrnnPipeline.Tests.Features;

/// <summary>
/// Session by session, the lastfm train and test splits equal those of a plain-loop rendering of
/// shared/reference/prep.py (stable sort by user then time, gap split, repeat drop, one pass of each filter,
/// last session = test, test cleaned against train items).
/// </summary>
public sealed class ReferenceRulesTests : IClassFixture<LastfmFidelityTests.Prepared>
{
    readonly TestWarehouse _w;
    public ReferenceRulesTests(LastfmFidelityTests.Prepared prepared) => _w = prepared.Warehouse;

    [Fact]
    public void Train_and_test_sessions_equal_the_reference_rules_event_for_event()
    {
        var (train, test) = Reference(TestWarehouse.SharedFile("data/lastfm-jodie-10pct/lastfm.tsv"));
        Assert.Equal(Canonical(train), Canonical(Ours(PreparedFiles.Train)));
        Assert.Equal(Canonical(test), Canonical(Ours(PreparedFiles.Test)));
    }

    static List<string> Canonical(List<string> sessions) => [.. sessions.Order(StringComparer.Ordinal)];

    /// <summary>Each session of a split file as "user: item@seconds ...", with the original ids.</summary>
    List<string> Ours(string file)
    {
        var data = ArrowSessions.Read(_w.PreparedFile(file));
        var items = IdMap.Read(_w.PreparedFile(PreparedFiles.Items));
        var users = IdMap.Read(_w.PreparedFile(PreparedFiles.Users));
        var result = new List<string>();
        for (int u = 0; u < data.UserCount; u++)
            for (int s = data.UserStarts[u]; s < data.UserStarts[u + 1]; s++)
            {
                var events = Enumerable.Range(data.SessionStarts[s], data.SessionLength(s))
                    .Select(e => $"{items.Ids[data.Items[e]]}@{data.Timestamps[e] / 1000}");
                result.Add($"{users.Ids[data.Users[u]]}: {string.Join(' ', events)}");
            }
        return result;
    }

    static (List<string> Train, List<string> Test) Reference(string tsv)
    {
        var rows = File.ReadLines(tsv).Select(l => l.Split('\t')).Where(p => p.Length >= 3)
            .Select(p => (User: p[0], Item: p[1], Ts: long.Parse(p[2])))
            .OrderBy(r => r.User, StringComparer.Ordinal).ThenBy(r => r.Ts) // LINQ sorts stably, like Python
            .ToList();
        var sessions = new List<(string User, List<(string Item, long Ts)> Events)>();
        for (int i = 0; i < rows.Count; i++)
        {
            var (user, item, ts) = rows[i];
            if (i == 0 || user != rows[i - 1].User || ts - rows[i - 1].Ts > 1800) sessions.Add((user, []));
            var current = sessions[^1].Events;
            if (current.Count == 0 || current[^1].Item != item) current.Add((item, ts));
        }
        var support = sessions.SelectMany(s => s.Events).CountBy(e => e.Item).ToDictionary();
        sessions = [.. sessions.Select(s => (s.User, s.Events.Where(e => support[e.Item] >= 10).ToList()))
            .Where(s => s.Item2.Count >= 3)];
        var perUser = sessions.CountBy(s => s.User).ToDictionary();
        sessions = [.. sessions.Where(s => perUser[s.User] >= 5)];
        var last = new Dictionary<string, int>();
        for (int k = 0; k < sessions.Count; k++) last[sessions[k].User] = k;
        var train = sessions.Where((s, k) => last[s.User] != k).ToList();
        var trainItems = train.SelectMany(s => s.Events).Select(e => e.Item).ToHashSet();
        var test = sessions.Where((s, k) => last[s.User] == k)
            .Select(s => (s.User, Events: s.Events.Where(e => trainItems.Contains(e.Item)).ToList()))
            .Where(s => s.Events.Count >= 2).ToList();
        static string Show((string User, List<(string Item, long Ts)> Events) s) =>
            $"{s.User}: {string.Join(' ', s.Events.Select(e => $"{e.Item}@{e.Ts}"))}";
        return ([.. train.Select(Show)], [.. test.Select(Show)]);
    }
}
