using Microsoft.Extensions.Logging;

namespace HrnnPipeline.Scoring.Publishing;

/// <summary>Log messages of publishing, with fixed event ids so dashboards and alerts can match them.</summary>
static partial class PublishLog
{
    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "{Store}: loading version {Version} ({Shards} shards)")]
    public static partial void Loading(ILogger logger, string store, string version, int shards);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "{Store}: version {Version} active: {Users} users, {Rows} rows in {Seconds:F1}s ({UsersPerSecond:F0} users/s)")]
    public static partial void Activated(ILogger logger, string store, string version, long users, long rows, double seconds, double usersPerSecond);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Information, Message = "{Store}: version {Version} retired, its rows deleted (keeping {Keep} versions)")]
    public static partial void Retired(ILogger logger, string store, string version, int keep);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "{Store}: rolled back from {From} to {To}")]
    public static partial void RolledBack(ILogger logger, string store, string? from, string to);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Error, Message = "{Store}: publishing version {Version} failed: {Reason}")]
    public static partial void Failed(ILogger logger, string store, string version, string reason);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Debug, Message = "{Store}: version {Version}: {Step} took {Seconds:F2}s")]
    public static partial void Step(ILogger logger, string store, string version, string step, double seconds);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Information, Message = "exported version {Version} to {Directory} in {Seconds:F1}s")]
    public static partial void Exported(ILogger logger, string version, string directory, double seconds);
}
