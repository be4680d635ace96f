using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;

namespace HrnnPipeline.Evaluation;

/// <summary>
/// What `evaluate` runs the protocol on: the catalogue (its counts: training support, so an item no training event
/// has counts 0, a cold item), the training sessions (<see cref="Train"/> = <see cref="Fit"/> + <see cref="Valid"/>,
/// what the baselines and the refit learn from), and one test session per user.
/// </summary>
public sealed record EvaluationSplits(IdMap Items, SessionDataset Train, SessionDataset Fit, SessionDataset Valid, SessionDataset Test,
    string Description)
{
    /// <summary>The prepared folder's splits: each user's last session is the test session; the catalogue is the
    /// training items, so no target is cold.</summary>
    public static EvaluationSplits Prepared(WorkDirectory work) => new(
        IdMap.Read(work.PreparedFile(PreparedFiles.Items)),
        ArrowSessions.Read(work.PreparedFile(PreparedFiles.Train)),
        ArrowSessions.Read(work.PreparedFile(PreparedFiles.Fit)),
        ArrowSessions.Read(work.PreparedFile(PreparedFiles.Valid)),
        ArrowSessions.Read(work.PreparedFile(PreparedFiles.Test)),
        "each user's last session (the paper's split)");

    /// <summary>
    /// The cold-start split (<c>evaluate --cold-start</c>), by time over every kept session of the prepared folder
    /// (<see cref="PreparedFiles.Complete"/>, the items only the latest sessions have included): a user's sessions
    /// starting before <paramref name="cutoff"/> are their training history, the first one starting at or after it is
    /// their test session (at least 2 events; users without history have none). The catalogue is every kept item, so
    /// the items first played after the cut-off are in the test period but in no training session: the cold items.
    /// Valid is each user's last training session (users with two or more), cleaned to the items fit has, as prepare
    /// cleans it. <paramref name="cutoff"/> null: the time by which 80% of the events had happened.
    /// </summary>
    public static EvaluationSplits ColdStart(WorkDirectory work, DateTimeOffset? cutoff)
    {
        var complete = work.PreparedFile(PreparedFiles.Complete);
        if (!File.Exists(complete) || !File.Exists(work.PreparedFile(PreparedFiles.CompleteItems)))
            throw new PipelineException($"--cold-start: {complete} is missing; prepare the input again with this version");
        var (items, sessions) = UserHistories.Complete(work.Prepared);
        return ColdStart(items, sessions, cutoff);
    }

    /// <summary>The cold-start split of <paramref name="sessions"/> (items indexed by <paramref name="items"/>).</summary>
    public static EvaluationSplits ColdStart(IdMap items, SessionDataset sessions, DateTimeOffset? cutoff)
    {
        if (sessions.EventCount == 0) throw new PipelineException("--cold-start: the prepared data has no sessions");
        long cut = cutoff?.ToUnixTimeMilliseconds() ?? Quantile(sessions.Timestamps, 0.8);
        var train = new Builder(); var fit = new Builder(); var valid = new Builder(); var test = new Builder();
        var fitSupport = new long[items.TableSize];
        var trainSupport = new long[items.TableSize];
        var validSessions = new List<(int User, int Session)>();
        for (int u = 0; u < sessions.UserCount; u++)
        {
            int first = sessions.UserStarts[u], end = sessions.UserStarts[u + 1];
            int history = first;
            while (history < end && sessions.Timestamps[sessions.SessionStarts[history]] < cut) history++;
            if (history == first) continue;
            // A user without a test session still trains; valid is the last history session of a user with two or more.
            int lastFit = history - first >= 2 ? history - 1 : history;
            for (int s = first; s < history; s++)
            {
                train.Add(sessions, u, s, _ => true);
                foreach (int item in sessions.SessionItems(s)) trainSupport[item]++;
                if (s >= lastFit) continue;
                fit.Add(sessions, u, s, _ => true);
                foreach (int item in sessions.SessionItems(s)) fitSupport[item]++;
            }
            if (lastFit < history) validSessions.Add((u, lastFit));
            if (history < end && sessions.SessionLength(history) >= 2) test.Add(sessions, u, history, _ => true);
        }
        foreach (var (u, s) in validSessions) valid.Add(sessions, u, s, item => fitSupport[item] > 0, minLength: 2);
        var fitData = fit.Build();
        var validData = valid.Build();
        var testData = test.Build();
        if (testData.UserCount == 0)
            throw new PipelineException(
                $"--cold-start: no user has a session before and one of 2 or more events after the cut-off {Describe(cut)}; choose another cut-off");
        var catalogue = new IdMap(items.Ids, trainSupport, items.FirstIndex);
        int cold = Ranking.ColdItems(trainSupport).Length;
        return new EvaluationSplits(catalogue, train.Build(), fitData, validData, testData,
            $"cold start: training sessions start before {Describe(cut)}, each user's first session from then on is the test session; " +
            $"{cold:N0} of {items.Count:N0} items have no training event (cold)");
    }

    static string Describe(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'");

    static long Quantile(long[] values, double q)
    {
        var sorted = (long[])values.Clone();
        Array.Sort(sorted);
        return sorted[(int)Math.Min(sorted.Length - 1, Math.Floor(q * sorted.Length))];
    }

    /// <summary>Sessions copied event by event, in user then session order (what SessionDataset.FromSortedEvents reads).</summary>
    sealed class Builder
    {
        readonly List<int> _users = [], _sessions = [], _items = [];
        readonly List<long> _times = [];
        List<float>? _values;

        public void Add(SessionDataset source, int block, int session, Func<int, bool> keep, int minLength = 1)
        {
            int kept = 0;
            foreach (int item in source.SessionItems(session)) if (keep(item)) kept++;
            if (kept < minLength) return;
            for (int e = source.SessionStarts[session]; e < source.SessionStarts[session + 1]; e++)
            {
                if (!keep(source.Items[e])) continue;
                _users.Add(source.Users[block]); _sessions.Add(source.SessionIds[session]);
                _items.Add(source.Items[e]); _times.Add(source.Timestamps[e]);
                if (source.Values is not null) (_values ??= []).Add(source.Values[e]);
            }
        }

        /// <summary>The sessions, with their outcome values where the source has them.</summary>
        public SessionDataset Build() => SessionDataset.FromSortedEvents(
            _users.ToArray(), _sessions.ToArray(), _items.ToArray(), _times.ToArray()).WithValues(_values?.ToArray());
    }
}
