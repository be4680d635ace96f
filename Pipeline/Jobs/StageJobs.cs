using Hangfire;
using Hangfire.Server;
using HrnnPipeline.AppHost.Hosting;
using HrnnPipeline.AppHost.Pipeline;
using HrnnPipeline.ServiceDefaults;
using Microsoft.Extensions.Logging;

namespace HrnnPipeline.AppHost.Jobs;

// The stage jobs. Each is a plain class resolved from DI per run, takes the run id (and a shard) plus a
// CancellationToken, and states its queue and retry policy. Hangfire fills in PerformContext (pass null).
// Retries back off; permanent errors fail at once (PermanentFailureFilter). StageRunner logs each failure
// (transient or permanent), so Hangfire's own retry log lines, which would announce a retry that a permanent
// error never gets, are off.

/// <summary>Loads the run's input files into the warehouse (files already loaded are skipped by Ingest).</summary>
[Queue(JobQueues.Default)]
[AutomaticRetry(Attempts = 3, DelaysInSeconds = [30, 120, 600], LogEvents = false)]
public sealed class IngestJob(StageRunner runner)
{
    [JobDisplayName("ingest (run {0})")]
    public Task RunAsync(string runId, PerformContext? context, CancellationToken ct) =>
        runner.RunAsync(runId, StageNames.Ingest, context, async (stage, token) =>
        {
            var config = stage.Configuration();
            var report = await new PipelineStages(config).IngestAsync(token);
            PipelineTelemetry.Ingested(report.Accepted, report.Rejected);
            return new StageOutcome(
                new { report.Accepted, report.Rejected, report.SkippedFiles, Files = report.Files.Count },
                new { config.Work.Warehouse, Input = stage.Run.Settings.Input, Summary = config.Work.SummaryFile("ingest") });
        }, ct);
}

/// <summary>Sessions, filters, splits and the Arrow files training and scoring read.</summary>
[Queue(JobQueues.Default)]
[AutomaticRetry(Attempts = 3, DelaysInSeconds = [30, 120, 600], LogEvents = false)]
public sealed class PrepareJob(StageRunner runner)
{
    [JobDisplayName("prepare (run {0})")]
    public Task RunAsync(string runId, PerformContext? context, CancellationToken ct) =>
        runner.RunAsync(runId, StageNames.Prepare, context, async (stage, token) =>
        {
            var config = stage.Configuration();
            var summary = await new PipelineStages(config).PrepareAsync(token);
            return new StageOutcome(summary, new { config.Work.Prepared, Summary = config.Work.SummaryFile("prepare") });
        }, ct);
}

/// <summary>
/// Trains the model on the queue the trigger chose (<c>gpu</c> normally; <c>default</c> with device cpu when no
/// GPU worker exists and Pipeline:TrainWithoutGpu=cpu). A later attempt of the same run resumes from the epoch
/// checkpoint, so a worker killed mid-training costs at most one epoch.
/// </summary>
[Queue("{1}")]
[AutomaticRetry(Attempts = 2, DelaysInSeconds = [60, 600], LogEvents = false)]
public sealed class TrainJob(StageRunner runner)
{
    [JobDisplayName("train (run {0}, queue {1})")]
    public Task RunAsync(string runId, string queue, string? device, PerformContext? context, CancellationToken ct) =>
        runner.RunAsync(runId, StageNames.Train, context, (stage, token) =>
        {
            _ = queue; // routing only: [Queue("{1}")] reads it
            var config = stage.Configuration(device);
            // The first attempt starts over (and clears the checkpoints of earlier runs); later ones continue.
            var summary = new PipelineStages(config).Train(resume: stage.Attempt > 1, token);
            foreach (var epoch in summary.Epochs.Where(e => e.Epoch > summary.ResumedFromEpoch))
                PipelineTelemetry.EpochTrained(epoch.Epoch, epoch.Loss, epoch.EventsPerSecond, summary.Device);
            var best = summary.Epochs.FirstOrDefault(e => e.Epoch == summary.BestEpoch);
            return Task.FromResult(new StageOutcome(
                new
                {
                    summary.ModelVersion, Epochs = summary.Epochs.Count, summary.BestEpoch, summary.ResumedFromEpoch,
                    summary.StoppedEarly, FinalLoss = summary.Epochs.Count > 0 ? summary.Epochs[^1].Loss : (double?)null,
                    FinalStartLoss = summary.Epochs.Count > 0 ? summary.Epochs[^1].StartLoss : null,
                    BestValidMrr = best?.ValidMrr, summary.EventsPerSecond, summary.TrainSeconds, summary.Device,
                },
                new
                {
                    summary.ModelVersion, ModelDirectory = Path.Combine(config.Work.Models, summary.ModelVersion),
                    config.Work.Checkpoints, Summary = config.Work.SummaryFile("train"),
                }));
        }, ct);
}

/// <summary>
/// Scores one shard of the users with the run's model. The shard that completes last enqueues publish (the
/// fan-in is a claim on the publish row of pipeline_runs, so exactly one shard does it).
/// </summary>
[Queue(JobQueues.Default)]
[AutomaticRetry(Attempts = 3, DelaysInSeconds = [30, 120, 600], LogEvents = false)]
public sealed class ScoreShardJob(StageRunner runner, PipelineRunStore runs, IBackgroundJobClient jobs, ILogger<ScoreShardJob> logger)
{
    [JobDisplayName("score shard {1} (run {0})")]
    public async Task RunAsync(string runId, int shard, PerformContext? context, CancellationToken ct)
    {
        var shardCount = (await runs.GetRunAsync(runId, ct))?.Settings.ScoreShards
            ?? throw new PipelineException($"pipeline_runs: no run {runId} (was the database reset?)");
        await runner.RunAsync(runId, StageNames.Score(shard, shardCount), context, (stage, token) =>
        {
            var version = stage.Run.Artefact(StageNames.Train, "model_version")
                ?? throw new PipelineException($"run {runId}: the train stage recorded no model version; train before scoring");
            var config = stage.Configuration();
            var scored = new PipelineStages(config).Score(version, shard, shardCount, token);
            PipelineTelemetry.UsersScored(scored.Users, shard, shardCount);
            return Task.FromResult(new StageOutcome(
                new { scored.Version, scored.Users, scored.Seconds, scored.UsersPerSecond },
                new { ScoreDirectory = Path.Combine(config.Work.Scores, scored.Version) }));
        }, ct);
        // Also after a skipped shard: a re-run whose shards were all done still has to publish.
        bool claimed = await runs.ClaimPublishAsync(runId, () =>
        {
            var jobId = jobs.Enqueue<PublishJob>(j => j.RunAsync(runId, null, CancellationToken.None));
            JobLog.PublishEnqueued(logger, runId, shardCount, jobId);
            return jobId;
        }, ct);
        // A re-run of a run that had published: nothing is left to do but to end it.
        if (!claimed && (await runs.GetRunAsync(runId, ct))?.Stage(StageNames.Publish)?.Status == RunStatus.Completed)
            await runs.CompleteRunAsync(runId, ct);
    }
}

/// <summary>
/// Loads the scored version into the store (PostgreSQL: the read API serves from it) and switches readers to it,
/// then marks the run completed. Publishing a version again is safe, so a retry is too.
/// </summary>
[Queue(JobQueues.Default)]
[AutomaticRetry(Attempts = 3, DelaysInSeconds = [30, 120, 600], LogEvents = false)]
public sealed class PublishJob(StageRunner runner, PipelineRunStore runs, ILogger<PublishJob> logger)
{
    [JobDisplayName("publish (run {0})")]
    public async Task RunAsync(string runId, PerformContext? context, CancellationToken ct)
    {
        string? version = null;
        await runner.RunAsync(runId, StageNames.Publish, context, async (stage, token) =>
        {
            version = stage.Run.Artefact(StageNames.Train, "model_version")
                ?? throw new PipelineException($"run {runId}: the train stage recorded no model version");
            var config = stage.Configuration();
            var published = await new PipelineStages(config).PublishAsync(version, stage.Run.Settings.ScoreShards, token);
            var store = config.PostgresConnectionString is { Length: > 0 } ? "postgres" : "warehouse";
            PipelineTelemetry.Published(published.Duration, store);
            return new StageOutcome(
                new { published.Version, published.Rows, published.Users, published.ListLength, DurationSeconds = published.Duration.TotalSeconds, Store = store },
                new { published.ExportDirectory, Summary = config.Work.SummaryFile("publish") });
        }, ct);
        // Also after a skipped publish: the run row may not have been marked when the last attempt stopped.
        await runs.CompleteRunAsync(runId, ct);
        var run = await runs.GetRunAsync(runId, ct);
        JobLog.RunCompleted(logger, runId, version ?? run?.Metric("version") ?? "?");
    }
}

/// <summary>The recurring entry point: starts a run on the configured input (refused while one is active).</summary>
[Queue(JobQueues.Default)]
[AutomaticRetry(Attempts = 0)]
public sealed class NightlyRunJob(PipelineTrigger trigger)
{
    [JobDisplayName("nightly pipeline run")]
    public Task RunAsync(CancellationToken ct) => trigger.StartAsync(new TriggerRequest(), ct);
}
