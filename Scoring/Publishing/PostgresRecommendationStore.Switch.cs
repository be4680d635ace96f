using System.Text;
using HrnnPipeline.ServiceDefaults;
using Npgsql;

namespace HrnnPipeline.Scoring.Publishing;

public sealed partial class PostgresRecommendationStore
{
    const string MovePointerSql = """
        insert into active_version (id, version, switched_at) values (true, $1, now())
        on conflict (id) do update set version = excluded.version, switched_at = excluded.switched_at
        """;

    /// <summary>
    /// One short transaction swaps the version in. The explicit locks make readers wait (milliseconds) instead of
    /// planning against the old partition set and then reading with a snapshot that sees the new pointer. A
    /// long-running reader must not stall the switch (and every reader queued behind it), so the locks are taken
    /// with a timeout and the switch retried.
    /// </summary>
    static async Task SwitchAsync(NpgsqlConnection conn, PartitionNames names, string version, int listLength, long users, long rows, CancellationToken ct)
    {
        const int attempts = 6;
        for (int attempt = 1; ; attempt++)
        {
            await using var tx = await conn.BeginTransactionAsync(ct);
            try
            {
                var sql = new StringBuilder("""
                    set local lock_timeout = '5s';
                    lock table recommendations, user_states, published_items in access exclusive mode;

                    """);
                foreach (var table in StoreSchema.VersionTables)
                    sql.Append($"""
                        drop table if exists {names.Live(table.Name)};
                        alter table {names.Staging(table.Name)} rename to {names.Live(table.Name)};
                        alter table {table.Name} attach partition {names.Live(table.Name)} for values in ('{version}');

                        """);
                await ExecuteAsync(conn, sql.ToString(), ct);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable)
            {
                await tx.RollbackAsync(ct);
                if (attempt == attempts)
                    throw new PipelineException($"version {version}: readers held the recommendation tables for {attempts * 5}s; the switch gave up (the old version still serves)", isPermanent: false, e);
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), ct);
                continue;
            }
            await ExecuteAsync(conn, VersionSql.DemoteActive("$1"), ct, version);
            await ExecuteAsync(conn, VersionSql.Activate("$1", "$2", "$3", "$4"), ct, version, listLength, users, rows);
            await ExecuteAsync(conn, MovePointerSql, ct, version);
            await tx.CommitAsync(ct);
            return;
        }
    }

    /// <summary>
    /// Leaves the store as it was before the attempt: staging tables dropped, the version's earlier status back
    /// (a re-publish of a served version keeps serving the old rows), or 'failed' for a version never served.
    /// </summary>
    async Task RecordFailureAsync(NpgsqlConnection conn, string version, string? previousStatus, Exception error)
    {
        PublishLog.Failed(_logger, Kind, version, error.Message);
        try
        {
            if (conn.FullState.HasFlag(System.Data.ConnectionState.Broken)) return;
            var names = new PartitionNames(version);
            await ExecuteAsync(conn, DropTablesSql(StoreSchema.VersionTables.Select(t => names.Staging(t.Name))), CancellationToken.None);
            var status = previousStatus is ModelVersionStatus.Active or ModelVersionStatus.Ready ? previousStatus : ModelVersionStatus.Failed;
            await ExecuteAsync(conn, "update model_versions set status = $2 where version = $1", CancellationToken.None, version, status);
        }
        catch (NpgsqlException)
        {
            // The original error is the one to report; leftovers are dropped by the next attempt.
        }
    }

    /// <summary>Retention (<see cref="VersionSql.DoomedVersions"/>): a doomed version's partitions are dropped.</summary>
    async Task PruneAsync(NpgsqlConnection conn, int keep, CancellationToken ct)
    {
        var doomed = new List<string>();
        await using (var cmd = Command(conn, VersionSql.DoomedVersions("$1"), [keep]))
        {
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) doomed.Add(reader.GetString(0));
        }
        foreach (var version in doomed)
        {
            var names = new PartitionNames(version);
            string[] tables = [.. StoreSchema.VersionTables.Select(t => names.Live(t.Name)), .. StoreSchema.VersionTables.Select(t => names.Staging(t.Name))];
            var existing = await ScalarAsync<long>(conn, "select count(*) from pg_class where relname = any($1)", ct, (object)tables);
            await using var tx = await conn.BeginTransactionAsync(ct);
            if (existing > 0)
                await ExecuteAsync(conn, DropTablesSql(tables), ct);
            int changed = await ExecuteAsync(conn, VersionSql.Retire("$1"), ct, version);
            await tx.CommitAsync(ct);
            if (existing > 0 || changed > 0) PublishLog.Retired(_logger, Kind, version, keep);
        }
    }

    static string DropTablesSql(IEnumerable<string> tables) => string.Join("\n", tables.Select(t => $"drop table if exists {t};"));

    public async Task<string> RollbackAsync(CancellationToken ct = default)
    {
        await using var conn = await OpenConnectionAsync(ct);
        await ExecuteAsync(conn, "select pg_advisory_lock($1)", ct, PublishLockKey);
        try
        {
            string? from, to;
            await using (var tx = await conn.BeginTransactionAsync(ct))
            {
                from = await ScalarAsync<string>(conn, "select version from active_version for update", ct);
                to = await ScalarAsync<string>(conn, VersionSql.RollbackTarget("$1"), ct, (object?)from ?? DBNull.Value);
                if (to is null)
                    throw new PipelineException($"postgres {_where}: no earlier ready version to roll back to (active: {from ?? "none"})");
                if (from is not null)
                    await ExecuteAsync(conn, "update model_versions set status = 'retired' where version = $1", ct, from);
                await ExecuteAsync(conn, "update model_versions set status = 'active', activated_at = now() where version = $1", ct, to);
                await ExecuteAsync(conn, MovePointerSql, ct, to);
                await tx.CommitAsync(ct);
            }
            PublishLog.RolledBack(_logger, Kind, from, to);
            await PruneAsync(conn, int.MaxValue, CancellationToken.None); // drops only the rolled-back version's rows
            return to;
        }
        finally
        {
            await ExecuteAsync(conn, "select pg_advisory_unlock($1)", CancellationToken.None, PublishLockKey);
        }
    }
}
