using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using HrnnPipeline.ServiceDefaults;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace HrnnPipeline.Scoring.Publishing;

/// <summary>
/// The serving store in PostgreSQL. The per-version tables are partitioned by version: a version is bulk loaded
/// with binary COPY into plain staging tables (no index to maintain row by row), indexed and analysed once loaded,
/// then attached as partitions in the same short transaction that moves the pointer. Retiring a version drops its
/// partitions, which is instant and leaves nothing for vacuum.
/// </summary>
/// <remarks>
/// One job a file: this one publishes (the steps in order) and holds the connection helpers; the schema in
/// <c>.Schema.cs</c>, the bulk load in <c>.Load.cs</c>, the switch, retention and rollback in <c>.Switch.cs</c>, the
/// read API in <c>.Read.cs</c> and <c>.Filters.cs</c>.
/// </remarks>
public sealed partial class PostgresRecommendationStore : IRecommendationStore
{
    // Keys of the advisory locks that make schema creation and publishing one-at-a-time across processes.
    const long SchemaLockKey = 0x48524E4E_00000001;
    const long PublishLockKey = 0x48524E4E_00000002;

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
    public static Task<PostgresRecommendationStore> OpenAsync(string connectionString, ILogger? logger = null, CancellationToken ct = default) =>
        OpenedStore.EnsureSchemaAsync(new PostgresRecommendationStore(connectionString, logger), ct);

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
                insert into model_versions (version, status, training_summary, evaluation_summary, scoring_mode)
                values ($1, $2, $3::jsonb, $4::jsonb, $5)
                on conflict (version) do update
                set training_summary = excluded.training_summary,
                    evaluation_summary = excluded.evaluation_summary,
                    scoring_mode = excluded.scoring_mode,
                    status = case when model_versions.status in ('active', 'ready') then model_versions.status else excluded.status end
                """, ct, version, ModelVersionStatus.Loading, v.TrainingSummaryJson, (object?)v.EvaluationSummaryJson ?? DBNull.Value,
                v.Shards.ScoringMode);

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
        var loaded = await LoadStagingAsync(conn, names, v, ct);
        v.Shards.CheckLoaded(loaded.RecommendationUsers, loaded.StateUsers);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await IndexStagingAsync(conn, names, v.Shards.VersionDir, ct);
        PublishLog.Step(_logger, Kind, version, "indexes", clock.Elapsed.TotalSeconds);
        clock.Restart();

        await SwitchAsync(conn, names, version, loaded.ListLength, loaded.StateUsers, loaded.Rows, ct);
        await ExecuteAsync(conn, "analyze model_versions, active_version", ct); // tiny tables autovacuum may never analyse
        PublishLog.Step(_logger, Kind, version, "switch", clock.Elapsed.TotalSeconds);
        return new LoadCounts(loaded.Rows, loaded.StateUsers, loaded.ListLength);
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
        await using var cmd = Command(conn, sql, parameters);
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    static async Task<T?> ScalarAsync<T>(NpgsqlConnection conn, string sql, CancellationToken ct, params object?[] parameters)
    {
        await using var cmd = Command(conn, sql, parameters);
        var value = await cmd.ExecuteScalarAsync(ct);
        return value is null or DBNull ? default : (T)value;
    }

    static NpgsqlCommand Command(NpgsqlConnection conn, string sql, object?[] parameters)
    {
        // No command timeout: index builds over millions of rows take minutes; cancellation goes through ct.
        var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 0 };
        foreach (var p in parameters) cmd.Parameters.Add(new NpgsqlParameter { Value = p ?? DBNull.Value });
        return cmd;
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
