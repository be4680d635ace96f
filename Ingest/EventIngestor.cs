using System.Globalization;
using DuckDB.NET.Data;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Ingest;

/// <summary>
/// Loads raw interaction logs into the warehouse's <c>events</c> table, one DuckDB transaction per file, so a
/// file is either wholly in (events, rejected rows and its ingested_files row) or not at all. Files are
/// identified by content (SHA-256): one already ingested is skipped, so re-running after a crash or with the
/// same inputs adds each event exactly once. Files load in input order and a file that fails stops the run, so
/// (file_id, line_no) always orders events by input position.
/// </summary>
public sealed class EventIngestor
{
    public async Task<IngestReport> IngestAsync(string warehousePath, IngestOptions options, CancellationToken ct = default)
    {
        // Validate everything cheap before touching the warehouse, so a typo fails fast and changes nothing.
        var settings = IngestSettings.From(options);
        var files = InputFiles.Resolve(options.Input);
        var report = await Task.Run(() => Ingest(warehousePath, settings, files, ct), ct).ConfigureAwait(false);
        report.Metadata = await Task.Run(() => Metadata.MetadataIngest.Run(warehousePath, options, ct), ct).ConfigureAwait(false);
        return report;
    }

    static IngestReport Ingest(string warehousePath, IngestSettings settings, IReadOnlyList<string> files, CancellationToken ct)
    {
        var full = Path.GetFullPath(warehousePath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        using var connection = new DuckDBConnection(new DuckDBConnectionStringBuilder { DataSource = full }.ConnectionString);
        try
        {
            connection.Open();
        }
        catch (DuckDBException e) // e.g. another process holds the warehouse's lock
        {
            throw new PipelineException($"{warehousePath}: cannot open the warehouse: {e.Message.Split('\n', 2)[0]}", isPermanent: false, e);
        }
        connection.Execute("SET TimeZone = 'UTC'"); // ISO text without a zone is UTC
        connection.Execute($"SET memory_limit = '{MemoryLimitMb()}MB'");
        WarehouseTables.Create(connection);

        var progress = new ProgressReporter("ingest", files.Count, "files");
        var results = new List<IngestedFile>();
        var timings = new StepTimings();
        try
        {
            foreach (var path in files)
            {
                ct.ThrowIfCancellationRequested();
                var loader = new FileLoader(connection, settings, path, timings, ct);
                var result = loader.Load();
                results.Add(result);
                progress.Report(results.Count, $"{Path.GetFileName(path)}: " +
                    (result.Skipped ? "skipped" : string.Create(CultureInfo.InvariantCulture,
                        $"{result.Accepted:N0} accepted, {result.Rejected:N0} rejected, time unit {result.TimeUnit}")));
            }
        }
        finally
        {
            connection.Execute($"DROP TABLE IF EXISTS {SourceQueries.Rows}");
        }
        progress.Done();
        return new IngestReport(results) { Timings = timings.Steps };
    }

    /// <summary>
    /// DuckDB's memory budget: at most 3 GB (the ingest budget is 4 GB for the whole process), and never more than
    /// DuckDB's own default of 80% of the machine. Past it, the rows table of a huge file spills to disk.
    /// </summary>
    static long MemoryLimitMb() =>
        Math.Min(3L << 10, (long)(0.8 * GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1 << 20)));
}

/// <summary>The options, validated and parsed once per run.</summary>
internal sealed record IngestSettings(
    SourceFormat? Format, ColumnMap? Columns, string? TimeUnit, double RejectThreshold, bool? HasHeader,
    Action<IngestedFile>? BeforeCommit)
{
    public static IngestSettings From(IngestOptions options)
    {
        var unit = options.TimeUnit?.Trim().ToLowerInvariant() switch
        {
            null or "" or "auto" => null,
            "s" or "sec" or "seconds" => "s",
            "ms" or "millis" or "milliseconds" => "ms",
            _ => throw new PipelineException($"Ingest:TimeUnit '{options.TimeUnit}' is not s, ms or auto"),
        };
        if (!(options.RejectThreshold is >= 0 and <= 1))
            throw new PipelineException(
                $"Ingest:RejectThreshold {options.RejectThreshold.ToString(CultureInfo.InvariantCulture)} is not between 0 and 1");
        return new IngestSettings(SourceFormat.FromOption(options.Format), ColumnMap.FromOption(options.Columns),
            unit, options.RejectThreshold, options.HasHeader, options.BeforeCommit);
    }
}
