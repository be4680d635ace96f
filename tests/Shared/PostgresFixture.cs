using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.ServiceDefaults.Postgres;
using Npgsql;

namespace HrnnPipeline.Tests;

/// <summary>
/// One real PostgreSQL for the whole collection, provisioned by <see cref="LocalPostgres"/> in a temporary folder;
/// each test gets its own database (the recommendation store, Hangfire tables, pipeline_runs), so tests cannot see
/// each other's data. Compiled into every test project that needs PostgreSQL.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "hrnn-postgres-tests-" + Guid.NewGuid().ToString("N")[..8]);
    LocalPostgres? _server;

    public LocalPostgres Server => _server ?? throw new InvalidOperationException("fixture not started");
    public string Root => _root;

    public async Task InitializeAsync()
    {
        ProgressReporter.Quiet = true;
        _server = await LocalPostgres.StartAsync(Path.Combine(_root, "postgres"), "hrnn_tests");
    }

    /// <summary>A fresh, empty database on the shared server.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "t_" + Guid.NewGuid().ToString("N")[..12];
        await using (var conn = new NpgsqlConnection(Server.ConnectionString))
        {
            await conn.OpenAsync();
            // CREATE DATABASE takes no parameters; the name is made here from hex digits only.
            await using var cmd = new NpgsqlCommand($"create database {name}", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        return new NpgsqlConnectionStringBuilder(Server.ConnectionString) { Database = name }.ConnectionString;
    }

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (_server is not null) await _server.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "postgres";
}
