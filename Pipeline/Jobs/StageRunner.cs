using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Text.Json;
using HrnnPipeline.AppHost.Hosting;
using HrnnPipeline.AppHost.Pipeline;
using HrnnPipeline.ServiceDefaults;
using Hangfire.Server;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace HrnnPipeline.AppHost.Jobs;

/// <summary>What a stage body gets: its run, which attempt this is, and the pipeline configuration to run with.</summary>
public sealed class StageContext(PipelineRun run, string stage, int attempt, IConfiguration configuration, PipelineOptions options)
{
    public PipelineRun Run => run;
    public string Stage => stage;
    /// <summary>1 on the first attempt; more when a retry or another server takes the stage over.</summary>
    public int Attempt => attempt;

    /// <summary>
    /// The stage configuration of this host, with the run's input and options and an optional training device,
    /// validated (a bad value fails the stage at once, permanently).
    /// </summary>
    public PipelineConfiguration Configuration(string? trainingDevice = null)
    {
        var runKeys = new Dictionary<string, string?>(run.Settings.Options ?? new Dictionary<string, string?>());
        if (trainingDevice is not null) runKeys["Training:Device"] = trainingDevice;
        IConfiguration source = runKeys.Count == 0 ? configuration
            : new ConfigurationBuilder().AddConfiguration(configuration).AddInMemoryCollection(runKeys).Build();
        var config = new PipelineConfiguration(source, options.Work);
        config.Ingest.Input = run.Settings.Input;
        return config.Validate();
    }
}

/// <summary>What a stage leaves in pipeline_runs: metrics and artefact paths, serialised as JSON.</summary>
public sealed record StageOutcome(object Metrics, object? Artefacts = null);

/// <summary>
/// The frame every stage job runs in: skip when pipeline_runs says the stage is completed (so re-running a run id
/// is safe), otherwise record the attempt, run the body inside a trace activity, and record the outcome or the
/// error. Errors a user must fix (missing files, bad settings) become permanent <see cref="PipelineException"/>s,
/// which <see cref="PermanentFailureFilter"/> fails at once instead of retrying.
/// </summary>
public sealed class StageRunner(PipelineRunStore runs, IConfiguration configuration, PipelineOptions options, ILogger<StageRunner> logger)
{
    public async Task RunAsync(string runId, string stage, PerformContext? perform,
        Func<StageContext, CancellationToken, Task<StageOutcome>> body, CancellationToken ct)
    {
        var run = await runs.GetRunAsync(runId, ct)
            ?? throw new PipelineException($"pipeline_runs: no run {runId} (was the database reset?)");
        if (run.Stage(stage)?.Status == RunStatus.Completed)
        {
            JobLog.StageSkipped(logger, runId, stage);
            return;
        }
        var jobId = perform?.BackgroundJob?.Id;
        int attempt = await runs.StartStageAsync(runId, stage, jobId, ct);
        using var activity = PipelineTelemetry.StartStage(stage, runId);
        activity?.SetTag("hangfire.job_id", jobId);
        activity?.SetTag("hrnn.attempt", attempt);
        JobLog.StageStarted(logger, runId, stage, attempt, jobId);
        var clock = Stopwatch.StartNew();
        try
        {
            var outcome = await body(new StageContext(run, stage, attempt, configuration, options), ct);
            await runs.CompleteStageAsync(runId, stage, JsonSerializer.Serialize(outcome.Metrics, Json.Options),
                outcome.Artefacts is null ? null : JsonSerializer.Serialize(outcome.Artefacts, Json.Options), CancellationToken.None);
            JobLog.StageCompleted(logger, runId, stage, clock.Elapsed.TotalSeconds);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await runs.EndStageAsync(runId, stage, RunStatus.Interrupted, "interrupted: the server shut down", CancellationToken.None);
            activity?.SetStatus(ActivityStatusCode.Error, "interrupted");
            JobLog.StageInterrupted(logger, runId, stage);
            throw;
        }
        catch (Exception e)
        {
            var error = AsPermanent(e) ?? e;
            bool permanent = error is PipelineException { IsPermanent: true };
            await runs.EndStageAsync(runId, stage, RunStatus.Failed, error.Message, CancellationToken.None);
            activity?.SetStatus(ActivityStatusCode.Error, error.Message);
            JobLog.StageFailed(logger, runId, stage, permanent ? "permanent" : "transient, retried", error.Message);
            if (ReferenceEquals(error, e)) ExceptionDispatchInfo.Throw(e);
            throw error;
        }
    }

    /// <summary>Errors retrying can't fix, as a permanent <see cref="PipelineException"/> with the same message.</summary>
    static PipelineException? AsPermanent(Exception e) => e switch
    {
        PipelineException => null, // already says whether it is permanent
        FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException
            => new PipelineException(e.Message, isPermanent: true, e),
        AggregateException { InnerExceptions.Count: 1 } a => a.InnerException as PipelineException ?? AsPermanent(a.InnerException!),
        _ => null,
    };
}
