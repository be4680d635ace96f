using Hangfire.Common;
using Hangfire.States;
using Hangfire.Storage;
using HrnnPipeline.ServiceDefaults;
using Microsoft.Extensions.Logging;

namespace HrnnPipeline.AppHost.Jobs;

/// <summary>
/// Permanent errors (a <see cref="PipelineException"/> with IsPermanent: rejected input over the threshold, a
/// missing file, bad configuration) fail the job at once: retrying can't fix them. Runs after
/// <see cref="Hangfire.AutomaticRetryAttribute"/> (order 20), finds the failed state it replaced with a retry, and
/// puts it back, so the dashboard shows the job as Failed with its message.
/// </summary>
public sealed class PermanentFailureFilter(ILogger<PermanentFailureFilter> logger) : JobFilterAttribute, IElectStateFilter
{
    public const int FilterOrder = 30;

    public void OnStateElection(ElectStateContext context)
    {
        if (context.CandidateState is FailedState) return;
        if (context.TraversedStates.OfType<FailedState>().LastOrDefault() is not { } failed) return;
        if (!IsPermanent(failed.Exception)) return;
        failed.Reason = "Permanent error: not retried";
        context.CandidateState = failed;
        JobLog.PermanentFailure(logger, context.BackgroundJob.Id, failed.Exception.Message);
    }

    public static bool IsPermanent(Exception? e) => e switch
    {
        PipelineException p => p.IsPermanent,
        AggregateException { InnerExceptions.Count: 1 } a => IsPermanent(a.InnerException),
        _ => false,
    };
}

/// <summary>
/// When a stage job of a run ends Failed (retries exhausted, or permanent) or is Deleted, its run is marked failed
/// in pipeline_runs with the stage's error, which ends the run and lets the next one start.
/// </summary>
public sealed class RunFailureFilter(PipelineRunStore runs, ILogger<RunFailureFilter> logger) : JobFilterAttribute, IApplyStateFilter
{
    static readonly HashSet<Type> StageJobs = [typeof(IngestJob), typeof(PrepareJob), typeof(TrainJob), typeof(ScoreShardJob), typeof(PublishJob)];

    public void OnStateApplied(ApplyStateContext context, IWriteOnlyTransaction transaction)
    {
        var job = context.BackgroundJob.Job;
        if (context.NewState is not (FailedState or DeletedState) || job is null || !StageJobs.Contains(job.Type)) return;
        if (job.Args.Count == 0 || job.Args[0] is not string runId) return;
        var reason = context.NewState switch
        {
            FailedState f => f.Exception.Message,
            _ => context.NewState.Reason ?? "job deleted",
        };
        JobLog.RunFailed(logger, runId, context.BackgroundJob.Id, context.NewState.Name, reason);
        // State filters are synchronous; this runs on a worker or dashboard thread with no synchronization context.
        runs.FailRunAsync(runId, $"{job.Type.Name} job {context.BackgroundJob.Id}: {reason}", CancellationToken.None).GetAwaiter().GetResult();
    }

    public void OnStateUnapplied(ApplyStateContext context, IWriteOnlyTransaction transaction)
    {
    }
}
