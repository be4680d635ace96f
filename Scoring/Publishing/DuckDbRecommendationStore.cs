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
    const string MovePointerSql = "insert or replace into active_version (id, version, switched_at) values (true, $version, now())";
    static readonly string DeleteVersionSql = string.Concat(StoreSchema.VersionTables.Select(t => $"delete from {t.Name} where version = $version;\n"));

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

    public static Task<DuckDbRecommendationStore> OpenAsync(string warehousePath, ILogger? logger = null, CancellationToken ct = default) =>
        OpenedStore.EnsureSchemaAsync(new DuckDbRecommendationStore(warehousePath, logger), ct);

    public async Task EnsureSchemaAsync(CancellationToken ct = default)
    {
        await _writeLock.WaitAsync(ct);
        try
        {
            using var conn = Open();
            Execute(conn, StoreSchema.CreateIfMissingSql(SqlDialect.DuckDb));
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
                    insert into model_versions (version, status, training_summary, evaluation_summary, scoring_mode)
                    values ($version, 'loading', $training, $evaluation, $mode)
                    """, ("version", version), ("training", v.TrainingSummaryJson), ("evaluation", v.EvaluationSummaryJson),
                    ("mode", v.Shards.ScoringMode));
            else
                Execute(conn, """
                    update model_versions
                    set training_summary = $training, evaluation_summary = $evaluation, scoring_mode = $mode, status = $status
                    where version = $version
                    """, ("version", version), ("training", v.TrainingSummaryJson), ("evaluation", v.EvaluationSummaryJson), ("mode", v.Shards.ScoringMode),
                    ("status", previousStatus is ModelVersionStatus.Active or ModelVersionStatus.Ready ? previousStatus : ModelVersionStatus.Loading));

            LoadCounts counts;
            try
            {
                counts = await Task.Run(() => LoadAndActivateAsync(conn, v, version, ct), ct);
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

    async Task<LoadCounts> LoadAndActivateAsync(DuckDBConnection conn, VersionToPublish v, string version, CancellationToken ct)
    {
        Execute(conn, StoreSchema.DuckDbCreateOrReplaceSql(Staging));
        var loaded = await ShardRows.LoadAsync((table, _) => DuckDbAppenderSink.OpenAsync(conn, Staging(table.Name)),
            version, v.Shards, v.Items, ct, new ProgressReporter($"publish {version} to duckdb", v.Shards.Rows, "rows"));
        v.Shards.CheckLoaded(loaded.RecommendationUsers, loaded.StateUsers);
        var repeated = Scalar<string>(conn, StoreSchema.RepeatedKeySql(Staging));
        if (repeated is not null)
            throw new PipelineException($"{v.Shards.VersionDir}: {repeated} appears in more than one row of the score shards");
        ct.ThrowIfCancellationRequested();

        // The switch: rows replaced and pointer moved in one transaction; readers see all of it or none of it.
        // Rows go in sorted (by user, mostly) so each user's rows sit together and the zone maps narrow a lookup to
        // one block; by name, so a table that gained a column in place still lines up.
        using (var tx = conn.BeginTransaction())
        {
            Execute(conn, DeleteVersionSql, ("version", version));
            Execute(conn, string.Concat(StoreSchema.VersionTables.Select(t =>
                $"insert into {t.Name} by name select * from {Staging(t.Name)} order by {t.SortKey};\n")));
            Execute(conn, VersionSql.DemoteActive("$version"), ("version", version));
            Execute(conn, VersionSql.Activate("$version", "$list_length", "$users", "$rows"),
                ("version", version), ("list_length", loaded.ListLength), ("users", loaded.StateUsers), ("rows", loaded.Rows));
            Execute(conn, MovePointerSql, ("version", version));
            tx.Commit();
        }
        DropStaging(conn);
        return new LoadCounts(loaded.Rows, loaded.StateUsers, loaded.ListLength);
    }

    static string Staging(string table) => table + "_staging";

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
        Execute(conn, string.Join("\n", StoreSchema.VersionTables.Select(t => $"drop table if exists {Staging(t.Name)};")));

    /// <summary>Retention, as in PostgreSQL (<see cref="VersionSql.DoomedVersions"/>): a doomed version's rows are deleted.</summary>
    void Prune(DuckDBConnection conn, int keep)
    {
        var doomed = new List<string>();
        using (var cmd = Command(conn, VersionSql.DoomedVersions("$keep"), ("keep", keep)))
        using (var reader = cmd.ExecuteReader())
            while (reader.Read()) doomed.Add(reader.GetString(0));

        foreach (var version in doomed)
        {
            var present = Scalar<long>(conn, "select count(*) from (select 1 from user_states where version = $version limit 1)", ("version", version));
            var retire = Scalar<long>(conn, "select count(*) from model_versions where version = $version and status in ('active', 'ready')", ("version", version));
            if (present == 0 && retire == 0) continue;
            using var tx = conn.BeginTransaction();
            Execute(conn, DeleteVersionSql, ("version", version));
            Execute(conn, VersionSql.Retire("$version"), ("version", version));
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
                to = Scalar<string>(conn, VersionSql.RollbackTarget("$from"), ("from", from))
                    ?? throw new PipelineException($"duckdb {_path}: no earlier ready version to roll back to (active: {from ?? "none"})");
                if (from is not null)
                    Execute(conn, "update model_versions set status = 'retired' where version = $version", ("version", from));
                Execute(conn, "update model_versions set status = 'active', activated_at = now() where version = $version", ("version", to));
                Execute(conn, MovePointerSql, ("version", to));
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
                   evaluation_summary::varchar, list_length, users, recommendation_rows, coalesce(scoring_mode, 'exact')
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
                reader.GetInt32(6), reader.GetInt64(7), reader.GetInt64(8), reader.GetString(9)));
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

    public Task<IReadOnlyDictionary<string, int>> ResolveItemIdsAsync(string version, IReadOnlyCollection<string> itemIds, CancellationToken ct = default) =>
        Task.FromResult<IReadOnlyDictionary<string, int>>(ItemMap<string, int>(version, itemIds, "item_id", "item_idx", StringComparer.Ordinal));

    public Task<IReadOnlyDictionary<int, string>> GetItemIdsAsync(string version, IReadOnlyCollection<int> itemIdx, CancellationToken ct = default) =>
        Task.FromResult<IReadOnlyDictionary<int, string>>(ItemMap<int, string>(version, itemIdx, "item_idx", "item_id", null));

    /// <summary>The item map of <paramref name="version"/> from column <paramref name="from"/> to <paramref name="to"/>, for the keys given.</summary>
    Dictionary<TFrom, TTo> ItemMap<TFrom, TTo>(string version, IReadOnlyCollection<TFrom> keys, string from, string to,
        IEqualityComparer<TFrom>? comparer) where TFrom : notnull
    {
        var found = new Dictionary<TFrom, TTo>(comparer);
        if (keys.Count == 0) return found;
        using var conn = Open();
        using var cmd = Command(conn, $"select {from}, {to} from published_items where version = $version and list_contains($keys, {from})",
            ("version", version), ("keys", keys.ToList()));
        using var reader = cmd.ExecuteReader();
        while (reader.Read()) found[reader.GetFieldValue<TFrom>(0)] = reader.GetFieldValue<TTo>(1);
        return found;
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
