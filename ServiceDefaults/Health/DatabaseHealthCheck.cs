using System.Data.Common;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HrnnPipeline.ServiceDefaults.Health;

/// <summary>Healthy when the database answers a trivial query; any ADO.NET data source (NpgsqlDataSource here).</summary>
public sealed class DatabaseHealthCheck(DbDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var command = dataSource.CreateCommand("SELECT 1");
            await command.ExecuteScalarAsync(cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e) when (e is DbException or TimeoutException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            // The message names the failure, not the connection string.
            return new HealthCheckResult(context.Registration.FailureStatus, $"database unreachable: {e.Message}");
        }
    }
}
