using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Hangfire;
using HrnnPipeline.AppHost.Cli;
using HrnnPipeline.AppHost.Hosting;
using HrnnPipeline.AppHost.Jobs;
using Microsoft.Extensions.DependencyInjection;

namespace HrnnPipeline.Tests.AppHost;

/// <summary>
/// The README followed as a new user would: the main job, then the read API on the embedded default; the read API
/// before anything is published; trigger with the input options of run and relative paths.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class FrontDoorTests(PostgresFixture postgres)
{
    static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Serve_reads_what_run_published_on_the_embedded_default()
    {
        using var pipeline = new TestPipeline(await postgres.CreateDatabaseAsync(), "embedded");
        var settings = pipeline.Settings(("Serve:Server", "false"));
        settings.Remove("ConnectionStrings:postgres"); // the embedded default: nothing configured

        // Before anything is published: 503 problem details, not a 500.
        await using (var empty = await PipelineHost.CreateServeAsync(settings, default))
        {
            await empty.StartAsync(default);
            using var http = new HttpClient { BaseAddress = new Uri(empty.Addresses[0]) };
            await AssertNothingPublishedAsync(http);
        }

        // The README's main command (what `dotnet run --project AppHost -- run` runs), on the same work folder.
        int exit = await PipelineCli.InvokeAsync(["run", "--input", pipeline.Input, "--work", pipeline.Work, "--epochs", "2",
            "--session-hidden", "16", "--user-hidden", "16", "--min-item-support", "3", "--min-user-sessions", "3", "--k", "5"]);
        Assert.Equal(0, exit);
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(pipeline.Work, "run-summary.json")));
        var version = summary.RootElement.GetProperty("model_version").GetString()!;

        await using var host = await PipelineHost.CreateServeAsync(settings, default);
        await host.StartAsync(default);
        using var client = new HttpClient { BaseAddress = new Uri(host.Addresses[0]) };
        var user = PublishedUser(Path.Combine(pipeline.Work, "exports", version, "recommendations.parquet"));
        var response = await client.GetAsync($"/users/{user}/recommendations?k=3");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        using var json = JsonDocument.Parse(body);
        Assert.Equal(version, json.RootElement.GetProperty("version").GetString());
        Assert.Equal(3, json.RootElement.GetProperty("items").GetArrayLength());
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/users/nobody-at-all/recommendations?k=1")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync($"/users/{user}/recommendations?k=6")).StatusCode);
        var session = await client.PostAsync($"/users/{user}/session?k=2",
            new StringContent("""{"items": ["not-an-item"]}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.True(session.StatusCode == HttpStatusCode.OK, await session.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Serve_on_a_never_initialised_postgres_answers_503_nothing_published()
    {
        using var pipeline = new TestPipeline(await postgres.CreateDatabaseAsync(), "empty-pg");
        await using var host = await PipelineHost.CreateServeAsync(pipeline.Settings(("Serve:Server", "false")), default);
        await host.StartAsync(default);
        using var http = new HttpClient { BaseAddress = new Uri(host.Addresses[0]) };
        await AssertNothingPublishedAsync(http);
    }

    [Fact]
    public async Task Trigger_passes_the_input_options_of_run_to_its_run_and_resolves_relative_paths_against_the_callers_folder()
    {
        using var pipeline = new TestPipeline(await postgres.CreateDatabaseAsync(), "trigger-options");
        // Tab-separated, no header, fields in the order item, user, timestamp: only --format and --columns read it
        // right, and with the columns swapped the published "users" would be items.
        var folder = Path.GetDirectoryName(pipeline.Input)!;
        var rows = File.ReadLines(pipeline.Input).Skip(1).Select(l => l.Split(',')).Select(f => $"{f[1]}\t{f[0]}\t{f[2]}");
        File.WriteAllLines(Path.Combine(folder, "events.txt"), rows);
        await using var host = await PipelineHost.CreateServeAsync(pipeline.Settings(), default);
        await host.StartAsync(default);

        using var trigger = AppHostProcess.Start(["trigger", "--input", "events.txt", "--format", "tsv",
            "--columns", "item,user,timestamp", "--session-gap", "00:45:00", "--wait", "--work", pipeline.Work],
            pipeline.Environment(), workingDirectory: folder);
        int exit = await trigger.WaitForExitAsync(RunTimeout);
        Assert.True(exit == 0, $"trigger --wait exited {exit}:\n{trigger.Stderr}");
        var runId = Regex.Match(trigger.Stdout, @"run (\S+) completed").Groups[1].Value;

        var run = (await host.Services.GetRequiredService<PipelineRunStore>().GetRunAsync(runId, default))!;
        Assert.Equal([Path.Combine(folder, "events.txt")], run.Settings.Input);
        Assert.Equal("tsv", run.Settings.Options!["Ingest:Format"]);
        Assert.Equal("item,user,timestamp", run.Settings.Options["Ingest:Columns"]);
        Assert.Equal("00:45:00", run.Settings.Options["Features:SessionGap"]);
        // The run used them: its users are the log's users (u...), not its items (i...).
        var user = await pipeline.ScalarAsync<string>("select min(user_id) from recommendations where version = (select version from active_version)");
        Assert.StartsWith("u", user);
        using var http = new HttpClient { BaseAddress = new Uri(host.Addresses[0]) };
        var response = await http.GetAsync($"/users/{user}/recommendations?k=1");
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        // And the dashboard shows them: the ingest job's enqueued state gives the run's input and options.
        var ingest = run.Stage(StageNames.Ingest)!.JobId!;
        var details = host.Services.GetRequiredService<JobStorage>().GetMonitoringApi().JobDetails(ingest);
        var reasons = string.Join(" | ", details.History.Select(h => h.Reason));
        Assert.Contains("Ingest:Format=tsv", reasons);
        Assert.Contains("Ingest:Columns=item,user,timestamp", reasons);
    }

    [Fact]
    public async Task Dotnet_run_resolves_relative_paths_against_the_callers_folder()
    {
        var project = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../AppHost/AppHost.csproj"));
        Assert.True(File.Exists(project), project);
        var caller = Directory.CreateTempSubdirectory("hrnn-cwd-").FullName;
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = caller, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "run", "--project", project, "-c", "Release", "--no-build", "--",
                     "generate", "--users", "2", "--items", "3", "--out", "relative.csv" })
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, await stderr);
        Assert.True(File.Exists(Path.Combine(caller, "relative.csv")), "relative.csv was not written in the caller's folder");
    }

    static async Task AssertNothingPublishedAsync(HttpClient http)
    {
        foreach (var request in new[]
                 {
                     new HttpRequestMessage(HttpMethod.Get, "/users/u1/recommendations?k=3"),
                     new HttpRequestMessage(HttpMethod.Post, "/users/u1/session")
                         { Content = new StringContent("""{"items": ["i1"]}""", System.Text.Encoding.UTF8, "application/json") },
                 })
        {
            var response = await http.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{request.RequestUri}: {(int)response.StatusCode} {body}");
            Assert.Contains("Nothing published", body);
        }
    }

    internal static string PublishedUser(string parquet)
    {
        using var conn = new DuckDB.NET.Data.DuckDBConnection("Data Source=:memory:");
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = $"select min(user_id) from read_parquet('{parquet}')";
        return (string)cmd.ExecuteScalar()!;
    }
}
