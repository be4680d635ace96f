using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Apache.Arrow;
using HrnnPipeline.ServiceDefaults;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace HrnnPipeline.Scoring.Publishing;

/// <summary>
/// The serving store in PostgreSQL. The three data tables are partitioned by version: a version is bulk loaded
/// with binary COPY into plain staging tables (no index to maintain row by row), indexed and analysed once loaded,
/// then attached as partitions in the same short transaction that moves the pointer. Retiring a version drops its
/// partitions, which is instant and leaves nothing for vacuum.
/// </summary>
public sealed partial class PostgresRecommendationStore : IRecommendationStore
{
    // Keys of the advisory locks that make schema creation and publishing one-at-a-time across processes.
    const long SchemaLockKey = 0x48524E4E_00000001;
    const long PublishLockKey = 0x48524E4E_00000002;

    static readonly string[] DataTables = ["recommendations", "user_states", "published_items", .. FilteredListTables.Tables];

    readonly NpgsqlDataSource _dataSource;
    readonly bool _ownsDataSource;
    readonly ILogger _logger;
    readonly string _where;

    public PostgresRecommendationStore(string connectionString, ILogger? logger = null)
        : this(NpgsqlDataSource.Create(connectionString), logger, ownsDataSource: true)
    {
    }

    /// <summary>Uses a data source the caller owns (e.g. one registered in DI and shared with health checks).</summary>
    public PostgresRecommendationStore(NpgsqlDataSource dataSource, ILogger? logger = null)
        : this(dataSource, logger, ownsDataSource: false)
    {
    }

    PostgresRecommendationStore(NpgsqlDataSource dataSource, ILogger? logger, bool ownsDataSource)
    {
        _dataSource = dataSource;
        _ownsDataSource = ownsDataSource;
        _logger = logger ?? NullLogger.Instance;
        var cs = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
        _where = $"{cs.Host}:{cs.Port}/{cs.Database}";
    }

    public string Kind => "postgres";

    /// <summary>Opens the store and makes sure its tables exist.</summary>
    public static async Task<PostgresRecommendationStore> OpenAsync(string connectionString, ILogger? logger = null, CancellationToken ct = default)
    {
        var store = new PostgresRecommendationStore(connectionString, logger);
        try
        {
            await store.EnsureSchemaAsync(ct);
            return store;
        }
        catch
        {
            await store.DisposeAsync();
            throw;
        }
    }

    public async Task EnsureSchemaAsync(CancellationToken ct = default)
    {
        // Text columns use the C collation: the read path only tests equality, and C makes index builds fast on
        // servers whose default collation is a linguistic one.
        const string sql = """
            select pg_advisory_xact_lock(@lock);
            create table if not exists model_versions (
                version text collate "C" primary key,
                status text not null check (status in ('loading', 'ready', 'active', 'retired', 'failed')),
                created_at timestamptz not null default now(),
                activated_at timestamptz,
                training_summary jsonb not null,
                evaluation_summary jsonb,
                list_length integer not null default 0,
                users bigint not null default 0,
                recommendation_rows bigint not null default 0
            );
            create table if not exists active_version (
                id boolean primary key default true check (id),
                version text collate "C" not null references model_versions (version),
                switched_at timestamptz not null default now()
            );
            create table if not exists recommendations (
                version text collate "C" not null,
                user_id text collate "C" not null,
                rank integer not null,
                item_id text collate "C" not null,
                score real not null,
                predicted_value real
            ) partition by list (version);
            -- Stores made before outcome values: the column is added in place (to every partition), rows are kept.
            alter table recommendations add column if not exists predicted_value real;
            create unique index if not exists recommendations_read on recommendations (version, user_id, rank);
            create table if not exists user_states (
                version text collate "C" not null,
                user_id text collate "C" not null,
                user_state real[] not null,
                session_state real[] not null
            ) partition by list (version);
            create unique index if not exists user_states_read on user_states (version, user_id);
            create table if not exists published_items (
                version text collate "C" not null,
                item_idx integer not null,
                item_id text collate "C" not null,
                popularity bigint not null
            ) partition by list (version);
            create unique index if not exists published_items_by_idx on published_items (version, item_idx);
            create unique index if not exists published_items_by_id on published_items (version, item_id);
            """;
        await using var conn = await OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var cmd = new NpgsqlCommand(sql + FilteredListTables.PostgresSchema, conn, tx))
        {
            cmd.Parameters.AddWithValue("lock", SchemaLockKey);
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
    }

    public async Task<LoadCounts> PublishVersionAsync(VersionToPublish v, CancellationToken ct = default)
    {
        var version = ScoreShardFiles.ValidateVersion(v.Version);
        if (v.KeepVersions < 1) throw new PipelineException($"keep versions must be at least 1, got {v.KeepVersions}");
        await using var conn = await OpenConnectionAsync(ct);
        await ExecuteAsync(conn, "select pg_advisory_lock($1)", ct, PublishLockKey);
        try
        {
            await ExecuteAsync(conn, "set maintenance_work_mem = '256MB'", ct); // index builds sort in memory
            var previousStatus = await ScalarAsync<string>(conn, "select status from model_versions where version = $1", ct, version);
            await ExecuteAsync(conn, """
                insert into model_versions (version, status, training_summary, evaluation_summary)
                values ($1, $2, $3::jsonb, $4::jsonb)
                on conflict (version) do update
                set training_summary = excluded.training_summary,
                    evaluation_summary = excluded.evaluation_summary,
                    status = case when model_versions.status in ('active', 'ready') then model_versions.status else excluded.status end
                """, ct, version, ModelVersionStatus.Loading, v.TrainingSummaryJson, (object?)v.EvaluationSummaryJson ?? DBNull.Value);

            LoadCounts counts;
            try
            {
                counts = await LoadAndActivateAsync(conn, v, version, ct);
            }
            catch (Exception e)
            {
                await RecordFailureAsync(conn, version, previousStatus, e);
                if (e is NpgsqlException db)
                    throw new PipelineException($"publishing version {version} to PostgreSQL at {_where} failed: {db.Message}; the active version is unchanged", isPermanent: false, db);
                throw;
            }
            await PruneAsync(conn, v.KeepVersions, CancellationToken.None); // the new version is live: finish tidying
            return counts;
        }
        finally
        {
            await ExecuteAsync(conn, "select pg_advisory_unlock($1)", CancellationToken.None, PublishLockKey);
        }
    }

    async Task<LoadCounts> LoadAndActivateAsync(NpgsqlConnection conn, VersionToPublish v, string version, CancellationToken ct)
    {
        var names = new PartitionNames(version);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await CreateStagingTablesAsync(conn, names, version, ct);

        await CopyItemsAsync(conn, names.Staging("published_items"), v, version, ct);
        var (rows, recUsers, listLength) = await CopyRecommendationsAsync(conn, names.Staging("recommendations"), v, version, ct);
        PublishLog.Step(_logger, Kind, version, "copy of recommendations", clock.Elapsed.TotalSeconds);
        clock.Restart();
        long users = await CopyStatesAsync(conn, names.Staging("user_states"), v, version, ct);
        PublishLog.Step(_logger, Kind, version, "copy of user states", clock.Elapsed.TotalSeconds);
        v.Shards.CheckLoaded(recUsers, users);
        await FilteredListTables.CopyPostgresAsync(conn, names.Staging, version, v.Shards, ct);

        clock.Restart();
        await IndexStagingAsync(conn, names, v.Shards.VersionDir, ct);
        PublishLog.Step(_logger, Kind, version, "indexes", clock.Elapsed.TotalSeconds);
        clock.Restart();

        await SwitchAsync(conn, names, version, listLength, users, rows, ct);
        await ExecuteAsync(conn, "analyze model_versions, active_version", ct); // tiny tables autovacuum may never analyse
        PublishLog.Step(_logger, Kind, version, "switch", clock.Elapsed.TotalSeconds);
        return new LoadCounts(rows, users, listLength);
    }

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
                foreach (var table in DataTables)
                    sql.Append($"""
                        drop table if exists {names.Live(table)};
                        alter table {names.Staging(table)} rename to {names.Live(table)};
                        alter table {table} attach partition {names.Live(table)} for values in ('{version}');

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
            await ExecuteAsync(conn, "update model_versions set status = 'ready' where status = 'active' and version <> $1", ct, version);
            await ExecuteAsync(conn, """
                update model_versions
                set status = 'active', activated_at = now(), list_length = $2, users = $3, recommendation_rows = $4
                where version = $1
                """, ct, version, listLength, users, rows);
            await ExecuteAsync(conn, """
                insert into active_version (id, version, switched_at) values (true, $1, now())
                on conflict (id) do update set version = excluded.version, switched_at = excluded.switched_at
                """, ct, version);
            await tx.CommitAsync(ct);
            return;
        }
    }

    static async Task CreateStagingTablesAsync(NpgsqlConnection conn, PartitionNames names, string version, CancellationToken ct)
    {
        // Bounds and checks are DDL and take no parameters; the version was validated to [A-Za-z0-9._-].
        // The CHECK lets ATTACH PARTITION skip scanning the table to prove the bound.
        var sql = new StringBuilder();
        foreach (var table in DataTables)
            sql.Append($"""
                drop table if exists {names.Staging(table)};
                create table {names.Staging(table)} (like {table} including defaults including constraints,
                    check (version = '{version}'));

                """);
        await ExecuteAsync(conn, sql.ToString(), ct);
    }

    static async Task IndexStagingAsync(NpgsqlConnection conn, PartitionNames names, string versionDir, CancellationToken ct)
    {
        // Same columns as the parents' indexes, so ATTACH adopts them instead of building new ones.
        try
        {
            await ExecuteAsync(conn, $"""
                create unique index on {names.Staging("published_items")} (version, item_idx);
                create unique index on {names.Staging("published_items")} (version, item_id);
                create unique index on {names.Staging("user_states")} (version, user_id);
                create unique index on {names.Staging("recommendations")} (version, user_id, rank);
                analyze {names.Staging("published_items")};
                analyze {names.Staging("user_states")};
                analyze {names.Staging("recommendations")};
                """, ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            // The server hides the offending key unless error details are enabled: ask for it directly.
            var repeated = await ScalarAsync<string>(conn, $"""
                select 'user ' || user_id || ' rank ' || rank from {names.Staging("recommendations")} group by user_id, rank having count(*) > 1
                union all
                select 'user ' || user_id from {names.Staging("user_states")} group by user_id having count(*) > 1
                union all
                select 'item ' || item_id from {names.Staging("published_items")} group by item_id having count(*) > 1
                limit 1
                """, ct);
            throw new PipelineException($"{versionDir}: {repeated ?? e.MessageText} appears in more than one row of the score shards", inner: e);
        }
    }

    static async Task CopyItemsAsync(NpgsqlConnection conn, string table, VersionToPublish v, string version, CancellationToken ct)
    {
        await using var importer = await conn.BeginBinaryImportAsync(
            $"copy {table} (version, item_idx, item_id, popularity) from stdin (format binary)", ct);
        importer.Timeout = TimeSpan.FromMinutes(10); // per network operation; big shards stream for minutes
        var items = v.Items;
        for (int i = items.FirstIndex; i < items.Ids.Length; i++)
        {
            importer.StartRow();
            importer.Write(version, NpgsqlDbType.Text);
            importer.Write(i, NpgsqlDbType.Integer);
            importer.Write(items.Ids[i], NpgsqlDbType.Text);
            importer.Write(items.Counts[i], NpgsqlDbType.Bigint);
        }
        await importer.CompleteAsync(ct);
    }

    static async Task<(long Rows, long Users, int ListLength)> CopyRecommendationsAsync(
        NpgsqlConnection conn, string table, VersionToPublish v, string version, CancellationToken ct)
    {
        long rows = 0, users = 0;
        int listLength = 0;
        var userIds = new RepeatedStrings();
        string? previousUser = null;
        await using var importer = await conn.BeginBinaryImportAsync(
            $"copy {table} (version, user_id, rank, item_id, score, predicted_value) from stdin (format binary)", ct);
        importer.Timeout = TimeSpan.FromMinutes(10); // per network operation; big shards stream for minutes
        // Synchronous writes: they only fill Npgsql's buffer, and async per value would cost more than the I/O.
        var progress = new ProgressReporter($"publish {version} to postgres", v.Shards.Rows, "rows");
        foreach (var batch in v.Shards.RecommendationBatches())
            using (batch)
            {
                ct.ThrowIfCancellationRequested();
                var userColumn = (StringArray)batch.Column(0);
                var ranks = (Int32Array)batch.Column(1);
                var itemColumn = (StringArray)batch.Column(2);
                var scores = (FloatArray)batch.Column(3);
                for (int r = 0; r < batch.Length; r++)
                {
                    var user = userIds.Get(userColumn, r);
                    if (!ReferenceEquals(user, previousUser)) { users++; previousUser = user; }
                    int rank = ranks.Values[r];
                    if (rank > listLength) listLength = rank;
                    importer.StartRow();
                    importer.Write(version, NpgsqlDbType.Text);
                    importer.Write(user, NpgsqlDbType.Text);
                    importer.Write(rank, NpgsqlDbType.Integer);
                    importer.Write(itemColumn.GetString(r), NpgsqlDbType.Text);
                    importer.Write(scores.Values[r], NpgsqlDbType.Real);
                    if (ScoreShardFiles.PredictedValue(batch, r) is { } value) importer.Write(value, NpgsqlDbType.Real);
                    else importer.WriteNull();
                }
                rows += batch.Length;
                progress.Report(rows);
            }
        await importer.CompleteAsync(ct);
        progress.Done();
        return (rows, users, listLength);
    }

    static async Task<long> CopyStatesAsync(NpgsqlConnection conn, string table, VersionToPublish v, string version, CancellationToken ct)
    {
        long users = 0;
        await using var importer = await conn.BeginBinaryImportAsync(
            $"copy {table} (version, user_id, user_state, session_state) from stdin (format binary)", ct);
        importer.Timeout = TimeSpan.FromMinutes(10); // per network operation; big shards stream for minutes
        foreach (var batch in v.Shards.StateBatches())
            using (batch)
            {
                ct.ThrowIfCancellationRequested();
                var userColumn = (StringArray)batch.Column(0);
                var userStates = (BinaryArray)batch.Column(1);
                var sessionStates = (BinaryArray)batch.Column(2);
                for (int r = 0; r < batch.Length; r++)
                {
                    importer.StartRow();
                    importer.Write(version, NpgsqlDbType.Text);
                    importer.Write(userColumn.GetString(r), NpgsqlDbType.Text);
                    importer.Write(ScoreShardReader.ToFloats(userStates.GetBytes(r)), NpgsqlDbType.Array | NpgsqlDbType.Real);
                    importer.Write(ScoreShardReader.ToFloats(sessionStates.GetBytes(r)), NpgsqlDbType.Array | NpgsqlDbType.Real);
                }
                users += batch.Length;
            }
        await importer.CompleteAsync(ct);
        return users;
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
            await ExecuteAsync(conn, string.Join("\n", DataTables.Select(t => $"drop table if exists {names.Staging(t)};")), CancellationToken.None);
            var status = previousStatus is ModelVersionStatus.Active or ModelVersionStatus.Ready ? previousStatus : ModelVersionStatus.Failed;
            await ExecuteAsync(conn, "update model_versions set status = $2 where version = $1", CancellationToken.None, version, status);
        }
        catch (NpgsqlException)
        {
            // The original error is the one to report; leftovers are dropped by the next attempt.
        }
    }

    /// <summary>
    /// Keeps the active version and the newest ready ones, <paramref name="keep"/> in all; older versions lose their
    /// partitions and become 'retired' (a failed version stays 'failed').
    /// </summary>
    async Task PruneAsync(NpgsqlConnection conn, int keep, CancellationToken ct)
    {
        var doomed = new List<string>();
        await using (var cmd = new NpgsqlCommand("""
            select version from (
                select version, status,
                       row_number() over (order by status = 'active' desc, activated_at desc nulls last, created_at desc) as position
                from model_versions
                where status in ('active', 'ready')
            ) ranked
            where position > $1
            union all
            select version from model_versions where status in ('retired', 'failed')
            """, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = keep });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) doomed.Add(reader.GetString(0));
        }
        foreach (var version in doomed)
        {
            var names = new PartitionNames(version);
            string[] tables = [.. DataTables.Select(names.Live), .. DataTables.Select(names.Staging)];
            var existing = await ScalarAsync<long>(conn, "select count(*) from pg_class where relname = any($1)", ct, (object)tables);
            await using var tx = await conn.BeginTransactionAsync(ct);
            if (existing > 0)
                await ExecuteAsync(conn, string.Join("\n", tables.Select(t => $"drop table if exists {t};")), ct);
            int changed = await ExecuteAsync(conn,
                "update model_versions set status = 'retired' where version = $1 and status in ('active', 'ready')", ct, version);
            await tx.CommitAsync(ct);
            if (existing > 0 || changed > 0) PublishLog.Retired(_logger, Kind, version, keep);
        }
    }

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
                to = await ScalarAsync<string>(conn, """
                    select version from model_versions
                    where status = 'ready' and version is distinct from $1
                    order by activated_at desc nulls last, created_at desc
                    limit 1
                    """, ct, (object?)from ?? DBNull.Value);
                if (to is null)
                    throw new PipelineException($"postgres {_where}: no earlier ready version to roll back to (active: {from ?? "none"})");
                if (from is not null)
                    await ExecuteAsync(conn, "update model_versions set status = 'retired' where version = $1", ct, from);
                await ExecuteAsync(conn, "update model_versions set status = 'active', activated_at = now() where version = $1", ct, to);
                await ExecuteAsync(conn, """
                    insert into active_version (id, version, switched_at) values (true, $1, now())
                    on conflict (id) do update set version = excluded.version, switched_at = excluded.switched_at
                    """, ct, to);
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

    public async Task<string?> GetActiveVersionAsync(CancellationToken ct = default)
    {
        try
        {
            await using var conn = await OpenConnectionAsync(ct);
            return await ScalarAsync<string>(conn, "select version from active_version", ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            // The tables come with the first publish: before it, a read finds nothing published, not an error.
            return null;
        }
    }

    public async Task<IReadOnlyList<ModelVersionRecord>> ListVersionsAsync(CancellationToken ct = default)
    {
        await using var conn = await OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand("""
            select version, status, created_at, activated_at, training_summary::text, evaluation_summary::text,
                   list_length, users, recommendation_rows
            from model_versions
            order by coalesce(activated_at, created_at) desc, created_at desc
            """, conn);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var versions = new List<ModelVersionRecord>();
        while (await reader.ReadAsync(ct))
            versions.Add(new ModelVersionRecord(
                reader.GetString(0), reader.GetString(1),
                reader.GetFieldValue<DateTimeOffset>(2),
                reader.IsDBNull(3) ? null : reader.GetFieldValue<DateTimeOffset>(3),
                reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.GetInt32(6), reader.GetInt64(7), reader.GetInt64(8)));
        return versions;
    }

    public async Task<RecommendationLookup> GetRecommendationsAsync(string userId, int k, CancellationToken ct = default)
    {
        try
        {
            // One statement, one snapshot: the pointer and the rows can't come from two different versions. The
            // version is a scalar subquery so it is known before the scan: the executor prunes to that version's
            // partition and probes its (version, user_id, rank) index, whatever the planner guesses about the join.
            await using var conn = await OpenConnectionAsync(ct);
            await using var cmd = new NpgsqlCommand("""
                select a.version, v.list_length, r.rank, r.item_id, r.score, r.predicted_value
                from active_version a
                join model_versions v on v.version = a.version
                left join recommendations r
                    on r.version = (select version from active_version) and r.user_id = $1 and r.rank <= $2
                order by r.rank
                """, conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = userId, NpgsqlDbType = NpgsqlDbType.Text });
            cmd.Parameters.Add(new NpgsqlParameter { Value = k, NpgsqlDbType = NpgsqlDbType.Integer });
            // Prepared once per pooled connection: planning this partition-pruned join cost more than running it.
            await cmd.PrepareAsync(ct);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            string? version = null;
            int listLength = 0;
            var items = new List<RecommendedItem>();
            while (await reader.ReadAsync(ct))
            {
                version = reader.GetString(0);
                listLength = reader.GetInt32(1);
                if (!reader.IsDBNull(2))
                    items.Add(new RecommendedItem(reader.GetString(3), reader.GetFloat(4), reader.GetInt32(2), RecommendedItem.PredictedValueAt(reader, 5)));
            }
            return new RecommendationLookup(version, listLength, items);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            // The tables come with the first publish: before it, a read finds nothing published, not an error.
            return new RecommendationLookup(null, 0, []);
        }
    }

    public async Task<SessionStateLookup> GetSessionStateAsync(string userId, CancellationToken ct = default)
    {
        try
        {
            await using var conn = await OpenConnectionAsync(ct);
            await using var cmd = new NpgsqlCommand("""
                select a.version, v.list_length, s.session_state, s.user_state
                from active_version a
                join model_versions v on v.version = a.version
                left join user_states s on s.version = (select version from active_version) and s.user_id = $1
                """, conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = userId, NpgsqlDbType = NpgsqlDbType.Text });
            await cmd.PrepareAsync(ct);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            if (!await reader.ReadAsync(ct)) return new SessionStateLookup(null, 0, null);
            return new SessionStateLookup(reader.GetString(0), reader.GetInt32(1),
                reader.IsDBNull(2) ? null : reader.GetFieldValue<float[]>(2),
                reader.IsDBNull(3) ? null : reader.GetFieldValue<float[]>(3));
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            // The tables come with the first publish: before it, a read finds nothing published, not an error.
            return new SessionStateLookup(null, 0, null);
        }
    }

    public async Task<IReadOnlyDictionary<string, int>> ResolveItemIdsAsync(string version, IReadOnlyCollection<string> itemIds, CancellationToken ct = default)
    {
        var found = new Dictionary<string, int>(StringComparer.Ordinal);
        if (itemIds.Count == 0) return found;
        await using var conn = await OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand("select item_id, item_idx from published_items where version = $1 and item_id = any($2)", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = version, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = itemIds.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) found[reader.GetString(0)] = reader.GetInt32(1);
        return found;
    }

    public async Task<IReadOnlyDictionary<int, string>> GetItemIdsAsync(string version, IReadOnlyCollection<int> itemIdx, CancellationToken ct = default)
    {
        var found = new Dictionary<int, string>();
        if (itemIdx.Count == 0) return found;
        await using var conn = await OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand("select item_idx, item_id from published_items where version = $1 and item_idx = any($2)", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = version, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = itemIdx.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) found[reader.GetInt32(0)] = reader.GetString(1);
        return found;
    }

    public async ValueTask DisposeAsync()
    {
        if (_ownsDataSource) await _dataSource.DisposeAsync();
    }

    async Task<NpgsqlConnection> OpenConnectionAsync(CancellationToken ct)
    {
        try
        {
            return await _dataSource.OpenConnectionAsync(ct);
        }
        catch (Exception e) when (e is NpgsqlException { InnerException: SocketException or TimeoutException or IOException } or SocketException)
        {
            throw new PipelineException($"cannot reach PostgreSQL at {_where}: {e.Message}; check ConnectionStrings:postgres", isPermanent: false, e);
        }
        catch (PostgresException e)
        {
            throw new PipelineException($"PostgreSQL at {_where} refused the connection: {e.MessageText}; check ConnectionStrings:postgres", isPermanent: true, e);
        }
    }

    static async Task<int> ExecuteAsync(NpgsqlConnection conn, string sql, CancellationToken ct, params object?[] parameters)
    {
        // No command timeout: index builds over millions of rows take minutes; cancellation goes through ct.
        await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 0 };
        foreach (var p in parameters) cmd.Parameters.Add(new NpgsqlParameter { Value = p ?? DBNull.Value });
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    static async Task<T?> ScalarAsync<T>(NpgsqlConnection conn, string sql, CancellationToken ct, params object?[] parameters)
    {
        await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 0 };
        foreach (var p in parameters) cmd.Parameters.Add(new NpgsqlParameter { Value = p ?? DBNull.Value });
        var value = await cmd.ExecuteScalarAsync(ct);
        return value is null or DBNull ? default : (T)value;
    }

    /// <summary>
    /// Table names of a version's partitions: a hash of the version, so any valid version name maps to a short,
    /// safe identifier (PostgreSQL cuts names at 63 bytes).
    /// </summary>
    sealed class PartitionNames(string version)
    {
        readonly string _suffix = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(version)))[..16];
        public string Version => version;
        public string Live(string table) => $"{table}_v_{_suffix}";
        public string Staging(string table) => $"{table}_s_{_suffix}";
    }
}
