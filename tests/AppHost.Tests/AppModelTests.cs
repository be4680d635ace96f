using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Aspire.Hosting.Testing;
using HrnnPipeline.AppHost;
using HrnnPipeline.AppHost.Hosting;
using HrnnPipeline.AppHost.Jobs;
using HrnnPipeline.Scoring.Publishing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace HrnnPipeline.Tests.AppHost;

/// <summary>
/// The whole deployment as the Aspire app model runs it (Aspire.Hosting.Testing): the private PostgreSQL, the
/// scheduler, the GPU worker and the workers, on a small generated log.
/// </summary>
public sealed class AppModelTests(ITestOutputHelper output)
{
    static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task App_model_runs_a_triggered_run_serves_the_list_refuses_a_second_AppHost_and_leaves_no_process()
    {
        using var pipeline = new TestPipeline("", "appmodel");
        var clock = Stopwatch.StartNew();
        var deployment = await AppModelDeployment.StartAsync(pipeline);
        await using (deployment)
        {
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: scheduler healthy");

            // A second AppHost on the same work folder is refused before it starts anything.
            var environment = pipeline.Environment();
            environment.Remove("ConnectionStrings__postgres");
            using (var second = AppHostProcess.Start([], environment))
            {
                Assert.Equal(1, await second.WaitForExitAsync(TimeSpan.FromSeconds(60)));
                Assert.Contains($"error: another AppHost already runs on the work folder {pipeline.Work}", second.Stderr);
            }

            // The README's trigger against the running deployment: nothing configured, it finds the private server.
            using var trigger = AppHostProcess.Start(["trigger", "--input", pipeline.Input, "--wait", "--work", pipeline.Work], environment);
            int exit = await trigger.WaitForExitAsync(RunTimeout);
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: trigger exited {exit}: {trigger.Stdout}");
            Assert.True(exit == 0, $"trigger: {trigger.Stdout}\n{AppHostProcess.Tail(trigger.Stderr)}");
            var version = trigger.Stdout.Split("published version ")[1].Trim();

            using var http = new HttpClient { BaseAddress = new Uri(deployment.SchedulerUrl) };
            var user = FrontDoorTests.PublishedUser(Path.Combine(pipeline.Work, "exports", version, "recommendations.parquet"));
            var response = await http.GetAsync($"/users/{user}/recommendations?k=3");
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, body);
            using var json = JsonDocument.Parse(body);
            Assert.Equal(version, json.RootElement.GetProperty("version").GetString());
            Assert.Equal(3, json.RootElement.GetProperty("items").GetArrayLength());
            Assert.NotEmpty(deployment.LiveProcesses());
        }
        output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: stopped");
        AssertNothingLeft(pipeline.Work);
    }

    [Fact]
    public async Task Gpu_worker_killed_mid_training_is_started_again_and_the_run_publishes_one_version()
    {
        using var pipeline = new TestPipeline("", "appmodel-kill");
        var clock = Stopwatch.StartNew();
        // Enough epochs that the kill lands mid-training (right after the first checkpoint); one scoring worker.
        (string Key, string? Value)[] settings = [("Training:Epochs", "4"), ("Pipeline:ScoreShards", "1")];
        var deployment = await AppModelDeployment.StartAsync(pipeline, settings);
        await using (deployment)
        {
            var connection = await deployment.App.GetConnectionStringAsync(PipelineAppModel.Postgres) ?? throw new InvalidOperationException("no connection string");
            await using var client = await PipelineHost.CreateClientAsync(pipeline.Settings([.. settings, ("ConnectionStrings:postgres", connection)]), default);
            var runs = client.Services.GetRequiredService<PipelineRunStore>();
            var trigger = client.Services.GetRequiredService<PipelineTrigger>();
            await SchedulingTests.WaitUntilAsync(() => Task.FromResult(trigger.AnyServerListening(JobQueues.Gpu) ? "" : null), TimeSpan.FromSeconds(60));
            var runId = await trigger.StartAsync(new TriggerRequest([pipeline.Input]), default);
            Assert.Equal(JobQueues.Gpu, (await runs.GetRunAsync(runId, default))!.Settings.TrainQueue);

            var checkpoint = Path.Combine(pipeline.Work, "checkpoints", "checkpoint.hrnn");
            await SchedulingTests.WaitUntilAsync(async () =>
                (await runs.GetRunAsync(runId, default))!.Stage(StageNames.Train)!.Status == RunStatus.Running && File.Exists(checkpoint) ? "" : null,
                TimeSpan.FromSeconds(120));
            int pid = deployment.HostProcess("worker --queues gpu");
            Assert.True(pid > 0, "no gpu-worker process found");
            Process.GetProcessById(pid).Kill(); // SIGKILL: no shutdown, nothing flushed
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: gpu-worker {pid} killed during training");
            Assert.Equal(RunStatus.Running, (await runs.GetRunAsync(runId, default))!.Stage(StageNames.Train)!.Status);

            var run = await TestPipeline.WaitForRunAsync(client.Services, runId, RunTimeout);
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: run {run.Status}");
            foreach (var stage in run.Stages) output.WriteLine($"  {stage.Stage}: {stage.Status}, attempts {stage.Attempts}");
            Assert.True(run.Status == RunStatus.Completed, $"{run.Status}: {run.Run.Error}");
            int restarted = deployment.HostProcess("worker --queues gpu");
            Assert.True(restarted > 0 && restarted != pid, $"the gpu-worker was not started again ({restarted})");
            var train = run.Stage(StageNames.Train)!;
            Assert.Equal(2, train.Attempts);
            using var metrics = JsonDocument.Parse(train.Metrics!);
            Assert.True(metrics.RootElement.GetProperty("resumed_from_epoch").GetInt32() > 0, train.Metrics);

            await using var store = new PostgresRecommendationStore(connection);
            var version = Assert.Single(await store.ListVersionsAsync());
            Assert.Equal(run.Metric("version"), version.Version);
            Assert.Single(Directory.GetDirectories(Path.Combine(pipeline.Work, "models")));
        }
        AssertNothingLeft(pipeline.Work);
    }

    /// <summary>No process of the deployment is left, and PostgreSQL was shut down cleanly (no recovery at the next start).</summary>
    void AssertNothingLeft(string work)
    {
        // The AppHost stops the hosts and then PostgreSQL before it returns; a moment's grace for the last exits.
        var clock = Stopwatch.StartNew();
        var left = AppModelDeployment.ProcessesNaming(work);
        while (left.Count > 0 && clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            Thread.Sleep(100);
            left = AppModelDeployment.ProcessesNaming(work);
        }
        output.WriteLine($"nothing left {clock.Elapsed.TotalSeconds:F1} s after the app was disposed");
        Assert.True(left.Count == 0, "still running:\n" + string.Join('\n', left));
        var control = Process.Start(new ProcessStartInfo(Path.Combine(HrnnPipeline.ServiceDefaults.Postgres.LocalPostgres.FindBinaries()!, "pg_controldata"), Path.Combine(work, "postgres"))
        {
            RedirectStandardOutput = true,
        })!;
        var state = control.StandardOutput.ReadToEnd();
        control.WaitForExit();
        Assert.Contains("Database cluster state:               shut down", state);
    }
}
