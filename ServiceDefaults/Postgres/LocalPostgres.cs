using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace HrnnPipeline.ServiceDefaults.Postgres;

/// <summary>
/// A private PostgreSQL server run from the machine's server binaries, for when no
/// <c>ConnectionStrings:postgres</c> is configured (a laptop, CI, the tests). The cluster lives in a data folder
/// under the work folder and survives restarts; the server listens on a free loopback port only, trusts local
/// connections only, and is stopped when this object is disposed (if this object started it).
/// </summary>
public sealed class LocalPostgres : IAsyncDisposable, IDisposable
{
    /// <summary>The superuser initdb creates; fixed so the connection string does not depend on who ran it.</summary>
    public const string SuperUser = "postgres";

    internal const string InstallHint =
        "install them (`apt-get install postgresql`) or set ConnectionStrings:postgres to an existing server";

    readonly string? _runAs;
    bool _stopped;

    LocalPostgres(string binDirectory, string dataDirectory, string database, int port, string? runAs, bool ownsServer)
    {
        BinDirectory = binDirectory;
        DataDirectory = dataDirectory;
        Database = database;
        Port = port;
        _runAs = runAs;
        OwnsServer = ownsServer;
        ConnectionString = $"Host=127.0.0.1;Port={port};Username={SuperUser};Database={database}";
    }

    public string BinDirectory { get; }
    public string DataDirectory { get; }
    public string Database { get; }
    public int Port { get; }
    /// <summary>Npgsql connection string for <see cref="Database"/> over TCP on 127.0.0.1.</summary>
    public string ConnectionString { get; }
    /// <summary>False when the server was already running on this data folder (another process owns it).</summary>
    public bool OwnsServer { get; }

    /// <summary>Starts (initialising on first use) the cluster in <c>&lt;work&gt;/postgres</c>.</summary>
    public static Task<LocalPostgres> StartAsync(WorkDirectory work, string database = "hrnn", CancellationToken ct = default) =>
        StartAsync(Path.Combine(work.Root, "postgres"), database, binDirectory: null, ct);

    /// <summary>
    /// Initialises <paramref name="dataDirectory"/> if it holds no cluster yet, starts the server on a free
    /// loopback port (or attaches to the server already running there) and creates <paramref name="database"/>.
    /// <paramref name="binDirectory"/> overrides where the server binaries are looked for.
    /// </summary>
    public static async Task<LocalPostgres> StartAsync(string dataDirectory, string database = "hrnn",
        string? binDirectory = null, CancellationToken ct = default)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            throw new PipelineException($"a local PostgreSQL is only provisioned on Linux/macOS: set ConnectionStrings:postgres");
        if (database.Length == 0 || !database.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            throw new PipelineException($"local PostgreSQL database name '{database}' must be letters, digits or '_'");

        var bin = binDirectory is null ? FindBinaries() : HasServerBinaries(binDirectory) ? binDirectory : null;
        if (bin is null)
            throw new PipelineException(
                $"PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in {binDirectory ?? "/usr/lib/postgresql/*/bin or `pg_config --bindir`"}: {InstallHint}");
        dataDirectory = Path.GetFullPath(dataDirectory);
        var runAs = IsRoot() ? UnprivilegedUser() : null;

        if (!File.Exists(Path.Combine(dataDirectory, "PG_VERSION")))
            await InitAsync(bin, dataDirectory, runAs, ct);

        var (running, runningPort) = await RunningServerAsync(bin, dataDirectory, runAs, ct);
        LocalPostgres server;
        if (running)
        {
            server = new LocalPostgres(bin, dataDirectory, database, runningPort, runAs, ownsServer: false);
        }
        else
        {
            int port = await StartServerAsync(bin, dataDirectory, runAs, ct);
            server = new LocalPostgres(bin, dataDirectory, database, port, runAs, ownsServer: true);
        }
        try
        {
            await server.CreateDatabaseAsync(ct);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    /// <summary>The newest <c>/usr/lib/postgresql/N/bin</c> with initdb and pg_ctl, else <c>pg_config --bindir</c>.</summary>
    public static string? FindBinaries()
    {
        const string root = "/usr/lib/postgresql";
        if (Directory.Exists(root))
        {
            var newest = Directory.GetDirectories(root)
                .Select(dir => (Dir: Path.Combine(dir, "bin"), Version: double.TryParse(Path.GetFileName(dir), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : -1))
                .Where(c => HasServerBinaries(c.Dir))
                .OrderByDescending(c => c.Version)
                .Select(c => c.Dir)
                .FirstOrDefault();
            if (newest is not null) return newest;
        }
        try
        {
            var result = RunAsync("pg_config", ["--bindir"], runAs: null, CancellationToken.None).GetAwaiter().GetResult();
            var dir = result.Output.Trim();
            return result.ExitCode == 0 && HasServerBinaries(dir) ? dir : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // pg_config is not on PATH either
        }
    }

    static bool HasServerBinaries(string dir) =>
        File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl")) && File.Exists(Path.Combine(dir, "postgres"));

    internal static async Task InitAsync(string bin, string dataDirectory, string? runAs, CancellationToken ct)
    {
        // initdb wants an empty (or missing) folder and cleans up after itself when it fails, so anything else
        // there is not ours: refuse rather than risk someone's files.
        if (Directory.Exists(dataDirectory) && Directory.EnumerateFileSystemEntries(dataDirectory).Any())
            throw new PipelineException($"{dataDirectory}: exists, is not empty and holds no PostgreSQL cluster (no PG_VERSION); empty it or choose another work folder");
        Directory.CreateDirectory(dataDirectory);
        if (runAs is not null) await HandOverAsync(dataDirectory, runAs, ct);
        var result = await RunAsync(Path.Combine(bin, "initdb"),
        [
            "-D", dataDirectory, "-U", SuperUser, "-E", "UTF8", "--locale=C",
            // trust, but only for the unix socket and the loopback host lines initdb writes; the server listens
            // on 127.0.0.1 only, so nothing off this machine can connect.
            "--auth-local=trust", "--auth-host=trust",
        ], runAs, ct);
        if (result.ExitCode != 0)
            throw new PipelineException($"initdb failed for {dataDirectory}: {LastLine(result.Output)}");
    }

    /// <summary>initdb and postgres refuse root: the data folder goes to the unprivileged user that runs them.</summary>
    static async Task HandOverAsync(string dataDirectory, string user, CancellationToken ct)
    {
        var chown = await RunAsync("chown", [user + ":", dataDirectory], runAs: null, ct);
        if (chown.ExitCode != 0)
            throw new PipelineException($"cannot hand {dataDirectory} to user {user}: {LastLine(chown.Output)}");
        if (!OperatingSystem.IsWindows()) // always true here: LocalPostgres runs on Unix only
            File.SetUnixFileMode(dataDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var probe = await RunAsync("test", ["-w", dataDirectory], user, ct);
        if (probe.ExitCode != 0)
            throw new PipelineException($"{dataDirectory}: user {user} cannot reach it (a parent folder is not searchable by others); choose a work folder outside private home folders");
    }

    internal static async Task<(bool Running, int Port)> RunningServerAsync(string bin, string dataDirectory, string? runAs, CancellationToken ct)
    {
        var status = await RunAsync(Path.Combine(bin, "pg_ctl"), ["status", "-D", dataDirectory], runAs, ct);
        if (status.ExitCode != 0) return (false, 0); // 3: not running (a stale postmaster.pid is pg_ctl start's job)
        // postmaster.pid line 4 is the port the running server listens on.
        var lines = await File.ReadAllLinesAsync(Path.Combine(dataDirectory, "postmaster.pid"), ct);
        if (lines.Length < 4 || !int.TryParse(lines[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out var port))
            throw new PipelineException($"{dataDirectory}/postmaster.pid: a server is running but its port cannot be read");
        return (true, port);
    }

    static async Task<int> StartServerAsync(string bin, string dataDirectory, string? runAs, CancellationToken ct)
    {
        var socketDirectory = SocketDirectory(dataDirectory);
        var logFile = Path.Combine(dataDirectory, "server.log");
        string lastError = "";
        // The free port is only free when we looked: another process may take it first, so try a few.
        for (int attempt = 0; attempt < 3; attempt++)
        {
            int port = FreeLoopbackPort();
            var options = $"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{socketDirectory}'";
            var result = await RunAsync(Path.Combine(bin, "pg_ctl"),
                ["start", "-w", "-t", "60", "-D", dataDirectory, "-l", logFile, "-o", options], runAs, ct);
            if (result.ExitCode == 0) return port;
            lastError = LastLine(ReadTail(logFile)) is { Length: > 0 } logLine ? logLine : LastLine(result.Output);
        }
        throw new PipelineException($"PostgreSQL in {dataDirectory} did not start: {lastError} (see {logFile})");
    }

    /// <summary>
    /// The unix socket goes in the data folder, unless its path would exceed the kernel's 107-byte limit
    /// for socket names; /tmp is the fallback (the TCP port keeps the name unique there).
    /// </summary>
    internal static string SocketDirectory(string dataDirectory) =>
        Encoding.UTF8.GetByteCount(Path.Combine(dataDirectory, ".s.PGSQL.65535.lock")) < 100 && !dataDirectory.Contains('\'')
            ? dataDirectory
            : "/tmp";

    async Task CreateDatabaseAsync(CancellationToken ct)
    {
        string[] connection = ["-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", SuperUser];
        var exists = await RunAsync(Path.Combine(BinDirectory, "psql"),
            [.. connection, "-d", "postgres", "-tAc", $"select 1 from pg_database where datname = '{Database}'"], runAs: null, ct);
        if (exists.ExitCode != 0)
            throw new PipelineException($"cannot connect to the local PostgreSQL on port {Port}: {LastLine(exists.Output)}");
        if (exists.Output.Trim() == "1") return;
        var created = await RunAsync(Path.Combine(BinDirectory, "createdb"), [.. connection, Database], runAs: null, ct);
        if (created.ExitCode != 0 && !created.Output.Contains("already exists", StringComparison.Ordinal))
            throw new PipelineException($"cannot create database {Database} on the local PostgreSQL: {LastLine(created.Output)}");
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopped || !OwnsServer) return;
        _stopped = true;
        await RunAsync(Path.Combine(BinDirectory, "pg_ctl"), ["stop", "-D", DataDirectory, "-m", "fast", "-w"], _runAs, CancellationToken.None);
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    internal static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    internal static bool IsRoot() => Environment.UserName == "root";

    internal static string UnprivilegedUser()
    {
        var passwd = File.Exists("/etc/passwd") ? File.ReadAllLines("/etc/passwd") : [];
        return passwd.Any(line => line.StartsWith(SuperUser + ":", StringComparison.Ordinal)) ? SuperUser : "nobody";
    }

    internal sealed record ProcessResult(int ExitCode, string Output);

    /// <summary>Runs a tool (as <paramref name="runAs"/> via runuser when given) and captures stdout+stderr.</summary>
    internal static async Task<ProcessResult> RunAsync(string file, IReadOnlyList<string> args, string? runAs, CancellationToken ct)
    {
        var start = new ProcessStartInfo
        {
            FileName = runAs is null ? file : "runuser",
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // The caller's folder may be private to root; the unprivileged user must be able to stand somewhere.
            WorkingDirectory = "/",
        };
        if (runAs is not null)
        {
            start.ArgumentList.Add("-u");
            start.ArgumentList.Add(runAs);
            start.ArgumentList.Add("--");
            start.ArgumentList.Add(file);
        }
        foreach (var arg in args) start.ArgumentList.Add(arg);
        start.Environment["LC_ALL"] = "C"; // messages we parse ("already exists") stay in English
        start.Environment.Remove("PGDATA");
        start.Environment.Remove("PGPORT");

        using var process = Process.Start(start) ?? throw new PipelineException($"cannot start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        return new ProcessResult(process.ExitCode, (await stdout) + (await stderr));
    }

    static string ReadTail(string path)
    {
        try
        {
            var lines = File.ReadAllLines(path);
            return string.Join('\n', lines.TakeLast(5));
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }

    internal static string LastLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
}
