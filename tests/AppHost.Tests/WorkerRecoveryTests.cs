using System.Text.Json;
using HrnnPipeline.AppHost.Hosting;
using HrnnPipeline.AppHost.Jobs;
using HrnnPipeline.Scoring.Publishing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace HrnnPipeline.Tests.AppHost;

/// <summary>A GPU worker dies mid-training: the run still ends with exactly one published model.</summary>
[Collection(PostgresCollection.Name)]
public sealed class WorkerRecoveryTests(PostgresFixture postgres, ITestOutputHelper output)
{
    [Fact]
    public async Task Worker_killed_during_training_is_replaced_and_training_resumes_from_the_checkpoint_with_one_version_published()
    {
        using var pipeline = new TestPipeline(await postgres.CreateDatabaseAsync(), "kill");
        // Enough epochs that the kill lands mid-training (it happens right after the first checkpoint).
        (string, string?) epochs = ("Training:Epochs", "4");
        var environment = pipeline.Environment(epochs);
        string[] worker = ["worker", "--queues", "gpu,default", "--work", pipeline.Work];
        var checkpoint = Path.Combine(pipeline.Work, "checkpoints", "checkpoint.hrnn");
        await using var client = await PipelineHost.CreateClientAsync(pipeline.Settings(epochs), default);
        var runs = client.Services.GetRequiredService<PipelineRunStore>();
        var trigger = client.Services.GetRequiredService<PipelineTrigger>();

        var clock = System.Diagnostics.Stopwatch.StartNew();
        string runId;
        using (var first = AppHostProcess.Start(worker, environment))
        {
            await SchedulingTests.WaitUntilAsync(() => Task.FromResult(trigger.AnyServerListening(JobQueues.Gpu) ? "" : null), TimeSpan.FromSeconds(60));
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: first worker listening on gpu");
            runId = await trigger.StartAsync(new TriggerRequest([pipeline.Input]), default);
            Assert.Equal(JobQueues.Gpu, (await runs.GetRunAsync(runId, default))!.Settings.TrainQueue);
            await SchedulingTests.WaitUntilAsync(async () =>
                (await runs.GetRunAsync(runId, default))!.Stage(StageNames.Train)!.Status == RunStatus.Running && File.Exists(checkpoint) ? "" : null,
                TimeSpan.FromSeconds(120));
            first.Kill();
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: first worker killed during training");
        }
        var atKill = (await runs.GetRunAsync(runId, default))!;
        Assert.True(atKill.Stage(StageNames.Train)!.Status == RunStatus.Running, "training ended before the kill; raise Training:Epochs");

        using var second = AppHostProcess.Start(worker, environment);
        PipelineRun run;
        try
        {
            run = await TestPipeline.WaitForRunAsync(client.Services, runId, TimeSpan.FromMinutes(3));
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}\nsecond worker:\n{AppHostProcess.Tail(second.Stderr)}");
        }

        output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: run {run.Status}");
        foreach (var stage in run.Stages) output.WriteLine($"  {stage.Stage}: {stage.Status}, attempts {stage.Attempts}, {stage.StartedAt:HH:mm:ss.f}-{stage.EndedAt:HH:mm:ss.f}");
        Assert.True(run.Status == RunStatus.Completed, $"{run.Status}: {run.Run.Error}");
        var train = run.Stage(StageNames.Train)!;
        Assert.Equal(2, train.Attempts);
        using var metrics = JsonDocument.Parse(train.Metrics!);
        Assert.True(metrics.RootElement.GetProperty("resumed_from_epoch").GetInt32() > 0, train.Metrics);
        Assert.Equal(4, metrics.RootElement.GetProperty("epochs").GetInt32());
        using var summary = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(pipeline.Work, "train-summary.json")));
        Assert.True(summary.RootElement.GetProperty("resumed_from_epoch").GetInt32() > 0);

        await using var store = new PostgresRecommendationStore(pipeline.ConnectionString);
        var version = Assert.Single(await store.ListVersionsAsync());
        Assert.Equal(run.Metric("version"), version.Version);
        Assert.Single(Directory.GetDirectories(Path.Combine(pipeline.Work, "models")));
    }
}
