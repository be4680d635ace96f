using Hangfire;
using HrnnPipeline.AppHost.Jobs;
using HrnnPipeline.AppHost.Pipeline;
using HrnnPipeline.Scoring;
using HrnnPipeline.Scoring.Api;
using HrnnPipeline.Scoring.Publishing;
using HrnnPipeline.ServiceDefaults;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HrnnPipeline.AppHost.Hosting;

/// <summary>
/// The scheduled deployment's processes: <c>serve</c> (Hangfire server + dashboard + read API + /healthz in one
/// ASP.NET Core app), <c>worker</c> (a Hangfire server on some queues, generic host) and the client <c>trigger</c>
/// uses. Settings come from the standard chain plus <paramref name="settings"/> (the command line, which wins).
/// Without ConnectionStrings:postgres a private PostgreSQL is provisioned in the work folder and stopped on dispose.
/// </summary>
public sealed class PipelineHost : IAsyncDisposable
{
    public const string DashboardPath = "/hangfire";

    readonly PostgresConnection _postgres;

    PipelineHost(IHost host, PostgresConnection postgres)
    {
        Host = host;
        _postgres = postgres;
    }

    public IHost Host { get; }
    public IServiceProvider Services => Host.Services;
    public string ConnectionString => _postgres.ConnectionString;

    /// <summary>The addresses Kestrel listens on (serve, once started).</summary>
    public IReadOnlyList<string> Addresses =>
        Host.Services.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];

    public static async Task<PipelineHost> CreateServeAsync(IReadOnlyDictionary<string, string?> settings, CancellationToken ct)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [] });
        var (postgres, work) = await ConfigureAsync(builder, settings, "hrnn-serve", ct);
        try
        {
            var serve = builder.Configuration.GetSection(ServeOptions.SectionName).Get<ServeOptions>() ?? new ServeOptions();
            var queues = serve.Queues.Select(q => JobQueues.Validate(q, "Serve:Queues")).Distinct().ToArray(); // the binder appends to the default
            builder.AddPipelineScheduling(postgres.ConnectionString, new SchedulingRole("serve", serve.Server ? queues : null, RegistersNightlyRun: true));
            if (serve.Api)
            {
                var scoringDevice = builder.Configuration.GetSection(ScoringOptions.SectionName).Get<ScoringOptions>()?.Device ?? "cpu";
                // The store publishing writes to: the configured PostgreSQL, else (the embedded default, where `run`
                // publishes into the warehouse and jobs into the private server) the work folder's exports.
                builder.Services.AddRecommendationApi(postgres.IsConfigured
                    ? sp => new PostgresRecommendationStore(sp.GetRequiredService<PipelineRunStore>().DataSource)
                    : _ => new ExportedVersionReader(work.Exports));
                builder.Services.AddSingleton<ISessionContinuation>(_ => new ModelSessionContinuation(work, scoringDevice));
            }
            var security = builder.Configuration.GetSection(DashboardSecurityOptions.SectionName).Get<DashboardSecurityOptions>() ?? new DashboardSecurityOptions();

            var app = builder.Build();
            await app.Services.EnsurePipelineSchemaAsync();
            if (serve.Dashboard)
                app.MapHangfireDashboard(DashboardPath, new DashboardOptions
                {
                    Authorization = [new DashboardAccessFilter(security)],
                    IsReadOnlyFunc = _ => security.ReadOnly,
                    DisplayStorageConnectionString = false,
                    DashboardTitle = "HrnnPipeline",
                    AppPath = null,
                });
            if (serve.Api) app.UseRecommendationApi();
            app.MapDefaultEndpoints();
            var logger = app.Services.GetRequiredService<ILogger<PipelineHost>>();
            HostingLog.UsingPostgres(logger, postgres.Description);
            HostingLog.Serving(logger, work.Root, serve.Server, string.Join(",", queues), serve.Dashboard, serve.Api);
            if (serve.Api) HostingLog.ReadingFrom(logger, postgres.IsConfigured ? "ConnectionStrings:postgres" : $"the exports in {work.Exports} (what `run`, `publish` and the jobs published last)");
            return new PipelineHost(app, postgres);
        }
        catch
        {
            await postgres.DisposeAsync();
            throw;
        }
    }

    public static async Task<PipelineHost> CreateWorkerAsync(IReadOnlyDictionary<string, string?> settings, string[] queues, CancellationToken ct)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [] });
        var (postgres, work) = await ConfigureAsync(builder, settings, "hrnn-worker", ct);
        try
        {
            builder.AddPipelineScheduling(postgres.ConnectionString, new SchedulingRole("worker", queues, RegistersNightlyRun: false));
            var host = builder.Build();
            await host.Services.EnsurePipelineSchemaAsync();
            var logger = host.Services.GetRequiredService<ILogger<PipelineHost>>();
            HostingLog.UsingPostgres(logger, postgres.Description);
            HostingLog.Working(logger, work.Root, string.Join(",", queues), host.Services.GetRequiredService<PipelineOptions>().EffectiveWorkerCount);
            return new PipelineHost(host, postgres);
        }
        catch
        {
            await postgres.DisposeAsync();
            throw;
        }
    }

    /// <summary>Storage and trigger only, no server: what `trigger` needs. Logs warnings and errors only.</summary>
    public static async Task<PipelineHost> CreateClientAsync(IReadOnlyDictionary<string, string?> settings, CancellationToken ct)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [] });
        var (postgres, _) = await ConfigureAsync(builder, settings, "hrnn-trigger", ct);
        try
        {
            // Provider-specific, so it beats Logging:LogLevel:Default from appsettings: stderr shows only problems.
            builder.Logging.AddFilter<Microsoft.Extensions.Logging.Console.ConsoleLoggerProvider>(null, LogLevel.Warning);
            builder.AddPipelineScheduling(postgres.ConnectionString, SchedulingRole.Client);
            var host = builder.Build();
            await host.Services.EnsurePipelineSchemaAsync();
            return new PipelineHost(host, postgres);
        }
        catch
        {
            await postgres.DisposeAsync();
            throw;
        }
    }

    static async Task<(PostgresConnection, WorkDirectory)> ConfigureAsync(IHostApplicationBuilder builder,
        IReadOnlyDictionary<string, string?> settings, string serviceName, CancellationToken ct)
    {
        // The same chain as every CLI command (appsettings beside the program and in the current folder,
        // environment), with the command line's values last so they win.
        builder.Configuration.AddConfiguration(PipelineConfiguration.Sources(settings.ToDictionary()).Build());
        var options = PipelineOptions.From(builder.Configuration);
        var work = new WorkDirectory(options.Work);
        var postgres = await PostgresConnection.ResolveAsync(builder.Configuration, work, ct);
        // Jobs publish through PipelineStages, which reads ConnectionStrings:postgres: make a provisioned one visible.
        builder.Configuration.AddInMemoryCollection([new("ConnectionStrings:postgres", postgres.ConnectionString)]);
        builder.AddServiceDefaults(serviceName);
        return (postgres, work);
    }

    public Task StartAsync(CancellationToken ct) => Host.StartAsync(ct);

    /// <summary>Runs until <paramref name="ct"/> is cancelled (Ctrl+C) or the host is asked to stop.</summary>
    public Task RunAsync(CancellationToken ct) => Host.RunAsync(ct);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Host.StopAsync(TimeSpan.FromSeconds(30));
        }
        catch (OperationCanceledException)
        {
            // Stopping took too long; disposing below still releases what it can.
        }
        if (Host is IAsyncDisposable asyncHost) await asyncHost.DisposeAsync();
        else Host.Dispose();
        await _postgres.DisposeAsync();
    }
}
