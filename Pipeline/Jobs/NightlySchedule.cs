using Hangfire;
using HrnnPipeline.AppHost.Hosting;
using HrnnPipeline.ServiceDefaults;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HrnnPipeline.AppHost.Jobs;

/// <summary>
/// Registers the nightly run at start-up (Pipeline:Cron in Pipeline:TimeZone, default 02:00 UTC) with an explicit
/// id and queue; the dashboard's Recurring jobs page then offers "Trigger now". An empty cron removes it.
/// </summary>
public sealed class NightlySchedule(IRecurringJobManager recurring, PipelineOptions options, ILogger<NightlySchedule> logger) : IHostedService
{
    public const string RecurringJobId = "hrnn-nightly";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(options.Cron))
        {
            recurring.RemoveIfExists(RecurringJobId);
            JobLog.NightlyRemoved(logger, RecurringJobId);
            return Task.CompletedTask;
        }
        var timeZone = ResolveTimeZone(options.TimeZone);
        try
        {
            recurring.AddOrUpdate<NightlyRunJob>(RecurringJobId, JobQueues.Default, job => job.RunAsync(CancellationToken.None),
                options.Cron, new RecurringJobOptions { TimeZone = timeZone });
        }
        catch (ArgumentException e)
        {
            throw new PipelineException($"{PipelineOptions.SectionName}:Cron '{options.Cron}' is not a valid cron expression: {e.Message.Split('\n')[0]}");
        }
        JobLog.NightlyRegistered(logger, RecurringJobId, options.Cron, timeZone.Id, JobQueues.Default);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    static TimeZoneInfo ResolveTimeZone(string id)
    {
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(id);
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw new PipelineException($"{PipelineOptions.SectionName}:TimeZone '{id}': unknown time zone (use an IANA id such as UTC or Europe/Berlin)");
        }
    }
}
