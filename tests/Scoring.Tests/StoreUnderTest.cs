using System.Globalization;
using DuckDB.NET.Data;
using HrnnPipeline.Scoring.Publishing;
using HrnnPipeline.ServiceDefaults;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace HrnnPipeline.Tests.Scoring;

/// <summary>A store of either kind over real storage (a fresh PostgreSQL database or DuckDB file) and a work folder.</summary>
public sealed class StoreUnderTest : IAsyncDisposable
{
    public const string Postgres = "postgres";
    public const string DuckDb = "duckdb";
    public const int ItemCount = 500;

    readonly string? _postgres;

    StoreUnderTest(WorkDirectory work, IRecommendationStore store, Func<IRecommendationStore> openAnother, string? postgres = null)
    {
        _postgres = postgres;
        Work = work;
        Store = store;
        OpenAnother = openAnother;
    }

    public WorkDirectory Work { get; }
    public IRecommendationStore Store { get; }
    /// <summary>Opens a second store over the same storage (PostgreSQL: another data source; DuckDB: the same file).</summary>
    public Func<IRecommendationStore> OpenAnother { get; }

    public static async Task<StoreUnderTest> CreateAsync(string kind, PostgresFixture postgres, ILogger? logger = null)
    {
        var work = new WorkDirectory(Path.Combine(postgres.Root, "work-" + Guid.NewGuid().ToString("N")[..8]));
        switch (kind)
        {
            case Postgres:
                var connectionString = await postgres.CreateDatabaseAsync();
                return new StoreUnderTest(work, await PostgresRecommendationStore.OpenAsync(connectionString, logger),
                    () => new PostgresRecommendationStore(connectionString), connectionString);
            case DuckDb:
                var store = await DuckDbRecommendationStore.OpenAsync(work.Warehouse, logger);
                return new StoreUnderTest(work, store, () => store);
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    public string WriteScores(string version, int seed, int users, int k, int shards = 2, string scoringMode = "exact") =>
        FakeScores.Write(Work.Scores, version, seed, users, k, ItemCount, shards, scoringMode);

    public async Task<PublishResult> PublishAsync(string version, int seed, int users, int k, PublishOptions? options = null,
        string scoringMode = "exact")
    {
        var versionDir = WriteScores(version, seed, users, k, scoringMode: scoringMode);
        return await new Publisher(options).PublishAsync(versionDir, version, 2, FakeScores.Items(ItemCount),
            $$"""{"seed": {{seed}}}""", """{"recall_at_20": 0.5}""", Store, CancellationToken.None);
    }

    /// <summary>Counts a version's rows straight from the storage, bypassing the store's read path.</summary>
    public async Task<long> CountRowsAsync(string table, string version)
    {
        if (_postgres is not null)
        {
            await using var conn = new NpgsqlConnection(_postgres);
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"select count(*) from {table} where version = $1", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = version });
            return (long)(await cmd.ExecuteScalarAsync())!;
        }
        using var duck = new DuckDBConnection($"Data Source={Work.Warehouse}");
        duck.Open();
        using var query = duck.CreateCommand();
        query.CommandText = $"select count(*) from {table} where version = $version";
        query.Parameters.Add(new DuckDBParameter("version", version));
        return Convert.ToInt64(query.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
    }
}
