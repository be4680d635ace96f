using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.ServiceDefaults.Postgres;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace HrnnPipeline.AppHost;

/// <summary>The private PostgreSQL as a resource: a connection string the hosts get by reference.</summary>
public sealed class PrivatePostgresResource(string name, string command, string workingDirectory, int port, string database)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public int Port { get; } = port;
    public string Database { get; } = database;

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{LocalPostgresCluster.ConnectionString(Port, Database)}");
}

public static class PrivatePostgresExtensions
{
    /// <summary>The database the pipeline's tables live in (the same one the command line's hosts use there).</summary>
    public const string Database = "hrnn";

    /// <summary>
    /// PostgreSQL from the machine's server binaries over <c>&lt;work&gt;/postgres</c> (initialised here on first use),
    /// listening on a free port of 127.0.0.1, as an executable resource (through runuser when the AppHost is root).
    /// Healthy once it accepts connections and the pipeline's database exists, so WaitFor holds the hosts until then.
    /// <see cref="DeploymentShutdown"/> stops it (<c>pg_ctl stop -m fast</c>) after the hosts, so it is shut down cleanly.
    /// </summary>
    public static async Task<IResourceBuilder<IResourceWithConnectionString>> AddPrivatePostgresAsync(
        this IDistributedApplicationBuilder builder, string name, WorkDirectory work)
    {
        var cluster = await LocalPostgresCluster.PrepareAsync(work);
        int port = LocalPostgresCluster.FreePort();
        var (file, args) = cluster.ServerCommand(port);
        var resource = new PrivatePostgresResource(name, file, "/", port, Database);
        var healthCheck = $"{name}-ready";
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(healthCheck,
            _ => new DatabaseReadyCheck(LocalPostgresCluster.ConnectionString(port, "postgres"), Database), HealthStatus.Unhealthy, null));
        builder.Services.AddSingleton(cluster); // DeploymentShutdown stops it
        return builder.AddResource(resource)
            .WithArgs(args)
            .WithEndpoint("tcp", e =>
            {
                e.Port = port;
                e.TargetPort = port;
                e.IsProxied = false;
                e.UriScheme = "tcp";
            })
            .WithHealthCheck(healthCheck);
    }

    /// <summary>Accepts connections, and the pipeline's database exists (created on the first success).</summary>
    sealed class DatabaseReadyCheck(string adminConnectionString, string database) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
        {
            try
            {
                await using var connection = new NpgsqlConnection(adminConnectionString);
                await connection.OpenAsync(ct);
                await using var exists = new NpgsqlCommand("select 1 from pg_database where datname = $1", connection) { Parameters = { new() { Value = database } } };
                // CREATE DATABASE takes no parameters; the name is our constant (letters only).
                if (await exists.ExecuteScalarAsync(ct) is null)
                    await new NpgsqlCommand($"create database {database}", connection).ExecuteNonQueryAsync(ct);
                return HealthCheckResult.Healthy();
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
            {
                return HealthCheckResult.Unhealthy(e.Message);
            }
        }
    }
}
