using System.Text.Json;
using HrnnPipeline.ServiceDefaults.Health;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace HrnnPipeline.ServiceDefaults;

/// <summary>
/// What every host of the pipeline gets (serve, worker, trigger): one-line structured console logs on stderr (stdout
/// stays for results), OpenTelemetry traces, metrics and logs (exported over OTLP only when
/// OTEL_EXPORTER_OTLP_ENDPOINT is set), and health checks that <see cref="MapDefaultEndpoints"/> serves at /healthz.
/// These are the Aspire service defaults: under the AppHost every host gets the OTLP endpoint and its resource's
/// name, so its telemetry (the HrnnPipeline activity source and meter included) lands in the Aspire dashboard.
/// </summary>
public static class Extensions
{
    public const string HealthPath = "/healthz";

    public static IHostApplicationBuilder AddServiceDefaults(this IHostApplicationBuilder builder, string serviceName = "hrnn-pipeline")
    {
        builder.AddPipelineLogging();
        builder.ConfigureOpenTelemetry(serviceName);
        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        return builder;
    }

    /// <summary>Console logging on stderr, one line per entry (or the formatter Logging:Console:FormatterName names).</summary>
    public static IHostApplicationBuilder AddPipelineLogging(this IHostApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        if (builder.Configuration["Logging:Console:FormatterName"] is null)
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.IncludeScopes = false; // trace ids go to OpenTelemetry; the console line stays readable
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "HH:mm:ss ";
            });
        return builder;
    }

    public static IHostApplicationBuilder ConfigureOpenTelemetry(this IHostApplicationBuilder builder, string serviceName)
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });
        builder.Services.AddOpenTelemetry()
            // Under the Aspire AppHost, OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the resource (and the
            // replica) so the dashboard ties the telemetry to it; our own name is only for a host started by hand.
            .ConfigureResource(resource =>
            {
                if (string.IsNullOrWhiteSpace(builder.Configuration["OTEL_SERVICE_NAME"])) resource.AddService(serviceName);
            })
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(PipelineTelemetry.Name))
            .WithTracing(tracing => tracing
                .AddSource(PipelineTelemetry.Name)
                // Health probes every few seconds would drown the traces that matter.
                .AddAspNetCoreInstrumentation(o => o.Filter = context => !context.Request.Path.StartsWithSegments(HealthPath)));
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        return builder;
    }

    /// <summary>/healthz: every registered check, as JSON; 200 when healthy or degraded, 503 when unhealthy.</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks(HealthPath, new HealthCheckOptions { ResponseWriter = WriteHealthAsync });
        return app;
    }

    public static IHealthChecksBuilder AddDatabaseCheck(this IHealthChecksBuilder checks, string name,
        Func<IServiceProvider, System.Data.Common.DbDataSource> dataSource) =>
        checks.Add(new HealthCheckRegistration(name, sp => new DatabaseHealthCheck(dataSource(sp)), HealthStatus.Unhealthy, ["ready"]));

    public static IHealthChecksBuilder AddHeartbeatCheck(this IHealthChecksBuilder checks, string name,
        Func<IServiceProvider, Func<CancellationToken, Task<DateTime?>>> lastHeartbeatUtc, TimeSpan maxAge,
        HealthStatus failureStatus = HealthStatus.Unhealthy) =>
        checks.Add(new HealthCheckRegistration(name, sp => new HeartbeatHealthCheck(lastHeartbeatUtc(sp), maxAge, name), failureStatus, ["ready"]));

    static Task WriteHealthAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        var body = new
        {
            Status = report.Status.ToString(),
            Checks = report.Entries.ToDictionary(e => e.Key, e => new { Status = e.Value.Status.ToString(), e.Value.Description }),
        };
        return context.Response.WriteAsync(JsonSerializer.Serialize(body, Json.Options));
    }
}
