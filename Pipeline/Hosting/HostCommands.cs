using System.CommandLine;
using HrnnPipeline.AppHost.Cli;
using HrnnPipeline.AppHost.Jobs;
using HrnnPipeline.ServiceDefaults;
using Microsoft.Extensions.DependencyInjection;

namespace HrnnPipeline.AppHost.Hosting;

/// <summary>The commands of the scheduled deployment: serve, worker, trigger.</summary>
public static class HostCommands
{
    static readonly Option<string> Urls = new("--urls") { Description = "Addresses to listen on, e.g. http://127.0.0.1:5080 (default: ASP.NET Core's)" };

    public static Command Serve()
    {
        var options = new CliOptions.Mapped[]
        {
            new(new Option<bool?>("--server") { Description = "Run a Hangfire server in this process (Serve:Server, default true)" }, "Serve:Server"),
            new(new Option<bool?>("--dashboard") { Description = "Serve the Hangfire dashboard at /hangfire (Serve:Dashboard, default true)" }, "Serve:Dashboard"),
            new(new Option<bool?>("--api") { Description = "Serve the recommendations read API (Serve:Api, default true)" }, "Serve:Api"),
            new(Urls, "urls"),
        };
        var command = new Command("serve", "Hangfire server + dashboard (/hangfire) + read API + /healthz in one process; registers the nightly run (Pipeline:Cron).");
        CliOptions.AddTo(command, options);
        command.Options.Add(CliOptions.Work);
        command.SetAction((result, ct) => PipelineCli.Execute(result, options, ct, async (_, token) =>
        {
            await using var host = await PipelineHost.CreateServeAsync(Settings(result, options), token);
            await host.RunAsync(token);
            return 0;
        }));
        return command;
    }

    public static Command Worker()
    {
        var queues = new Option<string>("--queues") { Description = "Queues to take jobs from, in priority order: gpu, default or gpu,default", DefaultValueFactory = _ => JobQueues.Default };
        var options = CliOptions.Training().Where(o => o.Key == "Training:Device").ToArray();
        var command = new Command("worker", "A Hangfire server only: takes jobs from the given queues (a GPU machine: --queues gpu --device cuda).") { queues };
        CliOptions.AddTo(command, options);
        command.Options.Add(CliOptions.Work);
        command.SetAction((result, ct) => PipelineCli.Execute(result, options, ct, async (_, token) =>
        {
            var list = JobQueues.Parse(result.GetValue(queues)!, "--queues");
            await using var host = await PipelineHost.CreateWorkerAsync(Settings(result, options), list, token);
            await host.RunAsync(token);
            return 0;
        }));
        return command;
    }

    public static Command Trigger()
    {
        var wait = new Option<bool>("--wait") { Description = "Block until the run ends: exit 0 with the published version, non-zero with the failing stage's error" };
        var runId = new Option<string>("--run-id") { Description = "Start this run again: stages it completed are skipped" };
        var command = new Command("trigger", "Enqueue a pipeline run on the configured Hangfire storage (refused while another run is active). Takes the input options of `run`; they are stored with the run.") { wait, runId };
        // The same input options as run and prepare; they belong to this run (pipeline_runs.settings), not to the host.
        var inputOptions = CliOptions.Input();
        CliOptions.AddTo(command, inputOptions);
        command.Options.Add(CliOptions.Work);
        command.SetAction((result, ct) => PipelineCli.Execute(result, [], ct, async (_, token) =>
        {
            var runOptions = CliOptions.Overrides(result, inputOptions);
            var input = runOptions.Where(kv => kv.Key.StartsWith("Ingest:Input:", StringComparison.Ordinal))
                .OrderBy(kv => int.Parse(kv.Key["Ingest:Input:".Length..], System.Globalization.CultureInfo.InvariantCulture))
                .Select(kv => kv.Value!).ToArray();
            foreach (var key in runOptions.Keys.Where(k => k.StartsWith("Ingest:Input:", StringComparison.Ordinal)).ToList()) runOptions.Remove(key);
            await using var host = await PipelineHost.CreateClientAsync(Settings(result, []), token);
            var trigger = host.Services.GetRequiredService<PipelineTrigger>();
            var id = await trigger.StartAsync(new TriggerRequest(input.Length > 0 ? input : null, result.GetValue(runId), runOptions), token);
            if (!result.GetValue(wait))
            {
                Console.WriteLine($"run {id} enqueued");
                return 0;
            }
            Console.Error.WriteLine($"run {id} enqueued; waiting for it to end");
            if (!trigger.AnyServerListening(JobQueues.Default))
                Console.Error.WriteLine("warning: no Hangfire server listens on queue default yet; the run starts when `serve` or `worker` runs");
            var run = await trigger.WaitAsync(id, TimeSpan.FromSeconds(1), Report, token);
            if (run.Status == RunStatus.Completed)
            {
                Console.WriteLine($"run {id} completed: published version {run.Metric("version")}");
                return 0;
            }
            Console.Error.WriteLine($"error: run {id} failed at {run.Run.Error ?? "an unknown stage"}");
            return 1;
        }));
        return command;
    }

    static void Report(PipelineRun run)
    {
        var current = run.Stages.LastOrDefault(s => s.Status is not RunStatus.Pending);
        Console.Error.WriteLine(current is null
            ? $"run {run.Id}: {run.Status}, waiting for a server to take it"
            : $"run {run.Id}: {run.Status}; {current.Stage} {current.Status}{(current.Attempts > 1 ? $" (attempt {current.Attempts})" : "")}");
    }

    /// <summary>The command line's settings as configuration keys, the work folder included.</summary>
    static Dictionary<string, string?> Settings(ParseResult result, IEnumerable<CliOptions.Mapped> options)
    {
        var settings = CliOptions.Overrides(result, options);
        // An explicit --work wins; otherwise Pipeline:Work from configuration, else the CLI's default folder.
        if (result.GetResult(CliOptions.Work) is { Implicit: false }) settings["Pipeline:Work"] = result.GetValue(CliOptions.Work);
        return settings;
    }
}
