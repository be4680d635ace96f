namespace HrnnPipeline.Features;

/// <summary>
/// Sessions of many users in flat arrays (no object per event), in the order the trainer consumes them: users,
/// then each user's sessions by start time, then events by time. This is what the Arrow IPC files hold.
/// </summary>
public sealed class SessionDataset
{
    /// <summary>Dense item index per event (1..N; 0 is padding and never appears).</summary>
    public required int[] Items { get; init; }
    /// <summary>Event time, Unix epoch milliseconds.</summary>
    public required long[] Timestamps { get; init; }
    /// <summary>Event offsets: session s spans Items[SessionStarts[s]..SessionStarts[s+1]). Length = sessions + 1.</summary>
    public required int[] SessionStarts { get; init; }
    /// <summary>Warehouse session index per session (stable across the split files).</summary>
    public required int[] SessionIds { get; init; }
    /// <summary>Session offsets: user block u spans sessions UserStarts[u]..UserStarts[u+1]). Length = users + 1.</summary>
    public required int[] UserStarts { get; init; }
    /// <summary>Dense user index per user block.</summary>
    public required int[] Users { get; init; }
    /// <summary>Outcome value per event (<see cref="OutcomeValues"/>); null when the log has none (every event a click).</summary>
    public float[]? Values { get; init; }

    /// <summary>The value of event <paramref name="e"/>: 1 (a click) without values.</summary>
    public float ValueOf(int e) => Values?[e] ?? 1f;

    public int EventCount => Items.Length;
    public int SessionCount => SessionStarts.Length - 1;
    public int UserCount => Users.Length;

    public ReadOnlySpan<int> SessionItems(int session) =>
        Items.AsSpan(SessionStarts[session], SessionStarts[session + 1] - SessionStarts[session]);

    public int SessionLength(int session) => SessionStarts[session + 1] - SessionStarts[session];

    public static SessionDataset Empty { get; } = new()
    {
        Items = [], Timestamps = [], SessionStarts = [0], SessionIds = [], UserStarts = [0], Users = [],
    };

    /// <summary>The sessions of the given user blocks, in that order.</summary>
    public SessionDataset OfUsers(IReadOnlyList<int> blocks)
    {
        var users = new List<int>(); var sessions = new List<int>(); var items = new List<int>(); var times = new List<long>();
        var values = Values is null ? null : new List<float>();
        foreach (int b in blocks)
            for (int s = UserStarts[b]; s < UserStarts[b + 1]; s++)
                for (int e = SessionStarts[s]; e < SessionStarts[s + 1]; e++)
                {
                    users.Add(Users[b]); sessions.Add(SessionIds[s]); items.Add(Items[e]); times.Add(Timestamps[e]);
                    values?.Add(Values![e]);
                }
        return FromSortedEvents(users.ToArray(), sessions.ToArray(), items.ToArray(), times.ToArray()).WithValues(values?.ToArray());
    }

    /// <summary>This dataset with per-event outcome values (one per event) or none.</summary>
    public SessionDataset WithValues(float[]? values)
    {
        if (values is not null && values.Length != EventCount)
            throw new ArgumentException($"{values.Length} values for {EventCount} events", nameof(values));
        return new SessionDataset
        {
            Items = Items, Timestamps = Timestamps, SessionStarts = SessionStarts, SessionIds = SessionIds,
            UserStarts = UserStarts, Users = Users, Values = values,
        };
    }

    /// <summary>
    /// Builds the flat arrays from events sorted by user, session and time. Used by the Arrow reader and by tests
    /// that hand-make tiny datasets.
    /// </summary>
    public static SessionDataset FromSortedEvents(
        ReadOnlySpan<int> users, ReadOnlySpan<int> sessions, ReadOnlySpan<int> items, ReadOnlySpan<long> timestamps)
    {
        var sessionStarts = new List<int>();
        var sessionIds = new List<int>();
        var userStarts = new List<int>();
        var userIds = new List<int>();
        var seenUsers = new HashSet<int>();
        for (int e = 0; e < items.Length; e++)
        {
            bool newUser = e == 0 || users[e] != users[e - 1];
            if (newUser)
            {
                if (!seenUsers.Add(users[e]))
                    throw new InvalidDataException($"events of user {users[e]} are not contiguous (event {e})");
                userStarts.Add(sessionStarts.Count);
                userIds.Add(users[e]);
            }
            if (newUser || sessions[e] != sessions[e - 1])
            {
                sessionStarts.Add(e);
                sessionIds.Add(sessions[e]);
            }
        }
        sessionStarts.Add(items.Length);
        userStarts.Add(sessionIds.Count);
        return new SessionDataset
        {
            Items = items.ToArray(),
            Timestamps = timestamps.ToArray(),
            SessionStarts = [.. sessionStarts],
            SessionIds = [.. sessionIds],
            UserStarts = [.. userStarts],
            Users = [.. userIds],
        };
    }
}
