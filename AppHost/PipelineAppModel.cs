using System.Globalization;
using HrnnPipeline.AppHost.Hosting;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.ServiceDefaults.Postgres;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace HrnnPipeline.AppHost;

/// <summary>
/// The deployment as an Aspire app model: <c>postgres</c>, and three kinds of pipeline host, all runs of the
/// Pipeline project sharing one work folder and one database: <c>scheduler</c> (`serve`: Hangfire server on
/// default, dashboard, nightly job, read API, /healthz), <c>gpu-worker</c> (`worker --queues gpu`: training) and
/// <c>worker</c> (`worker --queues default`, Pipeline:ScoreShards replicas: score shards fan out over processes).
/// </summary>
public static class PipelineAppModel
{
    /// <summary>The resource names, also the services' names in the dashboard's logs, traces and metrics.</summary>
    public const string Postgres = "postgres", Scheduler = "scheduler", GpuWorker = "gpu-worker", Worker = "worker";

    /// <summary>What the AppHost passes on to every pipeline host: the sections each stage and host reads.</summary>
    static readonly string[] ForwardedSections = ["Pipeline", "Ingest", "Features", "Training", "Scoring", "Serve", "Dashboard"];

    public static async Task<IDistributedApplicationBuilder> AddHrnnPipelineAsync(this IDistributedApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var settings = DeploymentSettings.From(configuration);
        var publish = builder.ExecutionContext.IsPublishMode;

        IResourceBuilder<IResourceWithConnectionString> postgres;
        object work;
        if (publish)
        {
            // A deployment brings its own server and shared folder: both are parameters of the manifest.
            postgres = builder.AddConnectionString(Postgres);
            work = builder.AddParameter("work");
        }
        else
        {
            var folder = new WorkDirectory(settings.Work);
            builder.Services.AddSingleton(WorkFolderLock.Acquire(folder));
            postgres = string.IsNullOrWhiteSpace(configuration.GetConnectionString(Postgres))
                ? await builder.AddPrivatePostgresAsync(Postgres, folder)
                : builder.AddConnectionString(Postgres);
            work = folder.Root;
            builder.Services.AddHostedService<CrashedHostRestarter>();
            builder.Services.AddHostedService(sp => new DeploymentShutdown(sp, sp.GetService<LocalPostgresCluster>()));
            builder.Services.AddHostedService(sp => new DeploymentBanner(settings, folder, sp));
        }

        IResourceBuilder<ProjectResource> Host(string name, params string[] args) => builder.AddProject<Projects.Pipeline>(name)
            .WithArgs(args)
            .WithReference(postgres)
            .WaitFor(postgres)
            .WithEnvironment(context =>
            {
                if (!publish)
                {
                    Forward(configuration, context.EnvironmentVariables);
                    // Metrics every 5 s rather than the SDK's 60 s, so the dashboard's charts follow a run.
                    context.EnvironmentVariables.TryAdd("OTEL_METRIC_EXPORT_INTERVAL", "5000");
                }
                context.EnvironmentVariables["Pipeline__Work"] = work;
            });

        var schedulerUrl = $"http://{settings.SchedulerHost}:{settings.SchedulerPort.ToString(CultureInfo.InvariantCulture)}";
        // Here: on 127.0.0.1 only. Deployed: on every interface of its machine, on the port the manifest binds (HTTP_PORTS).
        var scheduler = Host(Scheduler, publish ? ["serve"] : ["serve", "--urls", schedulerUrl])
            .WithHttpEndpoint(port: settings.SchedulerPort, targetPort: settings.SchedulerPort, isProxied: false)
            .WithHttpHealthCheck(ServiceDefaults.Extensions.HealthPath)
            .WithUrl($"{schedulerUrl}{PipelineHost.DashboardPath}", "Hangfire dashboard");
        // The workers start once the scheduler is healthy: it has created Hangfire's schema and pipeline_runs, which
        // several hosts creating at once on a fresh database would race on.
        Host(GpuWorker, "worker", "--queues", JobQueues.Gpu, "--device", settings.TrainingDevice).WaitFor(scheduler);
        Host(Worker, "worker", "--queues", JobQueues.Default).WithReplicas(settings.ScoreShards).WaitFor(scheduler);
        return builder;
    }

    /// <summary>The AppHost's pipeline settings as environment variables (<c>Training__Epochs</c>), so the whole
    /// deployment is configured in one place; the work folder is given separately, absolute.</summary>
    static void Forward(IConfiguration configuration, IDictionary<string, object> environment)
    {
        foreach (var section in ForwardedSections)
            foreach (var (key, value) in configuration.GetSection(section).AsEnumerable())
                if (value is not null) environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
    }
}

/// <summary>The AppHost's own settings (work folder, where the scheduler listens, replicas, the GPU worker's device).</summary>
public sealed record DeploymentSettings(string Work, string SchedulerHost, int SchedulerPort, int ScoreShards, string TrainingDevice)
{
    public static DeploymentSettings From(IConfiguration configuration)
    {
        var pipeline = PipelineOptions.From(configuration);
        var port = configuration.GetValue("Scheduler:Port", 5080);
        if (port is < 1 or > 65535) throw new PipelineException($"Scheduler:Port must be between 1 and 65535, got {port}");
        return new DeploymentSettings(pipeline.Work, configuration["Scheduler:Host"] ?? "127.0.0.1", port, pipeline.ScoreShards,
            configuration["Training:Device"] ?? "cpu");
    }
}
