using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;

namespace HrnnPipeline.Scoring;

/// <summary>
/// The users' histories a version was scored from, kept with its score shards (<c>scores/&lt;version&gt;/history/</c>),
/// so the read API's session endpoint mixes the same history into its lists as scoring and evaluation did, even
/// after the next <c>prepare</c> has replaced the prepared splits.
/// </summary>
public sealed class ScoredHistory
{
    const string Folder = "history";
    static readonly string[] Files = [PreparedFiles.Train, PreparedFiles.Test, PreparedFiles.Users];
    // Kept too where prepare wrote them: what a refit model is scored from.
    static readonly string[] CompleteFiles = [PreparedFiles.Complete, PreparedFiles.CompleteItems];

    ScoredHistory(SessionDataset data, Dictionary<string, int> blockOfUser)
    {
        Data = data;
        _blockOfUser = blockOfUser;
    }

    readonly Dictionary<string, int> _blockOfUser;

    /// <summary>Every scored user's sessions, training and test alike, in scoring's order.</summary>
    public SessionDataset Data { get; }

    /// <summary>Copies the prepared splits scoring read (each file with its session index) beside the shards.</summary>
    public static void Keep(WorkDirectory work, string versionDir)
    {
        var target = Path.Combine(versionDir, Folder);
        Directory.CreateDirectory(target);
        foreach (var file in Files.Concat(CompleteFiles))
            foreach (var path in new[] { work.PreparedFile(file), ArrowSessions.SessionIndexPath(work.PreparedFile(file)),
                         OutcomeValues.PathOf(work.PreparedFile(file)) })
            {
                if (!File.Exists(path)) continue; // users.arrow has no session index
                // Shards may copy at once on shared storage: each writes its own temporary file, the last move wins.
                var tmp = Path.Combine(target, $"{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
                File.Copy(path, tmp);
                File.Move(tmp, Path.Combine(target, Path.GetFileName(path)), overwrite: true);
            }
    }

    /// <summary>The histories kept for a version, as scoring read them for a model of <paramref name="modelItems"/>;
    /// null for a version scored before they were kept.</summary>
    public static ScoredHistory? Load(string versionDir, IdMap modelItems)
    {
        var dir = Path.Combine(versionDir, Folder);
        if (!Files.All(f => File.Exists(Path.Combine(dir, f)))) return null;
        var data = UserHistories.ScoredBy(dir, modelItems);
        var users = IdMap.Read(Path.Combine(dir, PreparedFiles.Users));
        var blocks = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int b = 0; b < data.UserCount; b++) blocks[users.Ids[data.Users[b]]] = b;
        return new ScoredHistory(data, blocks);
    }

    /// <summary>
    /// The user's history followed by the clicks as a new session, as one user's dataset, and the row that predicts
    /// what follows the last click (or, with no click, the next session's start), as evaluation builds them.
    /// </summary>
    public (SessionDataset Data, HistoryRow Row)? WithClicks(string userId, IReadOnlyList<int> clicks)
    {
        if (!_blockOfUser.ContainsKey(userId) && clicks.Count == 0) return null;
        var users = new List<int>(); var sessions = new List<int>(); var items = new List<int>(); var times = new List<long>();
        if (_blockOfUser.TryGetValue(userId, out int block))
            for (int s = Data.UserStarts[block]; s < Data.UserStarts[block + 1]; s++)
                for (int e = Data.SessionStarts[s]; e < Data.SessionStarts[s + 1]; e++)
                {
                    users.Add(0); sessions.Add(s); items.Add(Data.Items[e]); times.Add(Data.Timestamps[e]);
                }
        foreach (int item in clicks)
        {
            users.Add(0); sessions.Add(int.MaxValue); items.Add(item); times.Add(long.MaxValue);
        }
        var data = SessionDataset.FromSortedEvents(users.ToArray(), sessions.ToArray(), items.ToArray(), times.ToArray());
        var row = clicks.Count == 0
            ? HistoryRow.Of(data, 0, -1, 0, sessionStart: true, capture: true)
            : HistoryRow.Of(data, 0, items.Count - 1, clicks.Count, sessionStart: false, capture: false);
        return (data, row);
    }
}
