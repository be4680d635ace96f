using HrnnPipeline.ServiceDefaults.Health;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace HrnnPipeline.Tests.AppHost;

/// <summary>The /healthz checks on their own: what makes them fail, and that they say why.</summary>
public sealed class HealthCheckTests
{
    [Fact]
    public async Task Database_check_is_unhealthy_when_nothing_listens_and_does_not_reveal_the_connection_string()
    {
        // Port 1 on loopback: connection refused at once.
        await using var dataSource = NpgsqlDataSource.Create("Host=127.0.0.1;Port=1;Username=u;Password=hunter2;Timeout=3");
        var result = await Check(new DatabaseHealthCheck(dataSource));
        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.StartsWith("database unreachable", result.Description);
        Assert.DoesNotContain("hunter2", result.Description);
    }

    [Fact]
    public async Task Heartbeat_check_is_healthy_when_recent_and_fails_when_stale_or_missing()
    {
        var maxAge = TimeSpan.FromSeconds(30);
        Assert.Equal(HealthStatus.Healthy, (await Check(new HeartbeatHealthCheck(_ => Task.FromResult<DateTime?>(DateTime.UtcNow.AddSeconds(-5)), maxAge, "server"))).Status);
        var stale = await Check(new HeartbeatHealthCheck(_ => Task.FromResult<DateTime?>(DateTime.UtcNow.AddMinutes(-5)), maxAge, "server"));
        Assert.Equal(HealthStatus.Unhealthy, stale.Status);
        Assert.Contains("limit 30 s", stale.Description);
        Assert.Equal(HealthStatus.Unhealthy, (await Check(new HeartbeatHealthCheck(_ => Task.FromResult<DateTime?>(null), maxAge, "server"))).Status);
    }

    static Task<HealthCheckResult> Check(IHealthCheck check) =>
        check.CheckHealthAsync(new HealthCheckContext
        {
            Registration = new HealthCheckRegistration("test", check, HealthStatus.Unhealthy, null),
        });
}
