using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HrnnPipeline.AppHost;

/// <summary>
/// Starts a pipeline host again when it dies (a non-zero exit: killed, crashed) while the AppHost runs, so a GPU
/// worker killed mid-training comes back and takes its job again (training resumes from the last checkpoint). A
/// host that exits cleanly (stopped from the dashboard) stays stopped; one that keeps dying (bad settings) is given
/// up on after a few tries.
/// </summary>
sealed partial class CrashedHostRestarter(ResourceNotificationService notifications, ResourceCommandService commands,
    IHostApplicationLifetime lifetime, ILogger<CrashedHostRestarter> logger) : BackgroundService
{
    const int MaxRestarts = 5;
    static readonly TimeSpan Window = TimeSpan.FromMinutes(10);
    static readonly HashSet<string> Supervised = [PipelineAppModel.Scheduler, PipelineAppModel.GpuWorker, PipelineAppModel.Worker];

    readonly Dictionary<string, List<DateTime>> _restarts = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var e in notifications.WatchAsync(stoppingToken))
            {
                if (!Supervised.Contains(e.Resource.Name) || lifetime.ApplicationStopping.IsCancellationRequested) continue;
                if (!KnownResourceStates.TerminalStates.Contains(e.Snapshot.State?.Text)) continue;
                Ended(logger, e.ResourceId, e.Snapshot.State?.Text, e.Snapshot.ExitCode);
                if (e.Snapshot.ExitCode is null or 0) continue;
                var times = _restarts.TryGetValue(e.ResourceId, out var list) ? list : _restarts[e.ResourceId] = [];
                times.RemoveAll(t => DateTime.UtcNow - t > Window);
                if (times.Count >= MaxRestarts)
                {
                    if (times.Count == MaxRestarts) GivingUp(logger, e.ResourceId, MaxRestarts, Window);
                    times.Add(DateTime.UtcNow);
                    continue;
                }
                times.Add(DateTime.UtcNow);
                Restarting(logger, e.ResourceId, e.Snapshot.ExitCode.Value);
                var result = await commands.ExecuteCommandAsync(e.ResourceId, KnownResourceCommands.StartCommand, stoppingToken);
                if (!result.Success) RestartFailed(logger, e.ResourceId, result.Message ?? "");
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(EventId = 2203, Level = LogLevel.Information, Message = "{Resource} is {State} (exit code {ExitCode})")]
    static partial void Ended(ILogger logger, string resource, string? state, int? exitCode);

    [LoggerMessage(EventId = 2200, Level = LogLevel.Warning, Message = "{Resource} exited with code {ExitCode}: starting it again")]
    static partial void Restarting(ILogger logger, string resource, int exitCode);

    [LoggerMessage(EventId = 2201, Level = LogLevel.Error, Message = "{Resource} died {Count} times in {Window}: not starting it again")]
    static partial void GivingUp(ILogger logger, string resource, int count, TimeSpan window);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Error, Message = "{Resource} could not be started again: {Message}")]
    static partial void RestartFailed(ILogger logger, string resource, string message);
}
