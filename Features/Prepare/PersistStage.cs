namespace HrnnPipeline.Features.Prepare;

/// <summary>
/// Replaces the warehouse tables <c>item_map</c>, <c>complete_item_map</c>, <c>user_map</c>, <c>sessions</c> and
/// <c>session_events</c> in one transaction, so readers see the old or the new run, never half; then reads their
/// counts (<see cref="Summary"/>).
/// </summary>
sealed class PersistStage(SessionizeStage sessionize) : IPrepareStage
{
    public string Name => "persist";

    /// <summary>The sizes of the users, items, splits and complete dataset just persisted (the caller adds the input
    /// and filter counts).</summary>
    public PrepareSummary Summary { get; private set; } = new();

    public async Task RunAsync(PrepareRun run)
    {
        using (var transaction = run.Connection.BeginTransaction())
        {
            await run.ExecAsync("maps", """
                CREATE OR REPLACE TABLE item_map AS
                SELECT item_idx, item_id, train_support AS support FROM fe_items WHERE item_idx IS NOT NULL ORDER BY item_idx
                """);
            // The map of the complete dataset: item_map's items at the same indices, then the test-only ones;
            // support over all kept sessions (what a model trained on all of them samples negatives by).
            await run.ExecAsync("maps", """
                CREATE OR REPLACE TABLE complete_item_map AS
                SELECT complete_idx AS item_idx, item_id, complete_support AS support
                FROM fe_items WHERE complete_idx IS NOT NULL ORDER BY complete_idx
                """);
            await run.ExecAsync("maps", """
                CREATE OR REPLACE TABLE user_map AS
                SELECT s.user_idx, k.user_id, count(*) AS sessions
                FROM fe_sessions_final s JOIN fe_user_keys k USING (ukey)
                GROUP BY s.user_idx, k.user_id
                ORDER BY s.user_idx
                """);
            // split: fit | valid | test (train = fit + valid). events: the session's cleaned events (all of them go
            // to train for fit and valid). split_events, in_split: what is left for the session's own split file.
            await run.ExecAsync("sessions", """
                CREATE OR REPLACE TABLE sessions AS
                SELECT session_idx, user_idx, split, start_ts, end_ts, events, split_events, in_split
                FROM fe_sessions_final
                ORDER BY session_idx
                """);
            // The cleaned sessions' events in file order (seq). item_idx is NULL for a test event whose item never
            // occurs in train; complete_item_idx is the index in complete_item_map, never NULL. in_split: the event
            // is in its split's file; train holds every event of fit and valid.
            // No item_id column: it would double the cost of this table; item_map has the ids.
            await run.ExecAsync("events", $"""
                CREATE OR REPLACE TABLE session_events AS
                SELECT s.session_idx, s.user_idx, m.item_idx, m.complete_idx AS complete_item_idx, e.ts_ms AS ts, s.split,
                    CASE s.split
                        WHEN 'fit' THEN true
                        WHEN 'valid' THEN m.in_fit AND s.in_split
                        ELSE m.item_idx IS NOT NULL AND s.in_split
                    END AS in_split,
                    e.ord AS seq{(sessionize.HasValues ? ", e.value" : "")}
                FROM fe_events e
                JOIN fe_sessions_final s USING (sess)
                JOIN fe_items m USING (ikey)
                ORDER BY e.ord
                """);
            transaction.Commit(); // disposing without commit (an error above) rolls back and keeps the old tables
        }
        // The event-level scratch tables are done with; free their memory before the exports.
        await run.ExecAsync("clean up", "DROP TABLE fe_events");
        Summary = await ReadSummaryAsync(run);
    }

    static async Task<PrepareSummary> ReadSummaryAsync(PrepareRun run)
    {
        using var command = run.Command("""
            SELECT
                (SELECT count(*) FROM user_map),
                (SELECT count(*) FROM item_map),
                count(*) FILTER (split <> 'test'),
                coalesce(sum(events) FILTER (split <> 'test'), 0)::BIGINT,
                count(*) FILTER (split = 'fit'),
                coalesce(sum(events) FILTER (split = 'fit'), 0)::BIGINT,
                count(*) FILTER (split = 'valid' AND in_split),
                coalesce(sum(split_events) FILTER (split = 'valid' AND in_split), 0)::BIGINT,
                count(*) FILTER (split = 'test' AND in_split),
                coalesce(sum(split_events) FILTER (split = 'test' AND in_split), 0)::BIGINT,
                count(*),
                coalesce(sum(events), 0)::BIGINT,
                (SELECT count(*) FROM complete_item_map)
            FROM sessions
            """);
        using var reader = await command.ExecuteReaderAsync(run.Token);
        await reader.ReadAsync(run.Token);
        long At(int i) => reader.GetInt64(i);
        return new PrepareSummary
        {
            Users = (int)At(0),
            Items = (int)At(1),
            TrainSessions = At(2), TrainEvents = At(3),
            FitSessions = At(4), FitEvents = At(5),
            ValidSessions = At(6), ValidEvents = At(7),
            TestSessions = At(8), TestEvents = At(9),
            CompleteSessions = At(10), CompleteEvents = At(11), CompleteItems = (int)At(12),
        };
    }
}
