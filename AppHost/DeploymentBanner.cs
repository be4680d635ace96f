using HrnnPipeline.AppHost.Hosting;
using HrnnPipeline.ServiceDefaults;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace HrnnPipeline.AppHost;

/// <summary>Prints, once the app has started, where the dashboards and the read API listen.</summary>
sealed class DeploymentBanner(DeploymentSettings settings, WorkDirectory work, IServiceProvider services) : IHostedService
{
    public Task StartAsync(CancellationToken ct)
    {
        services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.Register(Print);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    void Print()
    {
        var scheduler = $"http://{settings.SchedulerHost}:{settings.SchedulerPort}";
        var configuration = services.GetRequiredService<IConfiguration>();
        var dashboard = configuration[LocalDashboard.UrlKey]?.Split(';')[0];
        var postgres = string.IsNullOrWhiteSpace(configuration.GetConnectionString(PipelineAppModel.Postgres))
            ? $"private server in {Path.Combine(work.Root, "postgres")}"
            : "ConnectionStrings:postgres";
        const string user = "{user}";
        Console.WriteLine($"""
            HrnnPipeline deployment (Ctrl-C or SIGTERM stops every process it started, PostgreSQL included)
              Aspire dashboard    {(string.IsNullOrEmpty(dashboard) || configuration.GetValue<bool>("DOTNET_DASHBOARD_DISABLED") ? "off" : dashboard)}
              Hangfire dashboard  {scheduler}{PipelineHost.DashboardPath}
              read API            {scheduler}/users/{user}/recommendations   (health: {scheduler}{ServiceDefaults.Extensions.HealthPath})
              work folder         {work.Root}
              PostgreSQL          {postgres}
            """);
    }
}
