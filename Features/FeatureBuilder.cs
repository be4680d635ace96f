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
        Validate(o);
        if (!File.Exists(warehousePath))
            throw new PipelineException($"{warehousePath}: warehouse not found; run `ingest` first");
        Directory.CreateDirectory(preparedDir);

        var clock = Stopwatch.StartNew();
        var progress = new ProgressReporter("prepare", TotalSteps, "steps");
        using var connection = Open(warehousePath);
        var run = new Run(connection, warehousePath, progress, ct);

        await run.ConfigureAsync(o);
        long inputEvents = await run.CheckEventsTableAsync();
        var steps = new List<FilterStepCounts>();
        await run.SessionizeAsync(o);
        steps.Add(await run.CountAsync("sessionized", "fe_events"));
        foreach (var (name, sql, parameters) in FilterSteps(o))
        {
            await run.FilterAsync(name, sql, parameters);
            steps.Add(await run.CountAsync(name, "fe_events"));
        }
        if (steps[^1].Users == 0)
            throw new PipelineException(
                $"{warehousePath}: no sessions left after filtering ({Describe(steps)}); loosen the Features options");

        await run.SplitAsync();
        if (await run.TrainSessionCountAsync() == 0)
            throw new PipelineException(
                $"{warehousePath}: no training sessions left (every user has a single session); loosen the Features options");
        await run.PersistAsync();
        var summary = await run.SummaryAsync(inputEvents, steps, clock);
        await run.ExportAsync(preparedDir);
        progress.Done($"{summary.Users:N0} users, {summary.Items:N0} items");

        return summary with
        {
            ElapsedSeconds = clock.Elapsed.TotalSeconds,
            EventsPerSecond = inputEvents / Math.Max(clock.Elapsed.TotalSeconds, 1e-9),
        };
    }

    const int TotalSteps = 12;

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

    static void Validate(FeatureOptions o)
    {
        if (o.SessionGap <= TimeSpan.Zero)
            throw new PipelineException($"{FeatureOptions.SectionName}:SessionGap must be positive (got {o.SessionGap})");
        Check(o.MinItemSupport, nameof(o.MinItemSupport));
        Check(o.MinSessionLength, nameof(o.MinSessionLength));
        Check(o.MinUserSessions, nameof(o.MinUserSessions));
        if (o.MaxSessionsPerUser is < 1)
            throw new PipelineException($"{FeatureOptions.SectionName}:MaxSessionsPerUser must be at least 1 (got {o.MaxSessionsPerUser})");
        if (!MemorySize().IsMatch(o.MemoryLimit))
            throw new PipelineException($"{FeatureOptions.SectionName}:MemoryLimit must look like 2GB or 512MB (got '{o.MemoryLimit}')");

        static void Check(int value, string name)
        {
            if (value < 0)
                throw new PipelineException($"{FeatureOptions.SectionName}:{name} must be 0 or more (got {value})");
        }
    }

    [GeneratedRegex(@"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", RegexOptions.IgnoreCase)]
    private static partial Regex MemorySize();

    /// <summary>
    /// The filters, applied once each in the paper's order. Each keeps the rows of <c>fe_events</c> it selects;
    /// counts are taken from the table as it stands, so a later filter never re-triggers an earlier one.
    /// </summary>
    static IEnumerable<(string Name, string Sql, DuckDBParameter[] Parameters)> FilterSteps(FeatureOptions o)
    {
        yield return ("min_item_support", """
            SELECT * FROM fe_events
            WHERE ikey IN (SELECT ikey FROM fe_events GROUP BY ikey HAVING count(*) >= $min_support)
            """, [new("min_support", o.MinItemSupport)]);
        yield return ("min_session_length", """
            SELECT * FROM fe_events
            WHERE skey IN (SELECT skey FROM fe_events GROUP BY skey HAVING count(*) >= $min_length)
            """, [new("min_length", o.MinSessionLength)]);
        yield return ("min_user_sessions", """
            SELECT * FROM fe_events
            WHERE ukey IN (SELECT ukey FROM fe_events GROUP BY ukey HAVING count(DISTINCT skey) >= $min_sessions)
            """, [new("min_sessions", o.MinUserSessions)]);
        if (o.MaxSessionsPerUser is { } max)
            // skey grows with session start within a user, so the largest keys are the most recent sessions.
            yield return ("max_sessions_per_user", """
                SELECT * FROM fe_events
                WHERE skey IN (
                    SELECT skey FROM (SELECT DISTINCT ukey, skey FROM fe_events)
                    QUALIFY row_number() OVER (PARTITION BY ukey ORDER BY skey DESC) <= $max_sessions)
                """, [new("max_sessions", max)]);
    }

    static string Describe(List<FilterStepCounts> steps) =>
        string.Join(", ", steps.Select(s => $"{s.Step}: {s.Events:N0} events, {s.Users:N0} users"));

    static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();

    /// <summary>One prepare run on one connection: the SQL of each step, in order.</summary>
    sealed class Run(DuckDBConnection connection, string warehousePath, ProgressReporter progress, CancellationToken ct)
    {
        int _step;

        public async Task ConfigureAsync(FeatureOptions o)
        {
            // SET takes no parameters; both values are validated above. Insertion order is not needed because every
            // ordered output says ORDER BY, and dropping it lets DuckDB stream big CREATE TABLE AS with less memory.
            await ExecAsync("configure", $"SET threads = {Environment.ProcessorCount}");
            await ExecAsync("configure", $"SET memory_limit = '{o.MemoryLimit}'");
            await ExecAsync("configure", "SET preserve_insertion_order = false");
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
        /// Replaces string ids by integer keys (cheaper to sort and join), cuts each user's time-ordered events into
        /// sessions and drops consecutive repeats. Equal timestamps keep input order (file_id, line_no).
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
            // A session starts at a user's first event, where an explicit session id changes (ids win over the
            // gap), or, without ids, after an idle gap longer than the threshold. skey = ukey << 32 | session number
            // orders sessions by user, then start. A repeat = same item and event type as the previous event of
            // the same session; it still counts for the gap, as in the reference preprocessing.
            await ExecAsync("sessionize", """
                CREATE OR REPLACE TEMP TABLE fe_events AS
                WITH kept AS (
                    SELECT u.ukey, i.ikey, e.ts_ms, nullif(e.session_id, '') AS sid, e.event_type, e.file_id, e.line_no
                    FROM events e
                    JOIN fe_user_keys u ON u.user_id = e.user_id
                    JOIN fe_item_keys i ON i.item_id = e.item_id
                    WHERE e.event_type IS NULL OR NOT list_contains($drop_types, lower(e.event_type))
                ),
                ordered AS (
                    SELECT ukey, ikey, ts_ms, file_id, line_no, sid,
                        row_number() OVER w AS ev_no,
                        ts_ms - lag(ts_ms) OVER w AS gap_ms,
                        lag(sid) OVER w AS prev_sid,
                        lag(ikey) OVER w AS prev_ikey,
                        event_type IS NOT DISTINCT FROM lag(event_type) OVER w AS same_type
                    FROM kept
                    WINDOW w AS (PARTITION BY ukey ORDER BY ts_ms, file_id, line_no)
                ),
                flagged AS (
                    SELECT *,
                        CASE
                            WHEN gap_ms IS NULL THEN true
                            WHEN sid IS NOT NULL OR prev_sid IS NOT NULL THEN sid IS DISTINCT FROM prev_sid
                            ELSE gap_ms > $gap_ms
                        END AS starts_session
                    FROM ordered
                )
                SELECT
                    (ukey::BIGINT << 32)
                        | sum(starts_session::INTEGER) OVER (PARTITION BY ukey ORDER BY ev_no ROWS UNBOUNDED PRECEDING)::BIGINT
                        AS skey,
                    ukey, ikey, ev_no, ts_ms, file_id, line_no
                FROM flagged
                QUALIFY starts_session OR ikey <> prev_ikey OR NOT same_type
                """,
                new DuckDBParameter("drop_types", o.DropEventTypes.Select(t => t.Trim().ToLowerInvariant()).ToArray()),
                new DuckDBParameter("gap_ms", (long)o.SessionGap.TotalMilliseconds));
        }

        public async Task FilterAsync(string name, string sql, DuckDBParameter[] parameters)
        {
            await ExecAsync(name, $"CREATE OR REPLACE TEMP TABLE fe_filtered AS {sql}", parameters);
            await ExecAsync(name, "DROP TABLE fe_events");
            await ExecAsync(name, "ALTER TABLE fe_filtered RENAME TO fe_events");
        }

        public async Task<FilterStepCounts> CountAsync(string name, string table)
        {
            using var command = Command($"""
                SELECT count(*), count(DISTINCT skey), count(DISTINCT ukey), count(DISTINCT ikey) FROM {table}
                """);
            using var reader = await command.ExecuteReaderAsync(ct);
            await reader.ReadAsync(ct);
            return new FilterStepCounts(name, reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
        }

        /// <summary>
        /// Each user's last session is test, the one before valid, the rest fit (train = fit + valid). Test keeps
        /// items seen in train, valid items seen in fit; either is dropped when fewer than 2 events remain.
        /// Dense ids: users 0..U-1 by id, sessions by user then start, items 1..N over train by support.
        /// </summary>
        public async Task SplitAsync()
        {
            await ExecAsync("split sessions", """
                CREATE OR REPLACE TEMP TABLE fe_sessions AS
                SELECT skey, ukey, count(*)::INTEGER AS events, min(ts_ms) AS start_ts, max(ts_ms) AS end_ts,
                    CASE row_number() OVER (PARTITION BY ukey ORDER BY skey DESC)
                        WHEN 1 THEN 'test' WHEN 2 THEN 'valid' ELSE 'fit' END AS split
                FROM fe_events
                GROUP BY skey, ukey
                """);
            await ExecAsync("item sets", """
                CREATE OR REPLACE TEMP TABLE fe_train_items AS
                SELECT e.ikey, count(*) AS support, bool_or(s.split = 'fit') AS in_fit
                FROM fe_events e JOIN fe_sessions s USING (skey)
                WHERE s.split <> 'test'
                GROUP BY e.ikey
                """);
            await ExecAsync("clean held-out", """
                CREATE OR REPLACE TEMP TABLE fe_split_events AS
                SELECT e.skey, e.ikey, e.ev_no, e.ts_ms, e.file_id, e.line_no, s.split,
                    CASE s.split
                        WHEN 'fit' THEN true
                        WHEN 'valid' THEN coalesce(t.in_fit, false)
                        ELSE t.ikey IS NOT NULL
                    END AS item_known
                FROM fe_events e
                JOIN fe_sessions s USING (skey)
                LEFT JOIN fe_train_items t USING (ikey)
                """);
            await ExecAsync("clean held-out", "DROP TABLE fe_events");
            await ExecAsync("dense ids", """
                CREATE OR REPLACE TEMP TABLE fe_session_ids AS
                SELECT s.skey, s.split, s.start_ts, s.end_ts, s.events,
                    (row_number() OVER (ORDER BY s.skey) - 1)::INTEGER AS session_idx,
                    (dense_rank() OVER (ORDER BY s.ukey) - 1)::INTEGER AS user_idx,
                    coalesce(k.known, 0)::INTEGER AS split_events,
                    s.split = 'fit' OR coalesce(k.known, 0) >= 2 AS in_split
                FROM fe_sessions s
                LEFT JOIN (SELECT skey, count(*) AS known FROM fe_split_events WHERE item_known GROUP BY skey) k USING (skey)
                """);
        }

        public Task<long> TrainSessionCountAsync() =>
            ScalarAsync("count train", "SELECT count(*) FROM fe_session_ids WHERE split <> 'test'");

        /// <summary>Replaces the warehouse tables in one transaction, so readers see the old or the new run, never half.</summary>
        public async Task PersistAsync()
        {
            using var transaction = connection.BeginTransaction();
            await ExecAsync("persist", """
                CREATE OR REPLACE TABLE item_map AS
                SELECT (row_number() OVER (ORDER BY t.support DESC, k.item_id))::INTEGER AS item_idx,
                    k.item_id, t.support
                FROM fe_train_items t JOIN fe_item_keys k USING (ikey)
                ORDER BY item_idx
                """);
            await ExecAsync("persist", """
                CREATE OR REPLACE TABLE user_map AS
                SELECT s.user_idx, k.user_id, count(*) AS sessions
                FROM fe_session_ids s JOIN fe_user_keys k ON k.ukey = (s.skey >> 32)::INTEGER
                GROUP BY s.user_idx, k.user_id
                ORDER BY s.user_idx
                """);
            await ExecAsync("persist", """
                -- split: fit | valid | test (train = fit + valid). events: the session's cleaned events (as in
                -- train for fit/valid). split_events / in_split: what is left for its own split file.
                CREATE OR REPLACE TABLE sessions AS
                SELECT session_idx, user_idx, split, start_ts, end_ts, events, split_events, in_split
                FROM fe_session_ids
                ORDER BY session_idx
                """);
            await ExecAsync("persist", """
                -- item_idx is NULL for a held-out event whose item never occurs in train. in_split: the event is in
                -- its split's file (train always holds every event of fit and valid sessions).
                CREATE OR REPLACE TABLE session_events AS
                SELECT s.session_idx, s.user_idx, m.item_idx, k.item_id, e.ts_ms AS ts, e.split,
                    e.item_known AND s.in_split AS in_split, e.ev_no AS user_seq, e.file_id, e.line_no
                FROM fe_split_events e
                JOIN fe_session_ids s USING (skey)
                JOIN fe_item_keys k USING (ikey)
                LEFT JOIN item_map m ON m.item_id = k.item_id
                ORDER BY s.session_idx, e.ev_no
                """);
            transaction.Commit(); // disposing without commit (an error above) rolls back and keeps the old tables
        }

        public async Task<PrepareSummary> SummaryAsync(long inputEvents, List<FilterStepCounts> steps, Stopwatch clock)
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
                ElapsedSeconds = clock.Elapsed.TotalSeconds,
            };
        }

        public async Task ExportAsync(string preparedDir)
        {
            (string File, string EventFilter, string SessionFilter, string Length)[] splits =
            [
                (PreparedFiles.Train, "split <> 'test'", "split <> 'test'", "events"),
                (PreparedFiles.Fit, "split = 'fit'", "split = 'fit'", "events"),
                (PreparedFiles.Valid, "split = 'valid' AND in_split", "split = 'valid' AND in_split", "split_events"),
                (PreparedFiles.Test, "split = 'test' AND in_split", "split = 'test' AND in_split", "split_events"),
            ];
            foreach (var (file, eventFilter, sessionFilter, length) in splits)
            {
                ct.ThrowIfCancellationRequested();
                var path = Path.Combine(preparedDir, file);
                Report($"export {file}");
                await DuckDbArrowExport.WriteAsync(connection, $"""
                    SELECT user_idx, session_idx, item_idx, ts
                    FROM session_events
                    WHERE {eventFilter}
                    ORDER BY session_idx, user_seq
                    """, ArrowSessions.EventSchema, path, ct);
                // Offsets are running sums of the lengths in file order (session_idx follows user, then start).
                await DuckDbArrowExport.WriteAsync(connection, $"""
                    SELECT user_idx, session_idx,
                        (sum({length}) OVER (ORDER BY session_idx) - {length})::BIGINT AS event_offset,
                        {length}::INTEGER AS length
                    FROM sessions
                    WHERE {sessionFilter}
                    ORDER BY session_idx
                    """, ArrowSessions.SessionIndexSchema, ArrowSessions.SessionIndexPath(path), ct);
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

        async Task ExecAsync(string step, string sql, params DuckDBParameter[] parameters)
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

        DuckDBCommand Command(string sql, params DuckDBParameter[] parameters)
        {
            var command = connection.CreateCommand();
            command.CommandText = sql;
            foreach (var p in parameters) command.Parameters.Add(p);
            return command;
        }

        void Report(string step) => progress.Report(Math.Min(++_step, TotalSteps - 1), step);
    }
}
