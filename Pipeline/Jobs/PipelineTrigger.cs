using System.Security.Cryptography;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using HrnnPipeline.AppHost.Pipeline;
using HrnnPipeline.AppHost.Hosting;
using HrnnPipeline.ServiceDefaults;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace HrnnPipeline.AppHost.Jobs;

/// <summary>
/// A run to start: input files (default Ingest:Input) and the run's own input settings (configuration keys such as
/// <c>Ingest:Format</c>), or, with <see cref="RunId"/>, a run to start again with what it was started with.
/// </summary>
public sealed record TriggerRequest(IReadOnlyList<string>? Input = null, string? RunId = null,
    IReadOnlyDictionary<string, string?>? Options = null);

/// <summary>
/// Starts pipeline runs: records the run in pipeline_runs (refused while another run is active) and enqueues its
/// jobs as one chain of continuations: ingest -> prepare -> train -> score shards (fan-out); the last shard to
/// finish enqueues publish (fan-in). Used by `trigger`, the nightly recurring job and the dashboard's Trigger now.
/// </summary>
public sealed class PipelineTrigger(PipelineRunStore runs, IBackgroundJobClient jobs, JobStorage storage, PipelineOptions options,
    IConfiguration configuration, ILogger<PipelineTrigger> logger)
{
    /// <summary>Returns the run id.</summary>
    public async Task<string> StartAsync(TriggerRequest request, CancellationToken ct)
    {
        var runId = request.RunId is { } id ? ValidateRunId(id) : NewRunId();
        var input = request.Input is { Count: > 0 } given
            ? given.Select(Path.GetFullPath).ToArray()
            : configuration.GetSection("Ingest:Input").Get<string[]>()?.Where(s => !string.IsNullOrWhiteSpace(s)).ToArray() ?? [];
        if (input.Length == 0 && request.RunId is null)
            throw new PipelineException("no input for the run: pass --input PATH or set Ingest:Input (files, folders or globs)");
        var runOptions = request.Options is { Count: > 0 } givenOptions ? new Dictionary<string, string?>(givenOptions) : null;
        // Checked here, before anything is enqueued: a bad setting is the trigger's error, not a failed run.
        new PipelineConfiguration(runOptions is null ? configuration
            : new ConfigurationBuilder().AddConfiguration(configuration).AddInMemoryCollection(runOptions).Build(), options.Work).Validate();
        var (queue, device) = TrainRouting();
        var settings = await runs.BeginRunAsync(runId, new RunSettings(input, options.ScoreShards, queue, device, runOptions), used =>
        {
            // The run's input and options are on the dashboard, in the ingest job's enqueued state.
            var ingest = jobs.Create(Job.FromExpression<IngestJob>(j => j.RunAsync(runId, null, CancellationToken.None)),
                new EnqueuedState(JobQueues.Default) { Reason = $"run {runId}: {used.Describe()}" });
            var prepare = jobs.ContinueJobWith<PrepareJob>(ingest, j => j.RunAsync(runId, null, CancellationToken.None));
            var train = jobs.ContinueJobWith<TrainJob>(prepare, j => j.RunAsync(runId, used.TrainQueue, used.TrainDevice, null, CancellationToken.None));
            for (int i = 0; i < used.ScoreShards; i++)
            {
                int shard = i;
                jobs.ContinueJobWith<ScoreShardJob>(train, j => j.RunAsync(runId, shard, null, CancellationToken.None));
            }
            return Task.CompletedTask;
        }, ct);
        JobLog.RunEnqueued(logger, runId, settings.Describe(), settings.ScoreShards, settings.TrainQueue);
        return runId;
    }

    /// <summary>Polls pipeline_runs until the run completes or fails; <paramref name="onChange"/> sees each new state.</summary>
    public async Task<PipelineRun> WaitAsync(string runId, TimeSpan poll, Action<PipelineRun>? onChange, CancellationToken ct)
    {
        string? last = null;
        while (true)
        {
            var run = await runs.GetRunAsync(runId, ct) ?? throw new PipelineException($"pipeline_runs: no run {runId}");
            var state = run.Status + string.Concat(run.Stages.Select(s => s.Stage + s.Status + s.Attempts));
            if (state != last) onChange?.Invoke(run);
            last = state;
            if (run.IsFinished) return run;
            await Task.Delay(poll, ct);
        }
    }

    /// <summary>Whether a live server listens on <paramref name="queue"/> (Hangfire's monitoring API).</summary>
    public bool AnyServerListening(string queue)
    {
        var cutoff = DateTime.UtcNow - options.ServerTimeout;
        return storage.GetMonitoringApi().Servers().Any(s => s.Queues.Contains(queue) && (s.Heartbeat ?? s.StartedAt) >= cutoff);
    }

    (string Queue, string? Device) TrainRouting()
    {
        var queue = options.TrainQueue;
        if (queue == JobQueues.Default || AnyServerListening(queue)) return (queue, null);
        if (options.TrainWithoutGpu == TrainWithoutGpu.Wait)
        {
            JobLog.TrainingWaitsForGpu(logger, queue);
            return (queue, null);
        }
        JobLog.TrainingOnCpu(logger, queue);
        return (JobQueues.Default, "cpu");
    }

    static string NewRunId() => $"{DateTime.UtcNow:yyyyMMdd'T'HHmmss'Z'}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(2))}";

    static string ValidateRunId(string id) =>
        id.Length is > 0 and <= 64 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            ? id
            : throw new PipelineException($"--run-id '{id}': use 1-64 letters, digits, '-', '_' or '.'");
}
