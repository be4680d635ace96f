using System.Collections.Concurrent;
using System.Diagnostics;
using HrnnPipeline.AppHost.Jobs;
using HrnnPipeline.Ingest.Synthetic;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace HrnnPipeline.Tests.AppHost;

/// <summary>
/// A test's deployment: its own database and work folder, a tiny generated input (60 users x 150 items), and the
/// settings every host of the test runs with (short polling and timeouts, a small model that trains in seconds).
/// </summary>
public sealed class TestPipeline : IDisposable
{
    public TestPipeline(string connectionString, string name)
    {
        ConnectionString = connectionString;
        Root = Path.Combine(Path.GetTempPath(), $"hrnn-apphost-{name}-{Guid.NewGuid().ToString("N")[..8]}");
        Work = Path.Combine(Root, "work");
        Input = Path.Combine(Root, "input", "events.csv");
        new SyntheticLogGenerator(new SyntheticLogOptions { Users = 60, Items = 150, Seed = 7 }).Write(Input);
    }

    public string ConnectionString { get; }
    public string Root { get; }
    public string Work { get; }
    public string Input { get; }

    /// <summary>Settings as configuration keys; <paramref name="extra"/> overrides or adds.</summary>
    public Dictionary<string, string?> Settings(params (string Key, string? Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:postgres"] = ConnectionString,
            ["Pipeline:Work"] = Work,
            ["Pipeline:QueuePollInterval"] = "00:00:00.2",
            ["Pipeline:SchedulePollingInterval"] = "00:00:01",
            ["Pipeline:HeartbeatInterval"] = "00:00:01",
            ["Pipeline:ServerTimeout"] = "00:00:10",
            ["Pipeline:ServerCheckInterval"] = "00:00:02",
            ["Pipeline:InvisibilityTimeout"] = "00:00:05",
            ["Pipeline:WorkerCount"] = "2",
            ["Pipeline:ScoreShards"] = "2",
            ["Training:Epochs"] = "2",
            ["Training:SessionHidden"] = "16",
            ["Training:UserHidden"] = "16",
            ["Training:Patience"] = "0",
            ["Features:MinItemSupport"] = "3",
            ["Features:MinUserSessions"] = "3",
            ["urls"] = "http://127.0.0.1:0",
        };
        foreach (var (key, value) in extra) settings[key] = value;
        return settings;
    }

    /// <summary>The same settings as environment variables for a child AppHost process.</summary>
    public Dictionary<string, string?> Environment(params (string Key, string? Value)[] extra)
    {
        var environment = Settings(extra).Where(kv => kv.Key != "urls").ToDictionary(kv => kv.Key.Replace(":", "__"), kv => kv.Value);
        environment["DOTNET_TieredCompilation"] = "0"; // as the test process (see the csproj)
        return environment;
    }

    public static async Task<PipelineRun> WaitForRunAsync(IServiceProvider services, string runId, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await services.GetRequiredService<PipelineTrigger>().WaitAsync(runId, TimeSpan.FromMilliseconds(200), null, cts.Token);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            var run = await services.GetRequiredService<PipelineRunStore>().GetRunAsync(runId, CancellationToken.None);
            throw new TimeoutException($"run {runId} did not end in {timeout}: " +
                string.Join(", ", run?.Stages.Select(s => $"{s.Stage}={s.Status}") ?? []));
        }
    }

    /// <summary>Reads one value from the test's database.</summary>
    public async Task<T> ScalarAsync<T>(string sql, params object[] args)
    {
        await using var dataSource = NpgsqlDataSource.Create(ConnectionString);
        await using var command = dataSource.CreateCommand(sql);
        foreach (var arg in args) command.Parameters.Add(new() { Value = arg });
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>
/// The real AppHost program as a child process (<c>dotnet HrnnPipeline.AppHost.dll ...</c>), its output kept for
/// the assertions and for the failure message.
/// </summary>
public sealed class AppHostProcess : IDisposable
{
    readonly Process _process;
    readonly ConcurrentQueue<string> _stdout = new();
    readonly ConcurrentQueue<string> _stderr = new();

    AppHostProcess(Process process)
    {
        _process = process;
    }

    public static string ProgramPath => Path.Combine(AppContext.BaseDirectory, "HrnnPipeline.AppHost.dll");

    public static AppHostProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string?> environment,
        string? workingDirectory = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? AppContext.BaseDirectory,
        };
        start.ArgumentList.Add(ProgramPath);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        foreach (var (key, value) in environment) start.Environment[key] = value;
        var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start dotnet");
        var child = new AppHostProcess(process);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) child._stdout.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) child._stderr.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    public string Stdout => string.Join('\n', _stdout);
    public string Stderr => string.Join('\n', _stderr);
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw new TimeoutException($"AppHost did not exit in {timeout}.\nstdout:\n{Stdout}\nstderr:\n{Tail(Stderr)}");
        }
        return _process.ExitCode;
    }

    /// <summary>Kills it as a crash would: no shutdown, no cancellation, nothing flushed.</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public static string Tail(string text, int lines = 40) => string.Join('\n', text.Split('\n').TakeLast(lines));

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
