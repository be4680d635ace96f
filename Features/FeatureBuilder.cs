using System.Diagnostics;
using System.Text.RegularExpressions;
using DuckDB.NET.Data;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Features;

/// <summary>
/// The Features stage: turns the warehouse table <c>events</c> into cleaned sessions, the paper's splits
/// (train = fit + valid, test) and dense id maps, all in DuckDB SQL. Results land in the warehouse
/// (<c>item_map</c>, <c>user_map</c>, <c>sessions</c>, <c>session_events</c>) and as Arrow files in the prepared
/// folder (<see cref="PreparedFiles"/>). Running it again replaces both.
/// </summary>
public sealed partial class FeatureBuilder
{
    public async Task<PrepareSummary> BuildAsync(
        string warehousePath, string preparedDir, FeatureOptions o, CancellationToken ct)
    {
        o.Validate();
        if (!File.Exists(warehousePath))
            throw new PipelineException($"{warehousePath}: warehouse not found; run `ingest` first");

        var clock = Stopwatch.StartNew();
        var progress = new ProgressReporter("prepare", TotalSteps, "steps");
        using var connection = Open(warehousePath);
        var run = new Run(connection, warehousePath, progress, ct);

        await run.ConfigureAsync(o.MemoryLimit);
        long inputEvents = await run.CheckEventsTableAsync();
        await run.SessionizeAsync(o);
        await run.FilterAsync(o);
        var steps = await run.StepCountsAsync(o);
        if (steps[^1].Users == 0)
            throw new PipelineException(
                $"{warehousePath}: no sessions left after filtering ({Describe(steps)}); loosen the Features options");

        await run.SplitAsync();
        if (await run.TrainSessionCountAsync() == 0)
            throw new PipelineException(
                $"{warehousePath}: no training sessions left (every user has a single session); loosen the Features options");
        await run.PersistAsync();
        var summary = await run.SummaryAsync(inputEvents, steps);
        Directory.CreateDirectory(preparedDir);
        await run.ExportAsync(preparedDir);
        progress.Done($"{summary.Users:N0} users, {summary.Items:N0} items");

        return summary with
        {
            ElapsedSeconds = clock.Elapsed.TotalSeconds,
            EventsPerSecond = inputEvents / Math.Max(clock.Elapsed.TotalSeconds, 1e-9),
        };
    }

    const int TotalSteps = 26; // ExecAsync calls plus exports, roughly

    static DuckDBConnection Open(string warehousePath)
    {
        var connection = new DuckDBConnection($"Data Source={warehousePath}");
        try
        {
            connection.Open();
            return connection;
        }
        catch (DuckDBException e)
        {
            connection.Dispose();
            throw new PipelineException($"{warehousePath}: cannot open the warehouse: {FirstLine(e.Message)}", isPermanent: false, e);
        }
    }


    static string[] DropTypes(FeatureOptions o) =>
        [.. (o.DropEventTypes ?? []).Where(t => !string.IsNullOrWhiteSpace(t)).Select(t => t.Trim().ToLowerInvariant())];

    static string Describe(List<FilterStepCounts> steps) =>
        string.Join(", ", steps.Select(s => $"{s.Step}: {s.Events:N0} events, {s.Users:N0} users"));

    static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();

    /// <summary>
    /// One prepare run on one connection: the SQL of each step, in order. Event-level work is a handful of passes:
    /// one sort, one streaming pass that cuts sessions, a few hash aggregations, and one sort into the final table;
    /// the filters and the split themselves run on per-session and per-item tables.
    /// </summary>
    sealed class Run(DuckDBConnection connection, string warehousePath, ProgressReporter progress, CancellationToken ct)
    {
        int _step;
        // Whether the events carry outcome values (a value column, or types that Features:EventTypeValues maps).
        bool _hasValues;

        public async Task ConfigureAsync(string memoryLimit)
        {
            // SET takes no parameters; the memory limit is validated above. Insertion order must stay preserved:
            // the streaming windows and the exports rely on DuckDB's documented order preservation.
            await ExecAsync("configure", $"SET threads = {Environment.ProcessorCount}");
            await ExecAsync("configure", $"SET memory_limit = '{memoryLimit}'");
            await ExecAsync("configure", "SET preserve_insertion_order = true");
        }

        public async Task<long> CheckEventsTableAsync()
        {
            string[] required = ["file_id", "line_no", "user_id", "item_id", "ts_ms", "session_id", "event_type"];
            var present = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            using (var command = Command("""
                SELECT column_name FROM duckdb_columns()
                WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'events'
                """))
            using (var reader = await command.ExecuteReaderAsync(ct))
                while (await reader.ReadAsync(ct))
                    present.Add(reader.GetString(0));
            if (present.Count == 0)
                throw new PipelineException($"{warehousePath}: table `events` not found; run `ingest` first");
            var missing = required.Where(c => !present.Contains(c)).ToArray();
            if (missing.Length > 0)
                throw new PipelineException($"{warehousePath}: table `events` lacks column(s) {string.Join(", ", missing)}");

            long count = await ScalarAsync("count events", "SELECT count(*) FROM events");
            if (count == 0)
                throw new PipelineException($"{warehousePath}: table `events` is empty; run `ingest` first");
            return count;
        }

        /// <summary>
        /// Cuts each user's events, ordered by time then input position, into sessions and drops consecutive repeats.
        /// String ids become integer keys first (cheaper to sort, join and group); ukey follows user_id order.
        /// </summary>
        public async Task SessionizeAsync(FeatureOptions o)
        {
            await ExecAsync("key users", """
                CREATE OR REPLACE TEMP TABLE fe_user_keys AS
                SELECT user_id, (row_number() OVER (ORDER BY user_id))::INTEGER AS ukey
                FROM (SELECT DISTINCT user_id FROM events)
                """);
            await ExecAsync("key items", """
                CREATE OR REPLACE TEMP TABLE fe_item_keys AS
                SELECT item_id, (row_number() OVER (ORDER BY item_id))::INTEGER AS ikey
                FROM (SELECT DISTINCT item_id FROM events)
                """);
            // Explicit session ids and event types cost 32 bytes a row through the sort; most logs have neither,
            // and then the columns are left out (the rules below read them as NULL).
            bool hasSessionIds = await ScalarAsync("inspect events",
                "SELECT count(*) FROM (SELECT 1 FROM events WHERE nullif(session_id, '') IS NOT NULL LIMIT 1)") > 0;
            bool hasEventTypes = await ScalarAsync("inspect events",
                "SELECT count(*) FROM (SELECT 1 FROM events WHERE event_type IS NOT NULL LIMIT 1)") > 0;
            var (typeNames, typeValues) = o.TypeValues();
            _hasValues = await ScalarAsync("inspect events",
                "SELECT count(*) FROM (SELECT 1 FROM events WHERE value IS NOT NULL LIMIT 1)") > 0
                || (hasEventTypes && typeNames.Length > 0);
            string sortedExtras = (hasSessionIds ? ", nullif(e.session_id, '') AS sid" : "")
                + (hasEventTypes ? ", e.event_type" : "")
                + (_hasValues ? $", {OutcomeValues.ValueSql("e")} AS value" : "");
            string value = _hasValues ? ", value" : "";
            string lagExtras = (hasSessionIds ? "sid, lag(sid) OVER () AS prev_sid" : "NULL AS sid, NULL AS prev_sid")
                + (hasEventTypes ? ", event_type IS NOT DISTINCT FROM lag(event_type) OVER () AS same_type" : ", true AS same_type");

            // The one big sort: every later step streams over this order instead of sorting per user again.
            await ExecAsync("sort events", $"""
                CREATE OR REPLACE TEMP TABLE fe_sorted AS
                SELECT u.ukey, i.ikey, e.ts_ms{sortedExtras}
                FROM events e
                JOIN fe_user_keys u ON u.user_id = e.user_id
                JOIN fe_item_keys i ON i.item_id = e.item_id
                WHERE e.event_type IS NULL OR NOT list_contains($drop_types, lower(e.event_type))
                ORDER BY u.ukey, e.ts_ms, e.file_id, e.line_no
                """,
                [new DuckDBParameter("drop_types", DropTypes(o)),
                 .. _hasValues ? OutcomeValues.TypeParameters(typeNames, typeValues) : []]);
            // Windows with an empty OVER () stream the table in its stored (sorted) order, which DuckDB guarantees,
            // so LAG sees each event's predecessor and the running SUM numbers sessions globally, ordered by user
            // then start, without a second sort. A session starts at a user's first event, where an explicit
            // session id changes (ids win over the gap), or else after an idle gap longer than the threshold.
            // A repeat = same item and event type as the previous event of the same session; it still counts for
            // the gap, as in the reference preprocessing. ord keeps the event order for the final table.
            await ExecAsync("sessionize", $"""
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
            await ExecAsync("sessionize", "DROP TABLE fe_sorted");
        }

        /// <summary>
        /// The filters, applied once each in the paper's order: item support (counted after dropping repeats), session
        /// length, sessions per user, then the optional cap on sessions per user. Each session records the last
        /// filter it passed (stage 0..4), so the counts after every step come from small tables.
        /// </summary>
        public async Task FilterAsync(FeatureOptions o)
        {
            await ExecAsync("min_item_support", """
                CREATE OR REPLACE TEMP TABLE fe_item_support AS
                SELECT ikey, count(*) AS support, count(*) >= $min_support AS kept
                FROM fe_events
                GROUP BY ikey
                """, new DuckDBParameter("min_support", o.MinItemSupport));
            // The cap keeps the largest session numbers, i.e. the most recent sessions of the user. The split is
            // decided here too, on kept sessions: the user's last is test, the one before valid, the rest fit.
            await ExecAsync("session filters", """
                CREATE OR REPLACE TEMP TABLE fe_session_stage AS
                WITH counted AS (
                    SELECT e.sess, any_value(e.ukey) AS ukey, count(*) AS raw_events,
                        count(*) FILTER (WHERE i.kept) AS events,
                        min(e.ts_ms) FILTER (WHERE i.kept) AS start_ts,
                        max(e.ts_ms) FILTER (WHERE i.kept) AS end_ts
                    FROM fe_events e JOIN fe_item_support i USING (ikey)
                    GROUP BY e.sess
                ),
                by_length AS (
                    SELECT *, events > 0 AND events >= $min_length AS length_ok FROM counted
                ),
                by_user AS (
                    SELECT *,
                        length_ok AND count(*) FILTER (WHERE length_ok) OVER (PARTITION BY ukey) >= $min_sessions AS user_ok
                    FROM by_length
                ),
                by_cap AS (
                    SELECT *,
                        user_ok AND (NOT $capped OR count(*) FILTER (WHERE user_ok)
                            OVER (PARTITION BY ukey ORDER BY sess DESC ROWS UNBOUNDED PRECEDING) <= $max_sessions) AS cap_ok
                    FROM by_user
                ),
                staged AS (
                    SELECT sess, ukey, raw_events, events, start_ts, end_ts,
                        CASE WHEN cap_ok THEN 4 WHEN user_ok THEN 3 WHEN length_ok THEN 2 WHEN events > 0 THEN 1 ELSE 0 END
                            AS stage
                    FROM by_cap
                )
                SELECT *,
                    CASE WHEN stage = 4 THEN
                        CASE row_number() OVER (PARTITION BY ukey, stage = 4 ORDER BY sess DESC)
                            WHEN 1 THEN 'test' WHEN 2 THEN 'valid' ELSE 'fit' END
                    END::ENUM('fit', 'valid', 'test') AS split
                FROM staged
                """,
                new DuckDBParameter("min_length", o.MinSessionLength),
                new DuckDBParameter("min_sessions", o.MinUserSessions),
                new DuckDBParameter("capped", o.MaxSessionsPerUser is not null),
                new DuckDBParameter("max_sessions", o.MaxSessionsPerUser ?? 0));
            // Per kept item: the furthest filter stage one of its sessions reached (for the item counts per step),
            // its support in train and whether fit has it (what valid is cleaned against).
            await ExecAsync("item stats", """
                CREATE OR REPLACE TEMP TABLE fe_item_stats AS
                SELECT e.ikey, max(s.stage) AS reach,
                    count(*) FILTER (WHERE s.split IN ('fit', 'valid')) AS train_support,
                    coalesce(bool_or(s.split = 'fit'), false) AS in_fit
                FROM fe_events e
                JOIN fe_item_support i USING (ikey)
                JOIN fe_session_stage s USING (sess)
                WHERE i.kept
                GROUP BY e.ikey
                """);
        }

        public async Task<List<FilterStepCounts>> StepCountsAsync(FeatureOptions o)
        {
            var steps = new List<FilterStepCounts>();
            using (var command = Command("""
                SELECT sum(raw_events)::BIGINT, count(*), count(DISTINCT ukey), (SELECT count(*) FROM fe_item_support)
                FROM fe_session_stage
                """))
                steps.Add(await ReadCountsAsync(command, "sessionized"));
            string[] names = ["min_item_support", "min_session_length", "min_user_sessions", "max_sessions_per_user"];
            int last = o.MaxSessionsPerUser is null ? 3 : 4; // the cap is listed only when it is set
            for (int stage = 1; stage <= last; stage++)
            {
                using var command = Command("""
                    SELECT coalesce(sum(events) FILTER (WHERE stage >= $stage), 0)::BIGINT,
                        count(*) FILTER (WHERE stage >= $stage),
                        count(DISTINCT ukey) FILTER (WHERE stage >= $stage),
                        (SELECT count(*) FROM fe_item_stats WHERE reach >= $stage)
                    FROM fe_session_stage
                    """, new DuckDBParameter("stage", stage));
                steps.Add(await ReadCountsAsync(command, names[stage - 1]));
            }
            return steps;
        }

        async Task<FilterStepCounts> ReadCountsAsync(DuckDBCommand command, string step)
        {
            using var reader = await command.ExecuteReaderAsync(ct);
            await reader.ReadAsync(ct);
            return new FilterStepCounts(step, reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
        }

        /// <summary>
        /// Dense ids (items 1..N over train by support then id; users 0..U-1 by id; sessions by user then start) and
        /// the held-out cleaning: test keeps items seen in train, valid items seen in fit; either is left out of its
        /// file when fewer than 2 events remain.
        /// </summary>
        public async Task SplitAsync()
        {
            // Kept items; item_idx only for those in train (a test-only item gets none).
            await ExecAsync("item map", """
                CREATE OR REPLACE TEMP TABLE fe_items AS
                SELECT s.ikey, k.item_id, s.train_support, s.in_fit,
                    CASE WHEN s.train_support > 0 THEN
                        row_number() OVER (PARTITION BY s.train_support > 0 ORDER BY s.train_support DESC, k.item_id)
                    END::INTEGER AS item_idx
                FROM fe_item_stats s JOIN fe_item_keys k USING (ikey)
                """);
            await ExecAsync("clean held-out", """
                CREATE OR REPLACE TEMP TABLE fe_heldout AS
                SELECT e.sess, count(*) AS known
                FROM fe_events e
                JOIN fe_session_stage s USING (sess)
                JOIN fe_items m USING (ikey)
                WHERE (s.split = 'test' AND m.item_idx IS NOT NULL) OR (s.split = 'valid' AND m.in_fit)
                GROUP BY e.sess
                """);
            await ExecAsync("dense ids", """
                CREATE OR REPLACE TEMP TABLE fe_users AS
                SELECT ukey, (row_number() OVER (ORDER BY ukey) - 1)::INTEGER AS user_idx
                FROM (SELECT DISTINCT ukey FROM fe_session_stage WHERE stage = 4)
                """);
            // Numbered on a two-column table: a window carrying every session column would sort all of them.
            await ExecAsync("dense ids", """
                CREATE OR REPLACE TEMP TABLE fe_session_ids AS
                SELECT sess, (row_number() OVER (ORDER BY sess) - 1)::INTEGER AS session_idx
                FROM fe_session_stage
                WHERE stage = 4
                """);
            await ExecAsync("dense ids", """
                CREATE OR REPLACE TEMP TABLE fe_sessions_final AS
                SELECT s.sess, s.ukey, u.user_idx, i.session_idx, s.split, s.start_ts, s.end_ts, s.events::INTEGER AS events,
                    (CASE WHEN s.split = 'fit' THEN s.events ELSE coalesce(h.known, 0) END)::INTEGER AS split_events,
                    s.split = 'fit' OR coalesce(h.known, 0) >= 2 AS in_split
                FROM fe_session_stage s
                JOIN fe_session_ids i USING (sess)
                JOIN fe_users u USING (ukey)
                LEFT JOIN fe_heldout h USING (sess)
                """);
        }

        public Task<long> TrainSessionCountAsync() =>
            ScalarAsync("count train", "SELECT count(*) FROM fe_sessions_final WHERE split <> 'test'");

        /// <summary>Replaces the warehouse tables in one transaction, so readers see the old or the new run, never half.</summary>
        public async Task PersistAsync()
        {
            using var transaction = connection.BeginTransaction();
            await ExecAsync("persist maps", """
                CREATE OR REPLACE TABLE item_map AS
                SELECT item_idx, item_id, train_support AS support FROM fe_items WHERE item_idx IS NOT NULL ORDER BY item_idx
                """);
            await ExecAsync("persist maps", """
                CREATE OR REPLACE TABLE user_map AS
                SELECT s.user_idx, k.user_id, count(*) AS sessions
                FROM fe_sessions_final s JOIN fe_user_keys k USING (ukey)
                GROUP BY s.user_idx, k.user_id
                ORDER BY s.user_idx
                """);
            // split: fit | valid | test (train = fit + valid). events: the session's cleaned events (all of them go
            // to train for fit and valid). split_events, in_split: what is left for the session's own split file.
            await ExecAsync("persist sessions", """
                CREATE OR REPLACE TABLE sessions AS
                SELECT session_idx, user_idx, split, start_ts, end_ts, events, split_events, in_split
                FROM fe_sessions_final
                ORDER BY session_idx
                """);
            // The cleaned sessions' events in file order (seq). item_idx is NULL for a test event whose item never
            // occurs in train. in_split: the event is in its split's file; train holds every event of fit and valid.
            // No item_id column: it would double the cost of this table; item_map has the ids.
            await ExecAsync("persist events", $"""
                CREATE OR REPLACE TABLE session_events AS
                SELECT s.session_idx, s.user_idx, m.item_idx, e.ts_ms AS ts, s.split,
                    CASE s.split
                        WHEN 'fit' THEN true
                        WHEN 'valid' THEN m.in_fit AND s.in_split
                        ELSE m.item_idx IS NOT NULL AND s.in_split
                    END AS in_split,
                    e.ord AS seq{(_hasValues ? ", e.value" : "")}
                FROM fe_events e
                JOIN fe_sessions_final s USING (sess)
                JOIN fe_items m USING (ikey)
                ORDER BY e.ord
                """);
            transaction.Commit(); // disposing without commit (an error above) rolls back and keeps the old tables
            // The event-level scratch tables are done with; free their memory before the exports.
            await ExecAsync("clean up", "DROP TABLE fe_events");
        }

        public async Task<PrepareSummary> SummaryAsync(long inputEvents, List<FilterStepCounts> steps)
        {
            using var command = Command("""
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
                    coalesce(sum(split_events) FILTER (split = 'test' AND in_split), 0)::BIGINT
                FROM sessions
                """);
            using var reader = await command.ExecuteReaderAsync(ct);
            await reader.ReadAsync(ct);
            long At(int i) => reader.GetInt64(i);
            return new PrepareSummary
            {
                InputEvents = inputEvents,
                Users = (int)At(0),
                Items = (int)At(1),
                TrainSessions = At(2), TrainEvents = At(3),
                FitSessions = At(4), FitEvents = At(5),
                ValidSessions = At(6), ValidEvents = At(7),
                TestSessions = At(8), TestEvents = At(9),
                Steps = steps,
            };
        }

        public async Task ExportAsync(string preparedDir)
        {
            (string File, string Filter, string Length)[] splits =
            [
                (PreparedFiles.Train, "split <> 'test'", "events"),
                (PreparedFiles.Fit, "split = 'fit'", "events"),
                (PreparedFiles.Valid, "split = 'valid' AND in_split", "split_events"),
                (PreparedFiles.Test, "split = 'test' AND in_split", "split_events"),
            ];
            foreach (var (file, filter, length) in splits)
            {
                var path = Path.Combine(preparedDir, file);
                Report($"export {file}");
                // A filtered scan of one table keeps its stored order (seq), so no ORDER BY is needed; the writer
                // checks that session_idx never decreases.
                await DuckDbArrowExport.WriteAsync(connection, $"""
                    SELECT user_idx, session_idx, item_idx, ts FROM session_events WHERE {filter}
                    """, ArrowSessions.EventSchema, path, "session_idx", ct);
                // Offsets are running sums of the lengths in file order (session_idx follows user, then start).
                await DuckDbArrowExport.WriteAsync(connection, $"""
                    SELECT user_idx, session_idx,
                        (sum({length}) OVER (ORDER BY session_idx) - {length})::BIGINT AS event_offset,
                        {length}::INTEGER AS length
                    FROM sessions
                    WHERE {filter}
                    ORDER BY session_idx
                    """, ArrowSessions.SessionIndexSchema, ArrowSessions.SessionIndexPath(path), "session_idx", ct);
                await OutcomeValues.ExportAsync(connection, _hasValues ? filter : null, path, ct);
            }
            Report("export id maps");
            (await ReadMapAsync("SELECT item_idx, item_id, support FROM item_map ORDER BY item_idx", firstIndex: 1))
                .Write(Path.Combine(preparedDir, PreparedFiles.Items));
            (await ReadMapAsync("SELECT user_idx, user_id, sessions FROM user_map ORDER BY user_idx", firstIndex: 0))
                .Write(Path.Combine(preparedDir, PreparedFiles.Users));
        }

        /// <summary>Loads a dense map (one row per user or item, never per event) for <see cref="IdMap.Write"/>.</summary>
        async Task<IdMap> ReadMapAsync(string sql, int firstIndex)
        {
            var ids = new List<string>();
            var counts = new List<long>();
            for (int i = 0; i < firstIndex; i++) { ids.Add(""); counts.Add(0); } // padding slot
            using var command = Command(sql);
            using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                if (reader.GetInt32(0) != ids.Count)
                    throw new InvalidOperationException($"{sql}: dense index {reader.GetInt32(0)} out of sequence");
                ids.Add(reader.GetString(1));
                counts.Add(reader.GetInt64(2));
            }
            return new IdMap([.. ids], [.. counts], firstIndex);
        }

        Task ExecAsync(string step, string sql, params DuckDBParameter[] parameters) => ExecAsync(step, sql, (IEnumerable<DuckDBParameter>)parameters);

        async Task ExecAsync(string step, string sql, IEnumerable<DuckDBParameter> parameters)
        {
            Report(step);
            using var command = Command(sql, parameters);
            try
            {
                await command.ExecuteNonQueryAsync(ct);
            }
            catch (DuckDBException e)
            {
                throw new PipelineException($"{warehousePath}: prepare step '{step}' failed: {FirstLine(e.Message)}", isPermanent: false, e);
            }
        }

        async Task<long> ScalarAsync(string step, string sql)
        {
            using var command = Command(sql);
            try
            {
                return Convert.ToInt64(await command.ExecuteScalarAsync(ct));
            }
            catch (DuckDBException e)
            {
                throw new PipelineException($"{warehousePath}: prepare step '{step}' failed: {FirstLine(e.Message)}", isPermanent: false, e);
            }
        }

        DuckDBCommand Command(string sql, params DuckDBParameter[] parameters) => Command(sql, (IEnumerable<DuckDBParameter>)parameters);

        DuckDBCommand Command(string sql, IEnumerable<DuckDBParameter> parameters)
        {
            var command = connection.CreateCommand();
            command.CommandText = sql;
            foreach (var p in parameters) command.Parameters.Add(p);
            return command;
        }

        void Report(string step) => progress.Report(Math.Min(++_step, TotalSteps - 1), step);
    }
}
