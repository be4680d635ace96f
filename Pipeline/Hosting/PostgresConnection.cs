using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.ServiceDefaults.Postgres;
using Microsoft.Extensions.Configuration;

namespace HrnnPipeline.AppHost.Hosting;

/// <summary>
/// The PostgreSQL of a host: ConnectionStrings:postgres when configured; otherwise a private server provisioned in
/// the work folder (<see cref="LocalPostgres"/>), stopped on dispose if this process started it.
/// </summary>
public sealed class PostgresConnection : IAsyncDisposable
{
    readonly LocalPostgres? _local;

    PostgresConnection(string connectionString, LocalPostgres? local)
    {
        ConnectionString = connectionString;
        _local = local;
    }

    public string ConnectionString { get; }
    /// <summary>True when ConnectionStrings:postgres named the server; false for the private one.</summary>
    public bool IsConfigured => _local is null;
    /// <summary>Where it came from, for the start-up line (never the connection string itself).</summary>
    public string Description => _local is null
        ? "ConnectionStrings:postgres"
        : $"private PostgreSQL in {_local.DataDirectory} on 127.0.0.1:{_local.Port}{(_local.OwnsServer ? "" : " (already running)")}";

    public static async Task<PostgresConnection> ResolveAsync(IConfiguration configuration, WorkDirectory work, CancellationToken ct)
    {
        var configured = configuration.GetConnectionString("postgres");
        if (!string.IsNullOrWhiteSpace(configured)) return new PostgresConnection(configured, null);
        var local = await LocalPostgres.StartAsync(work, ct: ct);
        return new PostgresConnection(local.ConnectionString, local);
    }

    public ValueTask DisposeAsync() => _local?.DisposeAsync() ?? ValueTask.CompletedTask;
}
