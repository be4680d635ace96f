using Microsoft.Extensions.Logging;

namespace HrnnPipeline.AppHost.Hosting;

/// <summary>Log messages of the hosts, with fixed event ids (2100-2199).</summary>
static partial class HostingLog
{
    [LoggerMessage(EventId = 2100, Level = LogLevel.Information, Message = "PostgreSQL: {Source}")]
    public static partial void UsingPostgres(ILogger logger, string source);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "serve: work folder {Work}; Hangfire server {Server} (queues {Queues}), dashboard {Dashboard}, read API {Api}")]
    public static partial void Serving(ILogger logger, string work, bool server, string queues, bool dashboard, bool api);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Information, Message = "serve: the read API serves {Source}")]
    public static partial void ReadingFrom(ILogger logger, string source);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Information, Message = "worker: work folder {Work}; queues {Queues}, {Workers} workers")]
    public static partial void Working(ILogger logger, string work, string queues, int workers);
}
