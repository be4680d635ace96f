using Hangfire;
using Hangfire.AspNetCore;
using Hangfire.Common;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using HrnnPipeline.AppHost.Jobs;
using HrnnPipeline.ServiceDefaults;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace HrnnPipeline.AppHost.Hosting;

/// <summary>
/// Hangfire on PostgreSQL for the pipeline: storage, the jobs and their filters, the trigger, pipeline_runs, and
/// optionally a server on some queues. Storage, activator and filter provider are registered per host rather than
/// through Hangfire's process-wide statics, so several hosts in one process (the tests) don't share them.
/// </summary>
public static class SchedulingExtensions
{
    public static IHostApplicationBuilder AddPipelineScheduling(this IHostApplicationBuilder builder, string connectionString,
        SchedulingRole role)
    {
        var options = PipelineOptions.From(builder.Configuration);
        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(_ => new PipelineRunStore(NpgsqlDataSource.Create(connectionString)));

        var storageOptions = new PostgreSqlStorageOptions
        {
            SchemaName = options.HangfireSchema,
            PrepareSchemaIfNecessary = true,
            QueuePollInterval = options.QueuePollInterval,
            InvisibilityTimeout = options.InvisibilityTimeout,
            // A live server keeps extending its jobs' invisibility, so a long training run is never taken twice,
            // while the job of a server that died reappears after InvisibilityTimeout.
            UseSlidingInvisibilityTimeout = true,
        };
        services.AddSingleton<JobStorage>(_ => new PostgreSqlStorage(new NpgsqlConnectionFactory(connectionString, storageOptions), storageOptions));
        services.AddSingleton<JobActivator>(sp => new AspNetCoreJobActivator(sp.GetRequiredService<IServiceScopeFactory>()));
        services.AddSingleton<PermanentFailureFilter>();
        services.AddSingleton<RunFailureFilter>();
        services.AddSingleton<IJobFilterProvider>(sp =>
        {
            var pipelineFilters = new JobFilterCollection();
            pipelineFilters.Add(sp.GetRequiredService<PermanentFailureFilter>(), PermanentFailureFilter.FilterOrder);
            pipelineFilters.Add(sp.GetRequiredService<RunFailureFilter>());
            // Hangfire's own global filters (automatic retry, continuations, ...) and [Queue]/[AutomaticRetry] on jobs.
            return new JobFilterProviderCollection(GlobalJobFilters.Filters, new JobFilterAttributeFilterProvider(), pipelineFilters);
        });
        services.AddHangfire((sp, config) => config
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings()
            .UseStorage(sp.GetRequiredService<JobStorage>()));

        services.AddTransient<IngestJob>();
        services.AddTransient<PrepareJob>();
        services.AddTransient<TrainJob>();
        services.AddTransient<ScoreShardJob>();
        services.AddTransient<PublishJob>();
        services.AddTransient<NightlyRunJob>();
        services.AddSingleton<StageRunner>();
        services.AddSingleton<PipelineTrigger>();

        var serverName = $"{role.Name}:{Environment.MachineName}:{Environment.ProcessId}".ToLowerInvariant();
        if (role.Queues is { Length: > 0 } queues)
        {
            services.AddHangfireServer((sp, server) =>
            {
                server.ServerName = serverName;
                server.Queues = queues;
                server.WorkerCount = options.EffectiveWorkerCount;
                server.HeartbeatInterval = options.HeartbeatInterval;
                server.ServerTimeout = options.ServerTimeout;
                server.ServerCheckInterval = options.ServerCheckInterval;
                server.SchedulePollingInterval = options.SchedulePollingInterval;
            });
        }
        if (role.RegistersNightlyRun) services.AddHostedService<NightlySchedule>();

        // A heartbeat older than three intervals means the server is stuck or gone.
        var maxAge = TimeSpan.FromTicks(Math.Min(options.ServerTimeout.Ticks, options.HeartbeatInterval.Ticks * 3));
        services.AddHealthChecks()
            .AddDatabaseCheck("postgres", sp => sp.GetRequiredService<PipelineRunStore>().DataSource)
            .AddHeartbeatCheck("hangfire-server", sp =>
            {
                var storage = sp.GetRequiredService<JobStorage>();
                // Our own server when this host runs one; otherwise any server (the workers).
                var ours = role.Queues is { Length: > 0 } ? serverName : null;
                return _ => Task.Run(() => storage.GetMonitoringApi().Servers()
                    .Where(s => ours is null || s.Name.StartsWith(ours, StringComparison.OrdinalIgnoreCase))
                    .Select(s => s.Heartbeat)
                    .Max());
            },
            maxAge,
            // A host without a server (dashboard or API only) still serves; no worker anywhere only degrades it.
            role.Queues is { Length: > 0 } ? HealthStatus.Unhealthy : HealthStatus.Degraded);
        return builder;
    }

    /// <summary>Creates pipeline_runs (and, through the storage, Hangfire's schema) before anything uses them.</summary>
    public static async Task EnsurePipelineSchemaAsync(this IServiceProvider services)
    {
        // Resolving it runs the AddHangfire callback (serializer settings) in every kind of host, the client too.
        _ = services.GetRequiredService<IGlobalConfiguration>();
        _ = services.GetRequiredService<JobStorage>();
        await services.GetRequiredService<PipelineRunStore>().EnsureSchemaAsync();
    }
}

/// <summary>What a host does with Hangfire: its server's queues (none: client only) and whether it registers the nightly run.</summary>
public sealed record SchedulingRole(string Name, string[]? Queues, bool RegistersNightlyRun)
{
    public static SchedulingRole Client => new("client", null, false);
}
