using System.Diagnostics;
using HrnnPipeline.Features;
using HrnnPipeline.Scoring.Publishing;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;

namespace HrnnPipeline.Scoring;

/// <param name="UsersWithSeenItems">With seen items excluded: users who had fewer unseen items than the list length,
/// whose lists end with the best-scored items they have already seen (0 otherwise).</param>
public sealed record ScoreResult(string Version, int Shard, int ShardCount, long Users, double Seconds, long UsersWithSeenItems)
{
    /// <summary>Each configured filter's lists (Scoring:Filters): how many users, how many lists came out short.</summary>
    public IReadOnlyList<Filters.FilterFill> Filters { get; init; } = [];
    /// <summary>With Scoring:ExplorationWeight above 0: the cold items with metadata, and the lists that got some.</summary>
    public int ColdItems { get; init; }
    public long ListsWithColdItems { get; init; }

    public double UsersPerSecond => Users / Math.Max(Seconds, 1e-9);
    /// <summary>Users left without a list: the value filter (Scoring:MinOutcome) rejected every candidate.</summary>
    public long UsersFilteredOut { get; init; }
    /// <summary>"exact" (the default) or "approximate" (<see cref="ScoringOptions.Approximate"/>).</summary>
    public string ScoringMode { get; init; } = "exact";
    /// <summary>The approximate mode's candidate index, described; null when exact.</summary>
    public string? CandidateIndex { get; init; }
}

/// <summary>
/// The scoring stage: every user with history (all their prepared sessions, training and test alike) is run
/// through the model to get the user state c_u and the next session's initial state s_0, and the top-k for that
/// session's start; one shard of users per call, written as shard files that publishing picks up. With
/// <see cref="ScoringOptions.ExcludeSeen"/> the unseen items come first and a user who has seen nearly everything gets
/// the list filled up with the best-scored seen items, so every user's list is k long.
/// </summary>
public static class Scorer
{
    public static ScoreResult Score(WorkDirectory work, string? version, int shard, int shardCount, ScoringOptions options,
        CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        using var loaded = ModelStore.Load(work.Models, version, options.Device);
        using var threads = TorchRuntime.AllCores();
        var users = IdMap.Read(work.PreparedFile(PreparedFiles.Users));
        var history = UserHistories.ScoredBy(work.Prepared, loaded.Items);
        var mine = Enumerable.Range(0, history.UserCount)
            .Where(b => UserShards.ShardOf(users.Ids[history.Users[b]], shardCount) == shard).ToArray();

        var versionDir = Path.Combine(work.Scores, loaded.Version);
        using var writer = new ScoreShardWriter(versionDir, shard, shardCount, withValues: loaded.Model.HasOutcomeHead)
        {
            ScoringMode = options.ScoringMode,
        };
        using var lists = options.Lists();
        var items = loaded.Items;
        var fields = Filters.ItemFields.Read(work.Prepared);
        var filtered = new Filters.FilteredLists(Filters.FilterSet.From(options.Filters), fields, items, history, options);
        using var filteredWriter = filtered.IsEmpty ? null : new Filters.FilteredShardWriter(versionDir, shard, shardCount);
        if (filtered.IsEmpty) Filters.FilteredShardWriter.Clear(versionDir, shard, shardCount);
        var exploration = new Filters.ColdItemExploration(options, fields, items, history);
        long explored = 0;
        var progress = new ProgressReporter($"score shard {shard}/{shardCount}", mine.Length, "users");
        long done = 0, withSeen = 0, withoutList = 0;
        new HrnnInference(loaded.Model, loaded.Device).Run(
            new HrnnInference.Request(history, options.BatchSize, filtered.Depth(options.K))
            {
                CaptureFinal = true, ExcludeSeen = options.ExcludeSeen, UserOrder = mine, Lists = lists,
                MinOutcome = OutcomeFilter.Threshold(loaded.Model.Settings, options.MinOutcome),
            },
            null,
            rows =>
            {
                int u = rows.UserState.Length / Math.Max(rows.UserBlock.Length, 1);
                int h = rows.SessionState.Length / rows.UserBlock.Length;
                var ids = new List<string>(rows.K);
                var scores = new List<float>(rows.K);
                var values = new List<float>(rows.K);
                for (int r = 0; r < rows.UserBlock.Length; r++)
                {
                    ids.Clear();
                    scores.Clear();
                    values.Clear();
                    // The first k listed items; the scorer may rank deeper (for the filtered lists), and slots the
                    // value filter left empty are passed over.
                    for (int j = 0; j < rows.K && ids.Count < options.K; j++)
                    {
                        // Item 0: a slot the value filter left empty (the model expects a rejection or a low value).
                        if (rows.TopK[r * rows.K + j] == 0) continue;
                        ids.Add(items.Ids[rows.TopK[r * rows.K + j]]);
                        scores.Add(rows.TopScores[r * rows.K + j]);
                        if (rows.TopValues is { } predicted) values.Add(predicted[r * rows.K + j]);
                    }
                    if (ids.Count == 0)
                    {
                        withoutList++;
                        continue;
                    }
                    if (rows.SeenFill[r] > rows.K - ids.Count) withSeen++; // seen items reached the first k ranks
                    var userId = users.Ids[history.Users[rows.UserBlock[r]]];
                    int cold = exploration.Apply(rows.UserBlock[r], userId, ids, scores);
                    if (cold > 0)
                    {
                        explored++;
                        // Cold items are placed by their metadata: the model predicts no value for them.
                        if (values.Count > 0)
                        {
                            values.RemoveRange(values.Count - cold, cold);
                            values.AddRange(Enumerable.Repeat(float.NaN, cold));
                        }
                    }
                    filteredWriter?.Add(filtered, userId, rows.UserBlock[r], rows.TopK.AsSpan(r * rows.K, rows.K), rows.TopScores.AsSpan(r * rows.K, rows.K));
                    writer.Add(userId, ids.ToArray(), scores.ToArray(),
                        rows.UserState.AsSpan(r * u, u), rows.SessionState.AsSpan(r * h, h), values.ToArray());
                }
                progress.Report(done += rows.UserBlock.Length);
            }, ct);
        filteredWriter?.Complete(filtered.Fills());
        writer.Complete();
        ScoredHistory.Keep(work, versionDir);
        Filters.ItemFields.Keep(work.Prepared, versionDir);
        progress.Done();
        return new ScoreResult(loaded.Version, shard, shardCount, mine.Length, clock.Elapsed.TotalSeconds, withSeen)
        {
            Filters = filtered.Fills(), ColdItems = exploration.ColdItems, ListsWithColdItems = explored,
            UsersFilteredOut = withoutList, ScoringMode = options.ScoringMode, CandidateIndex = lists.Approximate?.ToString(),
        };
    }
}
