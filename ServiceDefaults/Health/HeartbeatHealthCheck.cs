using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HrnnPipeline.ServiceDefaults.Health;

/// <summary>
/// Healthy while something that beats (a job server) has beaten recently. The caller supplies how to read the last
/// heartbeat, so this check knows nothing of the scheduler behind it.
/// </summary>
public sealed class HeartbeatHealthCheck(Func<CancellationToken, Task<DateTime?>> lastHeartbeatUtc, TimeSpan maxAge, string what) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        DateTime? last;
        try
        {
            last = await lastHeartbeatUtc(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, $"{what}: heartbeat unreadable: {e.Message}");
        }
        if (last is null) return new HealthCheckResult(context.Registration.FailureStatus, $"{what}: no heartbeat");
        var age = DateTime.UtcNow - last.Value;
        return age <= maxAge
            ? HealthCheckResult.Healthy($"{what}: last heartbeat {age.TotalSeconds:F0} s ago")
            : new HealthCheckResult(context.Registration.FailureStatus, $"{what}: last heartbeat {age.TotalSeconds:F0} s ago (limit {maxAge.TotalSeconds:F0} s)");
    }
}
