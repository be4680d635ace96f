using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Hangfire;
using Hangfire.Storage;
using Hangfire.Storage.Monitoring;
using HrnnPipeline.AppHost.Hosting;
using HrnnPipeline.AppHost.Jobs;
using HrnnPipeline.Scoring.Publishing;
using HrnnPipeline.ServiceDefaults;
using Microsoft.Extensions.DependencyInjection;

namespace HrnnPipeline.Tests.AppHost;

/// <summary>
/// The scheduled pipeline end to end: real Hangfire on a real PostgreSQL, real work folders, the real AppHost
/// program as child processes where a process boundary matters (trigger's exit code, a killed worker).
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class SchedulingTests(PostgresFixture postgres)
{
    static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Nightly_run_is_registered_with_the_configured_cron_queue_and_time_zone()
    {
        using var pipeline = new TestPipeline(await postgres.CreateDatabaseAsync(), "cron");
        await using (var host = await PipelineHost.CreateServeAsync(
            pipeline.Settings(("Pipeline:Cron", "15 3 * * 1-5"), ("Pipeline:TimeZone", "Europe/Berlin"), ("Serve:Server", "false")), default))
        {
            await host.StartAsync(default);
            var job = NightlyJob(host);
            Assert.Equal("15 3 * * 1-5", job.Cron);
            Assert.Equal(JobQueues.Default, job.Queue);
            Assert.Equal("Europe/Berlin", job.TimeZoneId);
            Assert.Equal(typeof(NightlyRunJob), job.Job.Type);
        }
        // Unconfigured, the next start puts back the default: 02:00 UTC.
        await using (var host = await PipelineHost.CreateServeAsync(pipeline.Settings(("Serve:Server", "false")), default))
        {
            await host.StartAsync(default);
            var job = NightlyJob(host);
            Assert.Equal("0 2 * * *", job.Cron);
            Assert.Equal("UTC", job.TimeZoneId);
        }
    }

    [Fact]
    public async Task Triggered_run_goes_through_every_stage_to_a_published_version_and_a_rerun_skips_them()
    {
        using var pipeline = new TestPipeline(await postgres.CreateDatabaseAsync(), "full");
        using var telemetry = new TelemetryRecorder();
        await using var host = await PipelineHost.CreateServeAsync(pipeline.Settings(), default);
        await host.StartAsync(default);

        using var trigger = AppHostProcess.Start(["trigger", "--input", pipeline.Input, "--wait", "--work", pipeline.Work], pipeline.Environment());
        int exit = await trigger.WaitForExitAsync(RunTimeout);
        Assert.True(exit == 0, $"trigger --wait exited {exit}:\n{trigger.Stderr}");
        var printed = Regex.Match(trigger.Stdout, @"run (\S+) completed: published version (\S+)");
        Assert.True(printed.Success, trigger.Stdout);
        var (runId, version) = (printed.Groups[1].Value, printed.Groups[2].Value);

        var runs = host.Services.GetRequiredService<PipelineRunStore>();
        var run = (await runs.GetRunAsync(runId, default))!;
        Assert.Equal(RunStatus.Completed, run.Status);
        Assert.Equal(version, run.Metric("version"));
        Assert.Equal(StageNames.All(2), run.Stages.Select(s => s.Stage));
        Assert.All(run.Stages, s =>
        {
            Assert.Equal(RunStatus.Completed, s.Status);
            Assert.Equal(1, s.Attempts);
            Assert.NotNull(s.StartedAt);
            Assert.NotNull(s.EndedAt);
            Assert.NotNull(s.Metrics);
            Assert.NotNull(s.JobId);
        });
        Assert.Equal(version, run.Artefact(StageNames.Train, "model_version"));

        // Published to the PostgreSQL the read API serves from.
        await using var store = new PostgresRecommendationStore(pipeline.ConnectionString);
        Assert.Equal(version, await store.GetActiveVersionAsync());
        var user = await AnyUserWithRecommendationsAsync(store);
        using var http = new HttpClient { BaseAddress = new Uri(host.Addresses[0]) };
        var recommendations = await http.GetAsync($"/users/{user}/recommendations?k=5");
        Assert.Equal(HttpStatusCode.OK, recommendations.StatusCode);
        Assert.Contains(version, await recommendations.Content.ReadAsStringAsync());
        var health = await http.GetAsync(Extensions.HealthPath);
        var healthBody = await health.Content.ReadAsStringAsync();
        Assert.True(health.StatusCode == HttpStatusCode.OK, healthBody);
        Assert.Contains("\"postgres\"", healthBody);
        Assert.Contains("\"hangfire-server\"", healthBody);

        // Telemetry recorded from the jobs: a trace activity per stage, the pipeline's metrics.
        Assert.Contains("stage ingest", telemetry.Activities);
        Assert.Contains("stage train", telemetry.Activities);
        Assert.Contains("stage publish", telemetry.Activities);
        var users = run.Stages.Where(s => s.Stage.StartsWith(StageNames.ScorePrefix)).Sum(s => JsonDocument.Parse(s.Metrics!).RootElement.GetProperty("users").GetInt64());
        Assert.Equal(users, telemetry.Sum("hrnn.scoring.users"));
        Assert.True(telemetry.Sum("hrnn.ingest.events") > 0);
        Assert.Equal(2, telemetry.Count("hrnn.training.loss"));
        Assert.Equal(1, telemetry.Count("hrnn.publish.duration"));

        // The same run id again: every stage is skipped, the run completes again, nothing is trained or published twice.
        await host.Services.GetRequiredService<PipelineTrigger>().StartAsync(new TriggerRequest(RunId: runId), default);
        var again = await TestPipeline.WaitForRunAsync(host.Services, runId, RunTimeout);
        Assert.Equal(RunStatus.Completed, again.Status);
        Assert.All(again.Stages, s => Assert.Equal(1, s.Attempts));
        Assert.Single(await store.ListVersionsAsync());
    }

    [Fact]
    public async Task A_second_trigger_during_a_run_is_refused_naming_the_active_run()
    {
        using var pipeline = new TestPipeline(await postgres.CreateDatabaseAsync(), "guard");
        await using var host = await PipelineHost.CreateServeAsync(pipeline.Settings(("Ingest:Input:0", pipeline.Input)), default);
        await host.StartAsync(default);
        var runs = host.Services.GetRequiredService<PipelineRunStore>();

        // The dashboard's "Trigger now" on the nightly job starts a run on the configured input ...
        host.Services.GetRequiredService<IRecurringJobManager>().Trigger(NightlySchedule.RecurringJobId);
        var active = await WaitUntilAsync(() => runs.GetActiveRunAsync(default), TimeSpan.FromSeconds(30));

        // ... and while it is active, another trigger is refused with a message naming it.
        var refused = await Assert.ThrowsAsync<PipelineException>(() =>
            host.Services.GetRequiredService<PipelineTrigger>().StartAsync(new TriggerRequest([pipeline.Input]), default));
        Assert.Contains(active.RunId, refused.Message);
        Assert.Contains("active", refused.Message);

        var run = await TestPipeline.WaitForRunAsync(host.Services, active.RunId, RunTimeout);
        Assert.Equal(RunStatus.Completed, run.Status);
        Assert.Single(await runs.ListRunsAsync(10, default));
    }

    [Fact]
    public async Task Trigger_wait_exits_non_zero_with_the_failing_stage_error_and_does_not_retry_a_missing_input()
    {
        using var pipeline = new TestPipeline(await postgres.CreateDatabaseAsync(), "missing");
        await using var worker = await PipelineHost.CreateWorkerAsync(pipeline.Settings(), [JobQueues.Default], default);
        await worker.StartAsync(default);
        var missing = Path.Combine(pipeline.Root, "no-such-log.csv");

        using var trigger = AppHostProcess.Start(["trigger", "--input", missing, "--wait", "--work", pipeline.Work], pipeline.Environment());
        int exit = await trigger.WaitForExitAsync(RunTimeout);

        Assert.NotEqual(0, exit);
        Assert.Matches(@"error: run \S+ failed at ingest: .*no-such-log\.csv: no such file or folder", trigger.Stderr);
        Assert.DoesNotContain("   at ", trigger.Stderr); // a message, not a stack trace
        // Permanent: failed at once, no retry scheduled, and the next run is not blocked.
        var monitoring = worker.Services.GetRequiredService<JobStorage>().GetMonitoringApi();
        Assert.Equal(1, monitoring.FailedCount());
        Assert.Equal(0, monitoring.ScheduledCount());
        Assert.Null(await worker.Services.GetRequiredService<PipelineRunStore>().GetActiveRunAsync(default));
    }

    [Fact]
    public async Task Without_a_gpu_worker_and_TrainWithoutGpu_cpu_training_runs_on_the_default_queue_on_the_cpu()
    {
        using var pipeline = new TestPipeline(await postgres.CreateDatabaseAsync(), "nogpu-cpu");
        // A worker on `default` only: nothing listens on `gpu`.
        await using var worker = await PipelineHost.CreateWorkerAsync(pipeline.Settings(("Pipeline:TrainWithoutGpu", "cpu")), [JobQueues.Default], default);
        await worker.StartAsync(default);
        var runs = worker.Services.GetRequiredService<PipelineRunStore>();
        var runId = await worker.Services.GetRequiredService<PipelineTrigger>().StartAsync(new TriggerRequest([pipeline.Input]), default);

        var run = (await runs.GetRunAsync(runId, default))!;
        Assert.Equal((JobQueues.Default, "cpu"), (run.Settings.TrainQueue, run.Settings.TrainDevice));
        // Only the `default` worker exists, so training running at all shows where it went.
        var started = await WaitUntilAsync(async () => (await runs.GetRunAsync(runId, default))!.Stage(StageNames.Train) is { Status: RunStatus.Running or RunStatus.Completed } s ? s : null,
            TimeSpan.FromSeconds(60));
        Assert.NotNull(started.JobId);
    }

    [Fact]
    public async Task Without_a_gpu_worker_and_TrainWithoutGpu_wait_training_waits_on_the_gpu_queue()
    {
        using var pipeline = new TestPipeline(await postgres.CreateDatabaseAsync(), "nogpu-wait");
        await using var worker = await PipelineHost.CreateWorkerAsync(pipeline.Settings(("Pipeline:TrainWithoutGpu", "wait")), [JobQueues.Default], default);
        await worker.StartAsync(default);
        var runId = await worker.Services.GetRequiredService<PipelineTrigger>().StartAsync(new TriggerRequest([pipeline.Input]), default);

        var run = (await worker.Services.GetRequiredService<PipelineRunStore>().GetRunAsync(runId, default))!;
        Assert.Equal((JobQueues.Gpu, null), (run.Settings.TrainQueue, run.Settings.TrainDevice));
        // Once prepared, the train job sits on `gpu`, which nobody takes.
        var monitoring = worker.Services.GetRequiredService<JobStorage>().GetMonitoringApi();
        var waiting = await WaitUntilAsync(() => Task.FromResult<EnqueuedJobDto?>(
            monitoring.EnqueuedJobs(JobQueues.Gpu, 0, 10).Select(j => j.Value).FirstOrDefault(j => j.Job?.Type == typeof(TrainJob))), TimeSpan.FromSeconds(60));
        Assert.Equal(JobQueues.Gpu, waiting.Job.Args[1]);
        Assert.Equal(RunStatus.Pending, (await worker.Services.GetRequiredService<PipelineRunStore>().GetRunAsync(runId, default))!.Stage(StageNames.Train)!.Status);
    }

    static RecurringJobDto NightlyJob(PipelineHost host)
    {
        using var connection = host.Services.GetRequiredService<JobStorage>().GetConnection();
        return Assert.Single(connection.GetRecurringJobs(), j => j.Id == NightlySchedule.RecurringJobId);
    }

    static async Task<string> AnyUserWithRecommendationsAsync(PostgresRecommendationStore store)
    {
        for (int u = 0; u < 60; u++)
            if ((await store.GetRecommendationsAsync($"u{u}", 5)).Items.Count > 0) return $"u{u}";
        throw new InvalidOperationException("no user has recommendations");
    }

    internal static async Task<T> WaitUntilAsync<T>(Func<Task<T?>> probe, TimeSpan timeout) where T : class
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (await probe() is { } value) return value;
            await Task.Delay(100);
        }
        throw new TimeoutException($"condition not met in {timeout}");
    }
}

/// <summary>Listens to the pipeline's ActivitySource and Meter while a test runs.</summary>
public sealed class TelemetryRecorder : IDisposable
{
    readonly ActivityListener _activities;
    readonly MeterListener _meters = new();
    readonly ConcurrentQueue<string> _stopped = new();
    readonly ConcurrentQueue<(string Name, double Value)> _measurements = new();

    public TelemetryRecorder()
    {
        _activities = new ActivityListener
        {
            ShouldListenTo = source => source.Name == PipelineTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = activity => _stopped.Enqueue(activity.DisplayName),
        };
        ActivitySource.AddActivityListener(_activities);
        _meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == PipelineTelemetry.Name) listener.EnableMeasurementEvents(instrument);
        };
        _meters.SetMeasurementEventCallback<long>((instrument, value, _, _) => _measurements.Enqueue((instrument.Name, value)));
        _meters.SetMeasurementEventCallback<double>((instrument, value, _, _) => _measurements.Enqueue((instrument.Name, value)));
        _meters.Start();
    }

    public IReadOnlyCollection<string> Activities => _stopped.ToArray();
    public double Sum(string instrument) => _measurements.Where(m => m.Name == instrument).Sum(m => m.Value);
    public int Count(string instrument) => _measurements.Count(m => m.Name == instrument);

    public void Dispose()
    {
        _activities.Dispose();
        _meters.Dispose();
    }
}
