using DuckDB.NET.Data;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Tests.Features;

/// <summary>One event as Ingest would store it; <see cref="Minute"/> is minutes since an arbitrary epoch.</summary>
public sealed record Event(string User, string Item, double Minute, string? SessionId = null, string? EventType = null,
    double? Value = null);

/// <summary>
/// A real DuckDB warehouse file in a temporary folder, with the <c>events</c> table of the Ingest contract, plus
/// the prepared folder that <see cref="FeatureBuilder"/> writes to.
/// </summary>
public sealed class TestWarehouse : IDisposable
{
    public TestWarehouse()
    {
        Root = Path.Combine(Path.GetTempPath(), "features-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        WarehousePath = Path.Combine(Root, "warehouse.duckdb");
        Prepared = Path.Combine(Root, "prepared");
        ProgressReporter.Quiet = true;
        Execute("""
            CREATE TABLE events(file_id INTEGER NOT NULL, line_no BIGINT NOT NULL, user_id VARCHAR NOT NULL,
                item_id VARCHAR NOT NULL, ts_ms BIGINT NOT NULL, session_id VARCHAR, event_type VARCHAR, value DOUBLE)
            """);
    }

    public string Root { get; }
    public string WarehousePath { get; }
    public string Prepared { get; }

    /// <summary>Sessions of one user, each a list of items, 100 minutes apart, events a minute apart.</summary>
    public static Event[] UserSessions(string user, params string[] sessions) =>
    [
        .. sessions.SelectMany((items, s) => items.Split(' ').Select((item, e) => new Event(user, item, s * 100 + e))),
    ];

    /// <summary>Options with every filter off, so a test switches on only the one it is about.</summary>
    public static FeatureOptions NoFilters() => new() { MinItemSupport = 0, MinSessionLength = 0, MinUserSessions = 0 };

    /// <summary>Appends events in the given order as file 1, lines 1.. (the input order ties are broken by).</summary>
    public TestWarehouse Add(params Event[] events)
    {
        using var connection = Open();
        long line;
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT coalesce(max(line_no), 0) FROM events";
            line = Convert.ToInt64(command.ExecuteScalar());
        }
        using var appender = connection.CreateAppender("events");
        foreach (var e in events)
        {
            var row = appender.CreateRow().AppendValue(1).AppendValue(++line).AppendValue(e.User).AppendValue(e.Item)
                .AppendValue((long)Math.Round(e.Minute * 60_000));
            if (e.SessionId is null) row.AppendNullValue(); else row.AppendValue(e.SessionId);
            if (e.EventType is null) row.AppendNullValue(); else row.AppendValue(e.EventType);
            if (e.Value is null) row.AppendNullValue(); else row.AppendValue(e.Value.Value);
            row.EndRow();
        }
        return this;
    }

    /// <summary>Loads a headerless `user item seconds` TSV, line by line, as file 1.</summary>
    public TestWarehouse AddTsv(string path)
    {
        using var connection = Open();
        using var appender = connection.CreateAppender("events");
        long line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            var p = text.Split('\t');
            appender.CreateRow().AppendValue(1).AppendValue(line).AppendValue(p[0]).AppendValue(p[1])
                .AppendValue(long.Parse(p[2]) * 1000).AppendNullValue().AppendNullValue().AppendNullValue().EndRow();
        }
        return this;
    }

    public Task<PrepareSummary> PrepareAsync(FeatureOptions? options = null) =>
        new FeatureBuilder().BuildAsync(WarehousePath, Prepared, options ?? new FeatureOptions(), CancellationToken.None);

    public string PreparedFile(string name) => Path.Combine(Prepared, name);

    /// <summary>
    /// Every cleaned session as user, split and its items in order (all events, also held-out ones; an item that
    /// never occurs in train shows as ?).
    /// </summary>
    public List<(string User, string Split, string Items)> Sessions()
    {
        var result = new List<(string, string, string)>();
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT u.user_id, s.split, string_agg(coalesce(m.item_id, '?'), ' ' ORDER BY e.seq)
            FROM session_events e
            JOIN sessions s USING (session_idx)
            JOIN user_map u ON u.user_idx = s.user_idx
            LEFT JOIN item_map m ON m.item_idx = e.item_idx
            GROUP BY s.session_idx, u.user_id, s.split
            ORDER BY s.session_idx
            """;
        using var reader = command.ExecuteReader();
        while (reader.Read()) result.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2)));
        return result;
    }

    public long Scalar(string sql)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar());
    }

    public void Execute(string sql)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public DuckDBConnection Open()
    {
        var connection = new DuckDBConnection($"Data Source={WarehousePath}");
        connection.Open();
        return connection;
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }

    /// <summary>The repo's sibling <c>shared/</c> folder, found by walking up from the test assembly.</summary>
    public static string SharedFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", relative);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"shared/{relative} not found above {AppContext.BaseDirectory}");
    }
}
