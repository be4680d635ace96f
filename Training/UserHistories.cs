using HrnnPipeline.Features;

namespace HrnnPipeline.Training;

/// <summary>
/// Joins each user's history with later sessions, so the model is bootstrapped with the whole history
/// (Quadrana et al. 2017 sec. 4.3) before the later sessions are evaluated, or before the next session is scored.
/// </summary>
public static class UserHistories
{
    /// <summary>Users of <paramref name="evaluated"/>, each with their history first; per session, whether it is
    /// evaluated. Users with no evaluated session are left out.</summary>
    /// <param name="historySessions">Keep only each user's last this many history sessions (0 = the whole history):
    /// validation's bound (<see cref="HrnnSettings.ValidationHistorySessions"/>).</param>
    public static (SessionDataset Data, bool[] Evaluated) Join(SessionDataset history, SessionDataset evaluated, int historySessions = 0) =>
        Build(history, evaluated, keepHistoryOnlyUsers: false, historySessions);

    /// <summary>What the published model learns from (the refit) and every user's history it is scored from, in a folder
    /// of prepared files: every kept session whole, the latest included, with the items only the latest sessions have
    /// (<see cref="PreparedFiles.Complete"/>); in folders prepared before that file existed, the training sessions
    /// followed by the cleaned test sessions, over the split's item map.</summary>
    public static (IdMap Items, SessionDataset Sessions) Complete(string folder) =>
        CompleteItems(folder) is { } items
            ? (items, ArrowSessions.Read(Path.Combine(folder, PreparedFiles.Complete)))
            : (IdMap.Read(Path.Combine(folder, PreparedFiles.Items)), TrainThenTest(folder));

    /// <summary>The histories a model indexed by <paramref name="modelItems"/> is scored from: <see cref="Complete"/>
    /// where the model knows its items (a refit model; a model with metadata has items only metadata knows after them),
    /// else (a model of the split's item map) the training sessions followed by the cleaned test sessions, whose items it knows.</summary>
    public static SessionDataset ScoredBy(string folder, IdMap modelItems) =>
        CompleteItems(folder) is { } items && modelItems.Ids.AsSpan().StartsWith(items.Ids)
            ? ArrowSessions.Read(Path.Combine(folder, PreparedFiles.Complete))
            : TrainThenTest(folder);

    /// <summary>The complete dataset's item map, or null where the folder has no complete dataset.</summary>
    static IdMap? CompleteItems(string folder) =>
        File.Exists(Path.Combine(folder, PreparedFiles.Complete)) && File.Exists(Path.Combine(folder, PreparedFiles.CompleteItems))
            ? IdMap.Read(Path.Combine(folder, PreparedFiles.CompleteItems))
            : null;

    static SessionDataset TrainThenTest(string folder) =>
        Concatenate(ArrowSessions.Read(Path.Combine(folder, PreparedFiles.Train)), ArrowSessions.Read(Path.Combine(folder, PreparedFiles.Test)));

    /// <summary>Every user of either dataset, with their sessions of <paramref name="first"/> then of <paramref name="second"/>.</summary>
    public static SessionDataset Concatenate(SessionDataset first, SessionDataset second) =>
        Build(first, second, keepHistoryOnlyUsers: true).Data;

    static (SessionDataset Data, bool[] Flags) Build(SessionDataset history, SessionDataset later, bool keepHistoryOnlyUsers,
        int historySessions = 0)
    {
        var laterBlock = new Dictionary<int, int>(later.UserCount);
        for (int u = 0; u < later.UserCount; u++) laterBlock[later.Users[u]] = u;
        var historyBlock = new Dictionary<int, int>(history.UserCount);
        for (int u = 0; u < history.UserCount; u++) historyBlock[history.Users[u]] = u;

        var users = keepHistoryOnlyUsers
            ? history.Users.Concat(later.Users.Where(u => !historyBlock.ContainsKey(u))).ToArray()
            : later.Users.ToArray();
        var items = new List<int>(history.EventCount + later.EventCount);
        var times = new List<long>(items.Capacity);
        var values = history.Values is null && later.Values is null ? null : new List<float>(items.Capacity);
        var sessionStarts = new List<int> { 0 };
        var sessionIds = new List<int>();
        var userStarts = new List<int> { 0 };
        var flags = new List<bool>();

        void AppendUser(SessionDataset source, int block, bool flag, int lastSessions)
        {
            int first = source.UserStarts[block], end = source.UserStarts[block + 1];
            if (lastSessions > 0) first = Math.Max(first, end - lastSessions);
            for (int s = first; s < end; s++)
            {
                for (int e = source.SessionStarts[s]; e < source.SessionStarts[s + 1]; e++)
                {
                    items.Add(source.Items[e]);
                    times.Add(source.Timestamps[e]);
                    values?.Add(source.ValueOf(e));
                }
                sessionStarts.Add(items.Count);
                sessionIds.Add(source.SessionIds[s]);
                flags.Add(flag);
            }
        }

        foreach (var user in users)
        {
            if (historyBlock.TryGetValue(user, out var h)) AppendUser(history, h, false, historySessions);
            if (laterBlock.TryGetValue(user, out var l)) AppendUser(later, l, true, 0);
            userStarts.Add(sessionIds.Count);
        }
        var data = new SessionDataset
        {
            Items = [.. items], Timestamps = [.. times], SessionStarts = [.. sessionStarts], SessionIds = [.. sessionIds],
            UserStarts = [.. userStarts], Users = users, Values = values?.ToArray(),
        };
        return (data, [.. flags]);
    }
}
