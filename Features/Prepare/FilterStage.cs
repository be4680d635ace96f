using DuckDB.NET.Data;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Features.Prepare;

/// <summary>
/// The filters, applied once each in the paper's order: item support (counted after dropping repeats), session
/// length, sessions per user, then the optional cap on sessions per user. Each session records the last filter it
/// passed (stage 0..4) in <c>fe_session_stage</c>, so the counts after every step (<see cref="Steps"/>) come from
/// small tables. The split is decided here too, on kept sessions (stage 4): the user's last is test, the one before
/// valid, the rest fit.
/// </summary>
sealed class FilterStage(FeatureOptions o) : IPrepareStage
{
    public string Name => "filter";

    /// <summary>Counts after sessionizing and after each filter, in the order they were applied.</summary>
    public List<FilterStepCounts> Steps { get; private set; } = [];

    public async Task RunAsync(PrepareRun run)
    {
        await run.ExecAsync("min_item_support", """
            CREATE OR REPLACE TEMP TABLE fe_item_support AS
            SELECT ikey, count(*) AS support, count(*) >= $min_support AS kept
            FROM fe_events
            GROUP BY ikey
            """, new DuckDBParameter("min_support", o.MinItemSupport));
        // The cap keeps the largest session numbers, i.e. the most recent sessions of the user. Without a cap its
        // window (a sort of every session) is left out of the SQL: DuckDB computes a window even when unused.
        var cap = o.MaxSessionsPerUser is null ? "user_ok" : """
            user_ok AND count(*) FILTER (WHERE user_ok)
                OVER (PARTITION BY ukey ORDER BY sess DESC ROWS UNBOUNDED PRECEDING) <= $max_sessions
            """;
        await run.ExecAsync("session filters", $"""
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
                SELECT *, {cap} AS cap_ok FROM by_user
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
            [new DuckDBParameter("min_length", o.MinSessionLength),
             new DuckDBParameter("min_sessions", o.MinUserSessions),
             .. o.MaxSessionsPerUser is { } max ? [new DuckDBParameter("max_sessions", max)] : Array.Empty<DuckDBParameter>()]);
        // Per kept item: the furthest filter stage one of its sessions reached (for the item counts per step),
        // its support in train, whether fit has it (what valid is cleaned against) and its support over all kept
        // sessions (split set = stage 4), which the complete item map counts.
        // The split tests run once per session, not per event: compared per event, the ENUM was cast to text for
        // every one of them, most of this step's time.
        await run.ExecAsync("item stats", """
            CREATE OR REPLACE TEMP TABLE fe_item_stats AS
            SELECT e.ikey, max(s.stage) AS reach,
                count(*) FILTER (WHERE s.in_train) AS train_support,
                coalesce(bool_or(s.in_fit), false) AS in_fit,
                count(*) FILTER (WHERE s.in_complete) AS complete_support
            FROM fe_events e
            JOIN fe_item_support i USING (ikey)
            JOIN (
                SELECT sess, stage, split IN ('fit', 'valid') AS in_train, split = 'fit' AS in_fit,
                    split IS NOT NULL AS in_complete
                FROM fe_session_stage
            ) s USING (sess)
            WHERE i.kept
            GROUP BY e.ikey
            """);

        Steps = await StepCountsAsync(run);
        if (Steps[^1].Users == 0)
            throw new PipelineException(
                $"{run.WarehousePath}: no sessions left after filtering ({Describe(Steps)}); loosen the Features options");
    }

    async Task<List<FilterStepCounts>> StepCountsAsync(PrepareRun run)
    {
        var steps = new List<FilterStepCounts>();
        using (var command = run.Command("""
            SELECT sum(raw_events)::BIGINT, count(*), count(DISTINCT ukey), (SELECT count(*) FROM fe_item_support)
            FROM fe_session_stage
            """))
            steps.Add(await ReadCountsAsync(run, command, "sessionized"));
        string[] names = ["min_item_support", "min_session_length", "min_user_sessions", "max_sessions_per_user"];
        int last = o.MaxSessionsPerUser is null ? 3 : 4; // the cap is listed only when it is set
        for (int stage = 1; stage <= last; stage++)
        {
            using var command = run.Command("""
                SELECT coalesce(sum(events) FILTER (WHERE stage >= $stage), 0)::BIGINT,
                    count(*) FILTER (WHERE stage >= $stage),
                    count(DISTINCT ukey) FILTER (WHERE stage >= $stage),
                    (SELECT count(*) FROM fe_item_stats WHERE reach >= $stage)
                FROM fe_session_stage
                """, new DuckDBParameter("stage", stage));
            steps.Add(await ReadCountsAsync(run, command, names[stage - 1]));
        }
        return steps;
    }

    static async Task<FilterStepCounts> ReadCountsAsync(PrepareRun run, DuckDBCommand command, string step)
    {
        using var reader = await command.ExecuteReaderAsync(run.Token);
        await reader.ReadAsync(run.Token);
        return new FilterStepCounts(step, reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
    }

    static string Describe(List<FilterStepCounts> steps) =>
        string.Join(", ", steps.Select(s => $"{s.Step}: {s.Events:N0} events, {s.Users:N0} users"));
}
