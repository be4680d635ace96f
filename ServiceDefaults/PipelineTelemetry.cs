using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace HrnnPipeline.ServiceDefaults;

/// <summary>
/// The pipeline's own traces and metrics: one <see cref="ActivitySource"/> and one <see cref="Meter"/>, both named
/// "HrnnPipeline", which <c>AddServiceDefaults</c> subscribes to. Stages and jobs call the small methods here so
/// instrument names stay in one place.
/// </summary>
public static class PipelineTelemetry
{
    public const string Name = "HrnnPipeline";

    public static readonly ActivitySource ActivitySource = new(Name);
    static readonly Meter Meter = new(Name);

    static readonly Counter<long> EventsIngested = Meter.CreateCounter<long>(
        "hrnn.ingest.events", "{event}", "Events accepted into the warehouse");
    static readonly Counter<long> EventsRejected = Meter.CreateCounter<long>(
        "hrnn.ingest.rejected", "{event}", "Rows rejected by ingest");
    static readonly Histogram<double> TrainingThroughput = Meter.CreateHistogram<double>(
        "hrnn.training.events_per_second", "{event}/s", "Training speed per epoch");
    static readonly Histogram<double> TrainingLoss = Meter.CreateHistogram<double>(
        "hrnn.training.loss", null, "Training loss per epoch");
    static readonly Counter<long> ScoredUsers = Meter.CreateCounter<long>(
        "hrnn.scoring.users", "{user}", "Users scored (all shards)");
    static readonly Histogram<double> PublishDuration = Meter.CreateHistogram<double>(
        "hrnn.publish.duration", "s", "Time to load a scored version into the store and switch readers to it");

    /// <summary>An activity for one stage of one run (null when nobody listens).</summary>
    public static Activity? StartStage(string stage, string? runId = null)
    {
        var activity = ActivitySource.StartActivity($"stage {stage}");
        activity?.SetTag("hrnn.stage", stage);
        if (runId is not null) activity?.SetTag("hrnn.run_id", runId);
        return activity;
    }

    public static void Ingested(long accepted, long rejected)
    {
        EventsIngested.Add(accepted);
        EventsRejected.Add(rejected);
    }

    public static void EpochTrained(int epoch, double loss, double eventsPerSecond, string device)
    {
        var tags = new TagList { { "hrnn.epoch", epoch }, { "hrnn.device", device } };
        TrainingLoss.Record(loss, tags);
        TrainingThroughput.Record(eventsPerSecond, tags);
    }

    public static void UsersScored(long users, int shard, int shardCount) =>
        ScoredUsers.Add(users, new TagList { { "hrnn.shard", $"{shard}/{shardCount}" } });

    public static void Published(TimeSpan duration, string store) =>
        PublishDuration.Record(duration.TotalSeconds, new TagList { { "hrnn.store", store } });
}
