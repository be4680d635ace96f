using Microsoft.Extensions.Logging;

namespace HrnnPipeline.AppHost.Jobs;

/// <summary>Log messages of the scheduled pipeline, with fixed event ids (2000-2099).</summary>
static partial class JobLog
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "run {RunId}: stage {Stage} started (attempt {Attempt}, job {JobId})")]
    public static partial void StageStarted(ILogger logger, string runId, string stage, int attempt, string? jobId);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "run {RunId}: stage {Stage} completed in {Seconds:F1} s")]
    public static partial void StageCompleted(ILogger logger, string runId, string stage, double seconds);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "run {RunId}: stage {Stage} already completed, skipped")]
    public static partial void StageSkipped(ILogger logger, string runId, string stage);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Error, Message = "run {RunId}: stage {Stage} failed ({Kind}): {Error}")]
    public static partial void StageFailed(ILogger logger, string runId, string stage, string kind, string error);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "run {RunId}: stage {Stage} interrupted by shutdown; another server will take it over")]
    public static partial void StageInterrupted(ILogger logger, string runId, string stage);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "run {RunId} enqueued: input {Input}, {Shards} score shards, training on queue {TrainQueue}")]
    public static partial void RunEnqueued(ILogger logger, string runId, string input, int shards, string trainQueue);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "no server listens on queue {Queue}: training goes to queue default on the CPU (Pipeline:TrainWithoutGpu=cpu)")]
    public static partial void TrainingOnCpu(ILogger logger, string queue);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Warning, Message = "no server listens on queue {Queue}: training waits for one (Pipeline:TrainWithoutGpu=wait)")]
    public static partial void TrainingWaitsForGpu(ILogger logger, string queue);

    [LoggerMessage(EventId = 2013, Level = LogLevel.Information, Message = "run {RunId}: all {Shards} score shards done, publish enqueued as job {JobId}")]
    public static partial void PublishEnqueued(ILogger logger, string runId, int shards, string jobId);

    [LoggerMessage(EventId = 2014, Level = LogLevel.Information, Message = "run {RunId} completed: version {Version} published")]
    public static partial void RunCompleted(ILogger logger, string runId, string version);

    [LoggerMessage(EventId = 2015, Level = LogLevel.Error, Message = "run {RunId} failed: job {JobId} ended {State}: {Reason}")]
    public static partial void RunFailed(ILogger logger, string runId, string jobId, string state, string reason);

    [LoggerMessage(EventId = 2016, Level = LogLevel.Warning, Message = "job {JobId}: {Error} is permanent; failing now instead of retrying")]
    public static partial void PermanentFailure(ILogger logger, string jobId, string error);

    [LoggerMessage(EventId = 2020, Level = LogLevel.Information, Message = "nightly run {JobId} registered: cron '{Cron}' ({TimeZone}), queue {Queue}")]
    public static partial void NightlyRegistered(ILogger logger, string jobId, string cron, string timeZone, string queue);

    [LoggerMessage(EventId = 2021, Level = LogLevel.Information, Message = "nightly run {JobId} removed: Pipeline:Cron is empty")]
    public static partial void NightlyRemoved(ILogger logger, string jobId);
}
