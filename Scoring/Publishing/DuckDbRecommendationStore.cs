using DuckDB.NET.Data;
using HrnnPipeline.ServiceDefaults;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HrnnPipeline.Scoring.Publishing;

/// <summary>
/// The embedded store: the same tables as in PostgreSQL, in the DuckDB warehouse file. A version is appended into
/// staging tables, then one transaction replaces the version's rows from them and moves the pointer; DuckDB's MVCC
/// keeps every reader on the snapshot it started with. DuckDB lets one process open the file, so this store is
/// for single-host use (batch consumers, the API on the pipeline's machine).
/// </summary>
public sealed partial class DuckDbRecommendationStore : IRecommendationStore
{
    static readonly string[] DataTables = ["recommendations", "user_states", "published_items", .. FilteredListTables.Tables];

    readonly string _path;
    readonly string _connectionString;
    readonly DuckDBConnection _keepAlive;
    readonly ILogger _logger;
    // DuckDB allows one writer transaction per table at a time; publishing and rollback queue here instead.
    readonly SemaphoreSlim _writeLock = new(1, 1);

    public DuckDbRecommendationStore(string warehousePath, ILogger? logger = null)
    {
        _path = Path.GetFullPath(warehousePath);
        _connectionString = $"Data Source={_path}";
        _logger = logger ?? NullLogger.Instance;
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        // Held open for the store's lifetime so the database stays loaded; each call opens a cheap connection to it.
        _keepAlive = new DuckDBConnection(_connectionString);
        try
        {
            _keepAlive.Open();
        }
        catch (DuckDBException e)
        {
            _keepAlive.Dispose();
            throw new PipelineException($"{_path}: cannot open the warehouse ({FirstLine(e.Message)}); is another process using it?", isPermanent: false, e);
        }
    }

    public DuckDbRecommendationStore(WorkDirectory work, ILogger? logger = null) : this(work.Warehouse, logger)
    {
    }

    public string Kind => "duckdb";

    public static async Task<DuckDbRecommendationStore> OpenAsync(string warehousePath, ILogger? logger = null, CancellationToken ct = default)
    {
        var store = new DuckDbRecommendationStore(warehousePath, logger);
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
        // No foreign key from active_version: DuckDB refuses updates of a referenced row, and the pointer is only
        // ever written in the same transaction that checks the version exists.
        // No ART indexes on the data tables either: DuckDB's planner does not use a multi-column ART for these
        // lookups, and one makes loads ~1.6x and deletes ~100x slower (measured, 4M rows). The read path is served
        // by zone maps instead: each version's rows are inserted sorted by (user_id, rank), so a user's lookup
        // touches one row group (about 1 ms at 4M rows).
        const string sql = """
            create table if not exists model_versions (
                version varchar primary key,
                status varchar not null check (status in ('loading', 'ready', 'active', 'retired', 'failed')),
                created_at timestamptz not null default now(),
                activated_at timestamptz,
                training_summary json not null,
                evaluation_summary json,
                list_length integer not null default 0,
                users bigint not null default 0,
                recommendation_rows bigint not null default 0
            );
            create table if not exists active_version (
                id boolean primary key default true check (id),
                version varchar not null,
                switched_at timestamptz not null default now()
            );
            create table if not exists recommendations (
                version varchar not null,
                user_id varchar not null,
                rank integer not null,
                item_id varchar not null,
                score float not null,
                predicted_value float
            );
            -- Stores made before outcome values: the column is added in place, the published rows are kept.
            alter table recommendations add column if not exists predicted_value float;
            create table if not exists user_states (
                version varchar not null,
                user_id varchar not null,
                user_state float[] not null,
                session_state float[] not null
            );
            create table if not exists published_items (
                version varchar not null,
                item_idx integer not null,
                item_id varchar not null,
                popularity bigint not null
            );
            """;
        await _writeLock.WaitAsync(ct);
        try
        {
            using var conn = Open();
            Execute(conn, sql);
            Execute(conn, FilteredListTables.DuckDbSchema());
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async Task<LoadCounts> PublishVersionAsync(VersionToPublish v, CancellationToken ct = default)
    {
        var version = ScoreShardFiles.ValidateVersion(v.Version);
        if (v.KeepVersions < 1) throw new PipelineException($"keep versions must be at least 1, got {v.KeepVersions}");
        await _writeLock.WaitAsync(ct);
        try
        {
            using var conn = Open();
            var previousStatus = Scalar<string>(conn, "select status from model_versions where version = $version", ("version", version));
            if (previousStatus is null)
                Execute(conn, """
                    insert into model_versions (version, status, training_summary, evaluation_summary)
                    values ($version, 'loading', $training, $evaluation)
                    """, ("version", version), ("training", v.TrainingSummaryJson), ("evaluation", v.EvaluationSummaryJson));
            else
                Execute(conn, """
                    update model_versions
                    set training_summary = $training, evaluation_summary = $evaluation, status = $status
                    where version = $version
                    """, ("version", version), ("training", v.TrainingSummaryJson), ("evaluation", v.EvaluationSummaryJson),
                    ("status", previousStatus is ModelVersionStatus.Active or ModelVersionStatus.Ready ? previousStatus : ModelVersionStatus.Loading));

            LoadCounts counts;
            try
            {
                counts = await Task.Run(() => LoadAndActivate(conn, v, version, ct), ct);
            }
            catch (Exception e)
            {
                RecordFailure(conn, version, previousStatus, e);
                if (e is DuckDBException db)
                    throw new PipelineException($"publishing version {version} to {_path} failed: {FirstLine(db.Message)}; the active version is unchanged", isPermanent: false, db);
                throw;
            }
            Prune(conn, v.KeepVersions);
            return counts;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    LoadCounts LoadAndActivate(DuckDBConnection conn, VersionToPublish v, string version, CancellationToken ct)
    {
        Execute(conn, DuckDbShardAppender.CreateTablesSql("recommendations_staging", "user_states_staging", "published_items_staging"));
        DuckDbShardAppender.AppendItems(conn, "published_items_staging", version, v.Items);
        var (rows, recUsers, listLength) = DuckDbShardAppender.AppendRecommendations(conn, "recommendations_staging", version, v.Shards, ct,
            new ProgressReporter($"publish {version} to duckdb", v.Shards.Rows, "rows"));
        long users = DuckDbShardAppender.AppendStates(conn, "user_states_staging", version, v.Shards, ct);
        FilteredListTables.AppendDuckDb(conn, "_staging", version, v.Shards, ct);
        v.Shards.CheckLoaded(recUsers, users);
        CheckUnique(conn, v.Shards.VersionDir);
        ct.ThrowIfCancellationRequested();

        // The switch: rows replaced and pointer moved in one transaction; readers see all of it or none of it.
        // Rows go in sorted by user so each user's rows sit together and the zone maps narrow a lookup to one block.
        using (var tx = conn.BeginTransaction())
        {
            Execute(conn, """
                delete from recommendations where version = $version;
                delete from user_states where version = $version;
                delete from published_items where version = $version;
                """, ("version", version));
            Execute(conn, """
                insert into published_items select * from published_items_staging order by item_idx;
                insert into user_states select * from user_states_staging order by user_id;
                insert into recommendations by name select * from recommendations_staging order by user_id, rank;
                """);
            FilteredListTables.SwapDuckDb(conn, version, "_staging");
            Execute(conn, "update model_versions set status = 'ready' where status = 'active' and version <> $version", ("version", version));
            Execute(conn, """
                update model_versions
                set status = 'active', activated_at = now(), list_length = $list_length, users = $users, recommendation_rows = $rows
                where version = $version
                """, ("version", version), ("list_length", listLength), ("users", users), ("rows", rows));
            Execute(conn, "insert or replace into active_version (id, version, switched_at) values (true, $version, now())", ("version", version));
            tx.Commit();
        }
        DropStaging(conn);
        return new LoadCounts(rows, users, listLength);
    }

    static void CheckUnique(DuckDBConnection conn, string versionDir)
    {
        var repeated = Scalar<string>(conn, """
            select 'user ' || user_id || ' rank ' || rank from recommendations_staging group by user_id, rank having count(*) > 1
            union all
            select 'user ' || user_id from user_states_staging group by user_id having count(*) > 1
            union all
            select 'item ' || item_id from published_items_staging group by item_id having count(*) > 1
            limit 1
            """);
        if (repeated is not null)
            throw new PipelineException($"{versionDir}: {repeated} appears in more than one row of the score shards");
    }

    void RecordFailure(DuckDBConnection conn, string version, string? previousStatus, Exception error)
    {
        PublishLog.Failed(_logger, Kind, version, error.Message);
        try
        {
            DropStaging(conn);
            var status = previousStatus is ModelVersionStatus.Active or ModelVersionStatus.Ready ? previousStatus : ModelVersionStatus.Failed;
            Execute(conn, "update model_versions set status = $status where version = $version", ("version", version), ("status", status));
        }
        catch (DuckDBException)
        {
            // The original error is the one to report; staging tables are replaced by the next attempt.
        }
    }

    static void DropStaging(DuckDBConnection conn) =>
        Execute(conn, string.Join("\n", DataTables.Select(t => $"drop table if exists {t}_staging;")));

    /// <summary>Same rule as PostgreSQL: keep the active version and the newest ready ones, <paramref name="keep"/> in all.</summary>
    void Prune(DuckDBConnection conn, int keep)
    {
        var doomed = new List<string>();
        using (var cmd = Command(conn, """
            select version from (
                select version,
                       row_number() over (order by status = 'active' desc, activated_at desc nulls last, created_at desc) as position
                from model_versions
                where status in ('active', 'ready')
            ) ranked
            where position > $keep
            union all
            select version from model_versions where status in ('retired', 'failed')
            """, ("keep", keep)))
        using (var reader = cmd.ExecuteReader())
            while (reader.Read()) doomed.Add(reader.GetString(0));

        foreach (var version in doomed)
        {
            var present = Scalar<long>(conn, "select count(*) from (select 1 from user_states where version = $version limit 1)", ("version", version));
            var retire = Scalar<long>(conn, "select count(*) from model_versions where version = $version and status in ('active', 'ready')", ("version", version));
            if (present == 0 && retire == 0) continue;
            using var tx = conn.BeginTransaction();
            Execute(conn, """
                delete from recommendations where version = $version;
                delete from user_states where version = $version;
                delete from published_items where version = $version;
                """, ("version", version));
            FilteredListTables.Delete(conn, version);
            Execute(conn, "update model_versions set status = 'retired' where version = $version and status in ('active', 'ready')", ("version", version));
            tx.Commit();
            PublishLog.Retired(_logger, Kind, version, keep);
        }
    }

    public async Task<string> RollbackAsync(CancellationToken ct = default)
    {
        await _writeLock.WaitAsync(ct);
        try
        {
            using var conn = Open();
            string? from;
            string to;
            using (var tx = conn.BeginTransaction())
            {
                from = Scalar<string>(conn, "select version from active_version");
                to = Scalar<string>(conn, """
                    select version from model_versions
                    where status = 'ready' and version is distinct from $from
                    order by activated_at desc nulls last, created_at desc
                    limit 1
                    """, ("from", from))
                    ?? throw new PipelineException($"duckdb {_path}: no earlier ready version to roll back to (active: {from ?? "none"})");
                if (from is not null)
                    Execute(conn, "update model_versions set status = 'retired' where version = $version", ("version", from));
                Execute(conn, "update model_versions set status = 'active', activated_at = now() where version = $version", ("version", to));
                Execute(conn, "insert or replace into active_version (id, version, switched_at) values (true, $version, now())", ("version", to));
                tx.Commit();
            }
            PublishLog.RolledBack(_logger, Kind, from, to);
            Prune(conn, int.MaxValue);
            return to;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public Task<string?> GetActiveVersionAsync(CancellationToken ct = default)
    {
        using var conn = Open();
        return Task.FromResult(Scalar<string>(conn, "select version from active_version"));
    }

    public Task<IReadOnlyList<ModelVersionRecord>> ListVersionsAsync(CancellationToken ct = default)
    {
        using var conn = Open();
        using var cmd = Command(conn, """
            select version, status, epoch_ms(created_at), epoch_ms(activated_at), training_summary::varchar,
                   evaluation_summary::varchar, list_length, users, recommendation_rows
            from model_versions
            order by coalesce(activated_at, created_at) desc, created_at desc
            """);
        using var reader = cmd.ExecuteReader();
        var versions = new List<ModelVersionRecord>();
        while (reader.Read())
            versions.Add(new ModelVersionRecord(
                reader.GetString(0), reader.GetString(1),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)),
                reader.IsDBNull(3) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)),
                reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.GetInt32(6), reader.GetInt64(7), reader.GetInt64(8)));
        return Task.FromResult<IReadOnlyList<ModelVersionRecord>>(versions);
    }

    public Task<RecommendationLookup> GetRecommendationsAsync(string userId, int k, CancellationToken ct = default)
    {
        // One statement, one snapshot: the pointer and the rows can't come from two different versions.
        using var conn = Open();
        using var cmd = Command(conn, """
            select a.version, v.list_length, r.rank, r.item_id, r.score, r.predicted_value
            from active_version a
            join model_versions v on v.version = a.version
            left join recommendations r on r.version = a.version and r.user_id = $user_id and r.rank <= $k
            order by r.rank
            """, ("user_id", userId), ("k", k));
        using var reader = cmd.ExecuteReader();
        string? version = null;
        int listLength = 0;
        var items = new List<RecommendedItem>();
        while (reader.Read())
        {
            version = reader.GetString(0);
            listLength = reader.GetInt32(1);
            if (!reader.IsDBNull(2))
                items.Add(new RecommendedItem(reader.GetString(3), reader.GetFloat(4), reader.GetInt32(2), RecommendedItem.PredictedValueAt(reader, 5)));
        }
        return Task.FromResult(new RecommendationLookup(version, listLength, items));
    }

    public Task<SessionStateLookup> GetSessionStateAsync(string userId, CancellationToken ct = default)
    {
        using var conn = Open();
        using var cmd = Command(conn, """
            select a.version, v.list_length, s.session_state, s.user_state
            from active_version a
            join model_versions v on v.version = a.version
            left join user_states s on s.version = a.version and s.user_id = $user_id
            """, ("user_id", userId));
        using var reader = cmd.ExecuteReader();
        if (!reader.Read()) return Task.FromResult(new SessionStateLookup(null, 0, null));
        return Task.FromResult(new SessionStateLookup(reader.GetString(0), reader.GetInt32(1),
            reader.IsDBNull(2) ? null : reader.GetFieldValue<List<float>>(2).ToArray(),
            reader.IsDBNull(3) ? null : reader.GetFieldValue<List<float>>(3).ToArray()));
    }

    public Task<IReadOnlyDictionary<string, int>> ResolveItemIdsAsync(string version, IReadOnlyCollection<string> itemIds, CancellationToken ct = default)
    {
        var found = new Dictionary<string, int>(StringComparer.Ordinal);
        if (itemIds.Count == 0) return Task.FromResult<IReadOnlyDictionary<string, int>>(found);
        using var conn = Open();
        using var cmd = Command(conn, "select item_id, item_idx from published_items where version = $version and list_contains($ids, item_id)",
            ("version", version), ("ids", itemIds.ToList()));
        using var reader = cmd.ExecuteReader();
        while (reader.Read()) found[reader.GetString(0)] = reader.GetInt32(1);
        return Task.FromResult<IReadOnlyDictionary<string, int>>(found);
    }

    public Task<IReadOnlyDictionary<int, string>> GetItemIdsAsync(string version, IReadOnlyCollection<int> itemIdx, CancellationToken ct = default)
    {
        var found = new Dictionary<int, string>();
        if (itemIdx.Count == 0) return Task.FromResult<IReadOnlyDictionary<int, string>>(found);
        using var conn = Open();
        using var cmd = Command(conn, "select item_idx, item_id from published_items where version = $version and list_contains($idx, item_idx)",
            ("version", version), ("idx", itemIdx.ToList()));
        using var reader = cmd.ExecuteReader();
        while (reader.Read()) found[reader.GetInt32(0)] = reader.GetString(1);
        return Task.FromResult<IReadOnlyDictionary<int, string>>(found);
    }

    public ValueTask DisposeAsync()
    {
        _keepAlive.Dispose();
        _writeLock.Dispose();
        return ValueTask.CompletedTask;
    }

    DuckDBConnection Open()
    {
        var conn = new DuckDBConnection(_connectionString);
        conn.Open();
        return conn;
    }

    static DuckDBCommand Command(DuckDBConnection conn, string sql, params (string Name, object? Value)[] parameters)
    {
        var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters) cmd.Parameters.Add(new DuckDBParameter(name, value ?? DBNull.Value));
        return cmd;
    }

    static void Execute(DuckDBConnection conn, string sql, params (string Name, object? Value)[] parameters)
    {
        using var cmd = Command(conn, sql, parameters);
        cmd.ExecuteNonQuery();
    }

    static T? Scalar<T>(DuckDBConnection conn, string sql, params (string Name, object? Value)[] parameters)
    {
        using var cmd = Command(conn, sql, parameters);
        var value = cmd.ExecuteScalar();
        return value is null or DBNull ? default : (T)Convert.ChangeType(value, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    static string FirstLine(string message) => message.Split('\n', 2)[0];
}
