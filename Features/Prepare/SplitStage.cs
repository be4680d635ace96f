using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Features.Prepare;

/// <summary>
/// Dense ids (items 1..N over train by support then id, <c>fe_items</c>; users 0..U-1 by id, <c>fe_users</c>;
/// sessions by user then start) and the held-out cleaning: test keeps items seen in train, valid items seen in fit;
/// either is left out of its file when fewer than 2 events remain. The result is <c>fe_sessions_final</c>, one row
/// per kept session. The complete item map (<c>complete_idx</c>) extends the train map with the items only test has,
/// for the model published on all kept sessions.
/// </summary>
sealed class SplitStage : IPrepareStage
{
    public string Name => "split";

    public async Task RunAsync(PrepareRun run)
    {
        // Kept items; item_idx only for those in train (a test-only item gets none). complete_idx keeps every
        // train item's index, so a model trained on either map reads the other's train items alike, and numbers
        // the test-only items after them (by support over all kept sessions, then id); NULL for an item no kept
        // session has.
        await run.ExecAsync("item map", """
            CREATE OR REPLACE TEMP TABLE fe_items AS
            WITH ranked AS (
                SELECT s.ikey, k.item_id, s.train_support, s.in_fit, s.complete_support,
                    CASE WHEN s.train_support > 0 THEN
                        row_number() OVER (PARTITION BY s.train_support > 0 ORDER BY s.train_support DESC, k.item_id)
                    END::INTEGER AS item_idx,
                    CASE WHEN s.train_support = 0 AND s.complete_support > 0 THEN
                        row_number() OVER (PARTITION BY s.train_support = 0 AND s.complete_support > 0
                            ORDER BY s.complete_support DESC, k.item_id)
                    END AS test_only_rank
                FROM fe_item_stats s JOIN fe_item_keys k USING (ikey)
            )
            SELECT ikey, item_id, train_support, in_fit, item_idx, complete_support,
                coalesce(item_idx, count(item_idx) OVER () + test_only_rank)::INTEGER AS complete_idx
            FROM ranked
            """);
        // Split tests once per session (see item stats); only test and valid sessions are cleaned.
        await run.ExecAsync("clean held-out", """
            CREATE OR REPLACE TEMP TABLE fe_heldout AS
            SELECT e.sess, count(*) AS known
            FROM fe_events e
            JOIN (SELECT sess, split = 'test' AS is_test, split = 'valid' AS is_valid FROM fe_session_stage
                  WHERE split IN ('test', 'valid')) s USING (sess)
            JOIN fe_items m USING (ikey)
            WHERE (s.is_test AND m.item_idx IS NOT NULL) OR (s.is_valid AND m.in_fit)
            GROUP BY e.sess
            """);
        await run.ExecAsync("dense ids", """
            CREATE OR REPLACE TEMP TABLE fe_users AS
            SELECT ukey, (row_number() OVER (ORDER BY ukey) - 1)::INTEGER AS user_idx
            FROM (SELECT DISTINCT ukey FROM fe_session_stage WHERE stage = 4)
            """);
        // Numbered on a two-column table: a window carrying every session column would sort all of them.
        await run.ExecAsync("dense ids", """
            CREATE OR REPLACE TEMP TABLE fe_session_ids AS
            SELECT sess, (row_number() OVER (ORDER BY sess) - 1)::INTEGER AS session_idx
            FROM fe_session_stage
            WHERE stage = 4
            """);
        await run.ExecAsync("dense ids", """
            CREATE OR REPLACE TEMP TABLE fe_sessions_final AS
            SELECT s.sess, s.ukey, u.user_idx, i.session_idx, s.split, s.start_ts, s.end_ts, s.events::INTEGER AS events,
                (CASE WHEN s.split = 'fit' THEN s.events ELSE coalesce(h.known, 0) END)::INTEGER AS split_events,
                s.split = 'fit' OR coalesce(h.known, 0) >= 2 AS in_split
            FROM fe_session_stage s
            JOIN fe_session_ids i USING (sess)
            JOIN fe_users u USING (ukey)
            LEFT JOIN fe_heldout h USING (sess)
            """);

        if (await run.ScalarAsync("count train", "SELECT count(*) FROM fe_sessions_final WHERE split <> 'test'") == 0)
            throw new PipelineException(
                $"{run.WarehousePath}: no training sessions left (every user has a single session); loosen the Features options");
    }
}
