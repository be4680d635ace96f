using HrnnPipeline.ServiceDefaults;
using Microsoft.Extensions.Configuration;

namespace HrnnPipeline.AppHost.Hosting;

/// <summary>What training does when no worker listens on the training queue.</summary>
public enum TrainWithoutGpu
{
    /// <summary>Enqueue on the training queue anyway; it runs when a GPU worker starts.</summary>
    Wait,
    /// <summary>Enqueue on <c>default</c> with Training:Device=cpu.</summary>
    Cpu,
}

/// <summary>The scheduled pipeline's settings; binds the "Pipeline" section.</summary>
public sealed class PipelineOptions
{
    public const string SectionName = "Pipeline";

    /// <summary>Work folder shared by every host of the deployment (set by --work).</summary>
    public string Work { get; set; } = "./.hrnn";
    /// <summary>Nightly run, a cron expression in <see cref="TimeZone"/>; empty removes the recurring job.</summary>
    public string Cron { get; set; } = "0 2 * * *";
    public string TimeZone { get; set; } = "UTC";
    /// <summary>Queue of the training job: <c>gpu</c> so only a GPU worker takes it.</summary>
    public string TrainQueue { get; set; } = JobQueues.Gpu;
    public TrainWithoutGpu TrainWithoutGpu { get; set; } = TrainWithoutGpu.Cpu;
    /// <summary>Score jobs per run (each a shard of the users); publish waits for all of them.</summary>
    public int ScoreShards { get; set; } = 2;
    /// <summary>Workers per Hangfire server (0 = one per core, at least 2 so score shards overlap).</summary>
    public int WorkerCount { get; set; }
    /// <summary>How long a job taken by a server that died stays invisible before another server takes it.</summary>
    public TimeSpan InvisibilityTimeout { get; set; } = TimeSpan.FromMinutes(5);
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>A server whose heartbeat is older than this is considered dead and removed.</summary>
    public TimeSpan ServerTimeout { get; set; } = TimeSpan.FromMinutes(5);
    public TimeSpan ServerCheckInterval { get; set; } = TimeSpan.FromMinutes(1);
    /// <summary>How often idle workers look for new jobs.</summary>
    public TimeSpan QueuePollInterval { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>How often delayed jobs (retries) and recurring jobs are checked.</summary>
    public TimeSpan SchedulePollingInterval { get; set; } = TimeSpan.FromSeconds(15);
    /// <summary>Hangfire's tables live in this PostgreSQL schema.</summary>
    public string HangfireSchema { get; set; } = "hangfire";

    public static PipelineOptions From(IConfiguration configuration)
    {
        var options = new PipelineOptions();
        try
        {
            configuration.GetSection(SectionName).Bind(options);
        }
        catch (InvalidOperationException e)
        {
            throw new PipelineException($"{SectionName} settings: {e.Message}");
        }
        if (options.ScoreShards < 1 || options.ScoreShards > 64)
            throw new PipelineException($"{SectionName}:ScoreShards must be between 1 and 64, got {options.ScoreShards}");
        JobQueues.Validate(options.TrainQueue, $"{SectionName}:TrainQueue");
        return options;
    }

    public int EffectiveWorkerCount => WorkerCount > 0 ? WorkerCount : Math.Max(2, Environment.ProcessorCount);
}

/// <summary>The "Serve" section: which parts the serve host runs.</summary>
public sealed class ServeOptions
{
    public const string SectionName = "Serve";
    public bool Server { get; set; } = true;
    public bool Dashboard { get; set; } = true;
    public bool Api { get; set; } = true;
    /// <summary>Queues the serve host's own Hangfire server takes, in priority order.</summary>
    public string[] Queues { get; set; } = [JobQueues.Default];
}

/// <summary>The "Dashboard" section: who may open /hangfire from another machine.</summary>
public sealed class DashboardSecurityOptions
{
    public const string SectionName = "Dashboard";
    /// <summary>Basic credentials for remote users; with none configured, remote requests are always refused.</summary>
    public string? Username { get; set; }
    public string? Password { get; set; }
    /// <summary>Hide the buttons that change jobs (trigger, requeue, delete).</summary>
    public bool ReadOnly { get; set; }
}

/// <summary>Queue names: Hangfire wants lowercase letters, digits, '_' and '-'.</summary>
public static class JobQueues
{
    public const string Default = "default";
    public const string Gpu = "gpu";

    public static string Validate(string queue, string where)
    {
        if (queue.Length == 0 || !queue.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '-'))
            throw new PipelineException($"{where}: queue '{queue}' must be lowercase letters, digits, '_' or '-'");
        return queue;
    }

    public static string[] Parse(string list, string where) =>
        list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(q => Validate(q, where)).Distinct().ToArray() is { Length: > 0 } queues
            ? queues
            : throw new PipelineException($"{where}: give at least one queue, e.g. gpu or gpu,default");
}
