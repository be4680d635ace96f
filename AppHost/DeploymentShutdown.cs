using System.Collections.Concurrent;
using HrnnPipeline.ServiceDefaults.Postgres;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HrnnPipeline.AppHost;

/// <summary>
/// Stops the deployment in order as the AppHost begins to stop (ApplicationStopping runs before the orchestrator
/// stops anything): first the pipeline hosts, gracefully and while the database is still up (their Hangfire servers
/// sign off, their jobs are released), waiting for each to end; then the private PostgreSQL with
/// <c>pg_ctl stop -m fast</c>. When the AppHost exits nothing of it is left running, and the cluster is shut down
/// cleanly. The server is also stopped when the app is disposed, which covers a failed start.
/// </summary>
sealed partial class DeploymentShutdown(IServiceProvider services, LocalPostgresCluster? cluster) : IHostedService, IDisposable
{
    static readonly TimeSpan HostsTimeout = TimeSpan.FromSeconds(45);
    static readonly HashSet<string> Hosts = [PipelineAppModel.Scheduler, PipelineAppModel.GpuWorker, PipelineAppModel.Worker];

    int _stopped;

    public Task StartAsync(CancellationToken ct)
    {
        services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() => StopAsync().GetAwaiter().GetResult());
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1) return;
        try
        {
            await StopHostsAsync();
        }
        finally
        {
            if (cluster is not null) await cluster.StopAsync();
        }
    }

    async Task StopHostsAsync()
    {
        var model = services.GetRequiredService<DistributedApplicationModel>();
        var commands = services.GetRequiredService<ResourceCommandService>();
        var notifications = services.GetRequiredService<ResourceNotificationService>();
        var logger = services.GetRequiredService<ILogger<DeploymentShutdown>>();
        using var timeout = new CancellationTokenSource(HostsTimeout);
        // Every instance (replicas included) seen by the watch, and whether it has ended.
        var ended = new ConcurrentDictionary<string, bool>();
        var allEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int stopsSent = 0;
        void Check()
        {
            if (Volatile.Read(ref stopsSent) == 1 && ended.Values.All(e => e)) allEnded.TrySetResult();
        }
        var watch = Task.Run(async () =>
        {
            await foreach (var e in notifications.WatchAsync(timeout.Token))
            {
                if (!Hosts.Contains(e.Resource.Name)) continue;
                ended[e.ResourceId] = KnownResourceStates.TerminalStates.Contains(e.Snapshot.State?.Text) || e.Snapshot.State?.Text == KnownResourceStates.NotStarted;
                Check();
            }
        }, timeout.Token);
        try
        {
            var hosts = model.Resources.Where(r => Hosts.Contains(r.Name));
            await Task.WhenAll(hosts.Select(host => commands.ExecuteCommandAsync(host, KnownResourceCommands.StopCommand, timeout.Token)));
            Volatile.Write(ref stopsSent, 1);
            Check();
            await allEnded.Task.WaitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            HostsStillRunning(logger, HostsTimeout); // the orchestrator ends them as it shuts down
        }
        finally
        {
            await timeout.CancelAsync();
            try
            {
                await watch;
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    public void Dispose()
    {
        if (cluster is not null && Interlocked.Exchange(ref _stopped, 1) == 0) cluster.Stop();
    }

    [LoggerMessage(EventId = 2210, Level = LogLevel.Warning, Message = "pipeline hosts still running after {Timeout}: stopping PostgreSQL anyway")]
    static partial void HostsStillRunning(ILogger logger, TimeSpan timeout);
}
