using DuckDB.NET.Data;
using HrnnPipeline.Ingest;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Tests.Ingest;

/// <summary>A temp folder with a real DuckDB warehouse file; input files are written next to it.</summary>
public sealed class Warehouse : IDisposable
{
    public Warehouse()
    {
        ProgressReporter.Quiet = true;
        Folder = Directory.CreateTempSubdirectory("ingest-tests-").FullName;
        Path = System.IO.Path.Combine(Folder, "warehouse.duckdb");
    }

    public string Folder { get; }
    public string Path { get; }

    public string Write(string name, string text)
    {
        var file = System.IO.Path.Combine(Folder, name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(file)!);
        File.WriteAllText(file, text);
        return file;
    }

    public Task<IngestReport> Ingest(params string[] inputs) => Ingest(new IngestOptions { Input = inputs });

    public Task<IngestReport> Ingest(IngestOptions options, CancellationToken ct = default) =>
        new EventIngestor().IngestAsync(Path, options, ct);

    /// <summary>Rows of a query against the warehouse (or a scratch database when <paramref name="scratch"/>).</summary>
    public List<object?[]> Query(string sql, bool scratch = false)
    {
        using var connection = new DuckDBConnection($"Data Source={(scratch ? ":memory:" : Path)}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var rows = new List<object?[]>();
        while (reader.Read())
        {
            var row = new object?[reader.FieldCount];
            for (int i = 0; i < row.Length; i++) row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            rows.Add(row);
        }
        return rows;
    }

    /// <summary>Events as "file:line user item ts_ms" strings in input order, for exact comparisons.</summary>
    public List<string> Events() =>
        Query("SELECT file_id, line_no, user_id, item_id, ts_ms FROM events ORDER BY file_id, line_no")
            .Select(r => $"{r[0]}:{r[1]} {r[2]} {r[3]} {r[4]}").ToList();

    /// <summary>Rejected rows as "line: reason" strings in line order.</summary>
    public List<string> Rejected() =>
        Query("SELECT line_no, reason FROM rejected_events ORDER BY file_id, line_no")
            .Select(r => $"{r[0]}: {r[1]}").ToList();

    public long Count(string table) => (long)Query($"SELECT count(*) FROM {table}")[0][0]!;

    public void Dispose()
    {
        try { Directory.Delete(Folder, recursive: true); }
        catch (IOException) { } // a leftover temp folder is harmless
    }

    /// <summary>The repository's shared/ folder (CI clones the repo beside it).</summary>
    public static string SharedFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, "shared", relative);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"shared/{relative} not found above {AppContext.BaseDirectory}");
    }
}
