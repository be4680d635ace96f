using DuckDB.NET.Data;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Features.Prepare;

/// <summary>
/// Checks the warehouse table <c>events</c>, then cuts each user's events, ordered by time then input position, into
/// sessions and drops consecutive repeats: <c>fe_events</c> (sess, ukey, ikey, ts_ms, ord[, value]). String ids
/// become integer keys first (cheaper to sort, join and group): <c>fe_user_keys</c> (ukey follows user_id order) and
/// <c>fe_item_keys</c>.
/// </summary>
sealed class SessionizeStage(FeatureOptions o) : IPrepareStage
{
    public string Name => "sessionize";

    /// <summary>Rows of <c>events</c> before anything was dropped.</summary>
    public long InputEvents { get; private set; }

    /// <summary>Whether the events carry outcome values (a value column, or types that Features:EventTypeValues maps):
    /// then <c>fe_events</c> has a value column and the splits get <c>*.values.arrow</c>.</summary>
    public bool HasValues { get; private set; }

    public async Task RunAsync(PrepareRun run)
    {
        InputEvents = await CheckEventsTableAsync(run);
        await run.ExecAsync("key users", """
            CREATE OR REPLACE TEMP TABLE fe_user_keys AS
            SELECT user_id, (row_number() OVER (ORDER BY user_id))::INTEGER AS ukey
            FROM (SELECT DISTINCT user_id FROM events)
            """);
        await run.ExecAsync("key items", """
            CREATE OR REPLACE TEMP TABLE fe_item_keys AS
            SELECT item_id, (row_number() OVER (ORDER BY item_id))::INTEGER AS ikey
            FROM (SELECT DISTINCT item_id FROM events)
            """);
        // Explicit session ids and event types cost 32 bytes a row through the sort; most logs have neither,
        // and then the columns are left out (the rules below read them as NULL).
        bool hasSessionIds = await run.ScalarAsync("inspect events",
            "SELECT count(*) FROM (SELECT 1 FROM events WHERE nullif(session_id, '') IS NOT NULL LIMIT 1)") > 0;
        bool hasEventTypes = await run.ScalarAsync("inspect events",
            "SELECT count(*) FROM (SELECT 1 FROM events WHERE event_type IS NOT NULL LIMIT 1)") > 0;
        var (typeNames, typeValues) = o.TypeValues();
        HasValues = await run.ScalarAsync("inspect events",
            "SELECT count(*) FROM (SELECT 1 FROM events WHERE value IS NOT NULL LIMIT 1)") > 0
            || (hasEventTypes && typeNames.Length > 0);
        string sortedExtras = (hasSessionIds ? ", nullif(e.session_id, '') AS sid" : "")
            + (hasEventTypes ? ", e.event_type" : "")
            + (HasValues ? $", {OutcomeValues.ValueSql("e")} AS value" : "");
        string value = HasValues ? ", value" : "";
        string lagExtras = (hasSessionIds ? "sid, lag(sid) OVER () AS prev_sid" : "NULL AS sid, NULL AS prev_sid")
            + (hasEventTypes ? ", event_type IS NOT DISTINCT FROM lag(event_type) OVER () AS same_type" : ", true AS same_type");

        // The one big sort: every later step streams over this order instead of sorting per user again.
        await run.ExecAsync("sort events", $"""
            CREATE OR REPLACE TEMP TABLE fe_sorted AS
            SELECT u.ukey, i.ikey, e.ts_ms{sortedExtras}
            FROM events e
            JOIN fe_user_keys u ON u.user_id = e.user_id
            JOIN fe_item_keys i ON i.item_id = e.item_id
            WHERE e.event_type IS NULL OR NOT list_contains($drop_types, lower(e.event_type))
            ORDER BY u.ukey, e.ts_ms, e.file_id, e.line_no
            """,
            [new DuckDBParameter("drop_types", DropTypes()),
             .. HasValues ? OutcomeValues.TypeParameters(typeNames, typeValues) : []]);
        // Windows with an empty OVER () stream the table in its stored (sorted) order, which DuckDB guarantees,
        // so LAG sees each event's predecessor and the running SUM numbers sessions globally, ordered by user
        // then start, without a second sort. A session starts at a user's first event, where an explicit
        // session id changes (ids win over the gap), or else after an idle gap longer than the threshold.
        // A repeat = same item and event type as the previous event of the same session; it still counts for
        // the gap, as in the reference preprocessing. ord keeps the event order for the final table.
        await run.ExecAsync("sessionize", $"""
            CREATE OR REPLACE TEMP TABLE fe_events AS
            WITH lagged AS (
                SELECT ukey, ikey, ts_ms{value},
                    lag(ukey) OVER () AS prev_ukey,
                    lag(ts_ms) OVER () AS prev_ts,
                    lag(ikey) OVER () AS prev_ikey,
                    {lagExtras}
                FROM fe_sorted
            ),
            flagged AS (
                SELECT ukey, ikey, ts_ms{value}, prev_ikey, same_type,
                    CASE
                        WHEN prev_ukey IS DISTINCT FROM ukey THEN true
                        WHEN sid IS NOT NULL OR prev_sid IS NOT NULL THEN sid IS DISTINCT FROM prev_sid
                        ELSE ts_ms - prev_ts > $gap_ms
                    END AS starts_session
                FROM lagged
            ),
            numbered AS (
                SELECT ukey, ikey, ts_ms{value}, prev_ikey, same_type, starts_session,
                    row_number() OVER () AS ord,
                    sum(starts_session::INTEGER) OVER (ROWS UNBOUNDED PRECEDING)::INTEGER AS sess
                FROM flagged
            )
            SELECT sess, ukey, ikey, ts_ms, ord{value}
            FROM numbered
            WHERE starts_session OR ikey <> prev_ikey OR NOT same_type
            """,
            new DuckDBParameter("gap_ms", (long)o.SessionGap.TotalMilliseconds));
        await run.ExecAsync("sessionize", "DROP TABLE fe_sorted");
    }

    static async Task<long> CheckEventsTableAsync(PrepareRun run)
    {
        string[] required = ["file_id", "line_no", "user_id", "item_id", "ts_ms", "session_id", "event_type"];
        var present = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        using (var command = run.Command("""
            SELECT column_name FROM duckdb_columns()
            WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'events'
            """))
        using (var reader = await command.ExecuteReaderAsync(run.Token))
            while (await reader.ReadAsync(run.Token))
                present.Add(reader.GetString(0));
        if (present.Count == 0)
            throw new PipelineException($"{run.WarehousePath}: table `events` not found; run `ingest` first");
        var missing = required.Where(c => !present.Contains(c)).ToArray();
        if (missing.Length > 0)
            throw new PipelineException($"{run.WarehousePath}: table `events` lacks column(s) {string.Join(", ", missing)}");

        long count = await run.ScalarAsync("count events", "SELECT count(*) FROM events");
        if (count == 0)
            throw new PipelineException($"{run.WarehousePath}: table `events` is empty; run `ingest` first");
        return count;
    }

    string[] DropTypes() =>
        [.. (o.DropEventTypes ?? []).Where(t => !string.IsNullOrWhiteSpace(t)).Select(t => t.Trim().ToLowerInvariant())];
}
