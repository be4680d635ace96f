using System.Globalization;

namespace HrnnPipeline.ServiceDefaults.Postgres;

/// <summary>
/// The private PostgreSQL cluster in a work folder, for a process that runs the server itself rather than through
/// <c>pg_ctl start</c> (the Aspire AppHost runs it as an executable resource). It initialises the data folder the
/// same way <see cref="LocalPostgres"/> does, so either can open what the other made, and stops the server with
/// <c>pg_ctl stop -m fast</c>, which disconnects clients and checkpoints (no crash recovery at the next start).
/// </summary>
public sealed class LocalPostgresCluster
{
    LocalPostgresCluster(string binDirectory, string dataDirectory, string? runAs)
    {
        BinDirectory = binDirectory;
        DataDirectory = dataDirectory;
        RunAs = runAs;
    }

    public string BinDirectory { get; }
    public string DataDirectory { get; }
    /// <summary>The unprivileged user the server runs as when this process is root (initdb and postgres refuse root).</summary>
    public string? RunAs { get; }

    /// <summary>
    /// Initialises <c>&lt;work&gt;/postgres</c> if it holds no cluster yet. Refuses a cluster whose server is already
    /// running: its owner (a `serve` or `worker` of the command line) must stop it first.
    /// </summary>
    public static async Task<LocalPostgresCluster> PrepareAsync(WorkDirectory work, CancellationToken ct = default)
    {
        var bin = LocalPostgres.FindBinaries()
            ?? throw new PipelineException($"PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in /usr/lib/postgresql/*/bin or `pg_config --bindir`: {LocalPostgres.InstallHint}");
        var data = Path.Combine(work.Root, "postgres");
        var runAs = LocalPostgres.IsRoot() ? LocalPostgres.UnprivilegedUser() : null;
        if (!File.Exists(Path.Combine(data, "PG_VERSION"))) await LocalPostgres.InitAsync(bin, data, runAs, ct);
        var (running, port) = await LocalPostgres.RunningServerAsync(bin, data, runAs, ct);
        if (running)
            throw new PipelineException($"a PostgreSQL server already runs on {data} (port {port}), started by another process of this work folder (`serve`, `worker`?): stop it, or set ConnectionStrings:postgres to use it");
        return new LocalPostgresCluster(bin, data, runAs);
    }

    /// <summary>A free loopback port for the server (free when asked; the server fails to start if it is taken since).</summary>
    public static int FreePort() => LocalPostgres.FreeLoopbackPort();

    /// <summary>The program and arguments that run the server in the foreground on 127.0.0.1:<paramref name="port"/>.</summary>
    public (string File, string[] Args) ServerCommand(int port)
    {
        var postgres = Path.Combine(BinDirectory, "postgres");
        string[] server =
        [
            "-D", DataDirectory, "-p", port.ToString(CultureInfo.InvariantCulture),
            "-c", "listen_addresses=127.0.0.1", "-c", $"unix_socket_directories={LocalPostgres.SocketDirectory(DataDirectory)}",
        ];
        if (RunAs is null) return (postgres, server);
        // The sbin one: /usr/bin/runuser is not on every system, and an orchestrator's PATH may lack sbin.
        var runuser = File.Exists("/usr/sbin/runuser") ? "/usr/sbin/runuser" : "runuser";
        return (runuser, ["-u", RunAs, "--", postgres, .. server]);
    }

    /// <summary>The connection string of <paramref name="database"/> on the server at <paramref name="port"/>.</summary>
    public static string ConnectionString(int port, string database) =>
        $"Host=127.0.0.1;Port={port.ToString(CultureInfo.InvariantCulture)};Username={LocalPostgres.SuperUser};Database={database}";

    /// <summary>Stops the server if it runs (fast: clients are disconnected, data is checkpointed); waits for it.</summary>
    public async Task StopAsync()
    {
        var status = await LocalPostgres.RunAsync(Path.Combine(BinDirectory, "pg_ctl"), ["status", "-D", DataDirectory], RunAs, CancellationToken.None);
        if (status.ExitCode != 0) return; // not running
        await LocalPostgres.RunAsync(Path.Combine(BinDirectory, "pg_ctl"), ["stop", "-D", DataDirectory, "-m", "fast", "-w", "-t", "60"], RunAs, CancellationToken.None);
    }

    public void Stop() => StopAsync().GetAwaiter().GetResult();
}
