using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using HrnnPipeline.AppHost;
using HrnnPipeline.ServiceDefaults.Postgres;

namespace HrnnPipeline.Tests.AppHost;

/// <summary>
/// The Aspire app model of AppHost/ started by Aspire.Hosting.Testing over a test's own work folder, with the
/// private PostgreSQL (nothing configured) and the small, fast settings of <see cref="TestPipeline"/>.
/// </summary>
public sealed class AppModelDeployment : IAsyncDisposable
{
    AppModelDeployment(TestPipeline pipeline, DistributedApplication app, int schedulerPort)
    {
        Pipeline = pipeline;
        App = app;
        SchedulerUrl = $"http://127.0.0.1:{schedulerPort}";
    }

    public TestPipeline Pipeline { get; }
    public DistributedApplication App { get; }
    public string SchedulerUrl { get; }

    public static async Task<AppModelDeployment> StartAsync(TestPipeline pipeline, params (string Key, string? Value)[] extra)
    {
        int port = LocalPostgresCluster.FreePort();
        var settings = pipeline.Settings([.. extra, ("Scheduler:Port", port.ToString(System.Globalization.CultureInfo.InvariantCulture))]);
        settings.Remove("ConnectionStrings:postgres"); // the private server in the work folder
        settings.Remove("urls");
        var builder = await DistributedApplicationTestingBuilder.CreateAsync(typeof(PipelineAppModel),
            [.. settings.Select(kv => $"--{kv.Key}={kv.Value}")], default);
        foreach (var host in builder.Resources.OfType<ProjectResource>())
            builder.CreateResourceBuilder(host).WithEnvironment("DOTNET_TieredCompilation", "0"); // as the test process
        var app = await builder.BuildAsync();
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            await app.StartAsync(cts.Token);
            await app.ResourceNotifications.WaitForResourceHealthyAsync(PipelineAppModel.Scheduler, cts.Token);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        return new AppModelDeployment(pipeline, app, port);
    }

    /// <summary>Processes of this deployment still alive: any whose environment names its work folder (every
    /// pipeline host gets Pipeline__Work) or whose command line does (PostgreSQL's -D).</summary>
    public IReadOnlyList<string> LiveProcesses() => ProcessesNaming(Pipeline.Work);

    public static IReadOnlyList<string> ProcessesNaming(string work)
    {
        var found = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid) || pid == Environment.ProcessId) continue;
            var cmdline = Read(Path.Combine(dir, "cmdline"));
            if (cmdline.Contains(work, StringComparison.Ordinal) || Read(Path.Combine(dir, "environ")).Contains("Pipeline__Work=" + work, StringComparison.Ordinal))
                found.Add($"{pid}: {cmdline.Replace('\0', ' ').Trim()}");
        }
        return found;
    }

    /// <summary>The process of a pipeline host (the program itself, not the `dotnet run` that DCP starts it with).</summary>
    public int HostProcess(string arguments)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            var cmdline = Read(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
            if (cmdline.Contains("HrnnPipeline.Pipeline", StringComparison.Ordinal) && !cmdline.Contains("dotnet run", StringComparison.Ordinal)
                && cmdline.Contains(arguments, StringComparison.Ordinal)
                && Read(Path.Combine(dir, "environ")).Contains("Pipeline__Work=" + Pipeline.Work, StringComparison.Ordinal))
                return pid;
        }
        return 0;
    }

    static string Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ""; // the process ended meanwhile
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await App.StopAsync();
        }
        finally
        {
            await App.DisposeAsync();
        }
    }
}
