using System.Globalization;
using DuckDB.NET.Data;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Ingest;

/// <summary>
/// Ingests one file: fingerprint it, skip it if known, map its columns, read and classify it in one pass of
/// DuckDB's reader, then write good rows to <c>events</c> and bad rows to <c>rejected_events</c> in one transaction.
/// </summary>
internal sealed class FileLoader(DuckDBConnection connection, IngestSettings settings, string path, StepTimings timings, CancellationToken ct)
{
    /// <summary>Above this largest |timestamp| a file's numbers are milliseconds: 1e11 s is the year 5138.</summary>
    const double MillisecondsAbove = 1e11;

    /// <summary>The string compressions the events insert skips (see <see cref="Commit"/>).</summary>
    const string CheaperCompression = "dictionary,dict_fsst";

    readonly string _display = DisplayPath(path);

    public IngestedFile Load()
    {
        var facts = timings.Time("hash file", () => FileFacts.Read(path, ct));
        var known = connection.Rows("SELECT file_id, format, time_unit FROM ingested_files WHERE sha256 = $sha",
            new Parameters { ["sha"] = facts.Sha256 }, ct);
        if (known.Count > 0)
            return new IngestedFile(path, facts.Sha256, (int)known[0][0]!, (string?)known[0][1] ?? "",
                (string?)known[0][2] ?? "", false, 0, 0, Skipped: true);
        if (facts.Length == 0) throw new PipelineException($"{_display}: empty file");

        var format = settings.Format ?? SourceFormat.Detect(facts);
        SourceSelect source;
        try
        {
            source = format.Kind switch
            {
                SourceKind.Delimited => Delimited(facts, format),
                SourceKind.JsonLines => JsonLines(facts),
                _ => Parquet(),
            };
            timings.Time("read and classify", () => Classify(facts, format, source));
        }
        catch (DuckDBException e)
        {
            throw new PipelineException($"{_display}: cannot read as {format.Name}: {FirstLine(e.Message)}", inner: e);
        }
        try
        {
            return Commit(facts, format, source);
        }
        catch (DuckDBException e)
        {
            throw new PipelineException($"{_display}: {FirstLine(e.Message)}", isPermanent: false, e);
        }
    }

    SourceSelect Delimited(FileFacts facts, SourceFormat format)
    {
        var lines = SourceFormat.SampleLines(facts, keepBlank: true);
        var firstLine = lines.FirstOrDefault() ?? "";
        var first = SourceFormat.SplitFields(firstLine, format.Delimiter, format.Quoted);
        var hasHeader = settings.HasHeader ?? ColumnMap.LooksLikeHeader(first, settings.Columns);
        var map = settings.Columns ?? (hasHeader ? ColumnMap.FromNames(first, $"{_display}:1") : ColumnMap.Default);
        // Every row must have as many fields as the header, or (no header) as most rows of the sample.
        var width = hasHeader
            ? first.Count
            : lines.Where(l => l.Trim().Length > 0)
                .Select(l => SourceFormat.SplitFields(l, format.Delimiter, format.Quoted).Count)
                .GroupBy(n => n).OrderByDescending(g => g.Count()).ThenByDescending(g => g.Key)
                .Select(g => g.Key).DefaultIfEmpty(map.Width).First();
        if (map.Width > width)
            throw new PipelineException($"{_display}: rows have {width} field{(width == 1 ? "" : "s")} " +
                $"({format.Name}), but the columns {Describe(map)} need {map.Width}");
        return SourceQueries.Delimited(facts, _display, format, map, width, hasHeader ? firstLine : null);
    }

    SourceSelect JsonLines(FileFacts facts)
    {
        if (SourceFormat.SampleLines(facts).FirstOrDefault()?.TrimStart().StartsWith('[') == true)
            throw new PipelineException($"{_display}: a JSON array; expected JSON lines (one object per line)");
        var (keys, firstKeys) = SourceQueries.JsonKeys(connection, SourceQueries.LineParameters(facts, _display), ct);
        var byField = new Dictionary<EventField, IReadOnlyList<string>>();
        if (settings.Columns is { } columns)
        {
            foreach (var (field, position) in columns.Positions)
            {
                if (position >= firstKeys.Count)
                    throw new PipelineException($"{_display}: the first object has {firstKeys.Count} keys, " +
                        $"but the columns {Describe(columns)} need {columns.Width}");
                byField[field] = [firstKeys[position]];
            }
        }
        else if (keys.Count > 0) // no object at all: every line is rejected, with its reason
        {
            ColumnMap.FromNames(keys, _display); // throws naming the missing fields
            foreach (var group in keys.GroupBy(k => ColumnMap.Match(k)).Where(g => g.Key is not null))
                byField[group.Key!.Value] = group.ToList();
        }
        return SourceQueries.JsonLines(facts, _display, byField);
    }

    SourceSelect Parquet()
    {
        var columns = SourceQueries.ParquetColumns(connection, path, ct);
        var map = settings.Columns ?? ColumnMap.FromNames(columns.Select(c => c.Name).ToList(), _display);
        if (map.Width > columns.Count)
            throw new PipelineException($"{_display}: {columns.Count} columns, but the columns {Describe(map)} need {map.Width}");
        return SourceQueries.Parquet(path, map, columns);
    }

    /// <summary>Reads and classifies the file into the rows table, one row per line (or Parquet row).</summary>
    void Classify(FileFacts facts, SourceFormat format, SourceSelect source)
    {
        // Rows must land in file order: their rowid is their line number.
        connection.Execute("SET preserve_insertion_order = true", ct: ct);
        connection.Execute(SourceQueries.ClassifyInto(source), source.Parameters, ct);
        var rows = (long)connection.Rows($"SELECT count(*) FROM {SourceQueries.Rows}", ct: ct)[0][0]!;
        if (format.Kind != SourceKind.Parquet && rows != facts.PhysicalLines)
            throw new PipelineException(
                $"{_display}: read {rows:N0} lines but the file has {facts.PhysicalLines:N0}; line numbers would be wrong, so nothing was loaded");
    }

    IngestedFile Commit(FileFacts facts, SourceFormat format, SourceSelect source)
    {
        var stats = timings.Time("file stats", () => connection.Rows($"""
            SELECT count(*) FILTER (is_data),
                   count(*) FILTER (is_data AND reason IS NULL AND ts_is_number),
                   max(abs(ts)) FILTER (is_data AND reason IS NULL AND ts_is_number)
            FROM {SourceQueries.Rows}
            """, ct: ct)[0]);
        var dataRows = (long)stats[0]!;
        if (dataRows == 0) throw new PipelineException($"{_display}: empty file (no data rows)");
        var numeric = (long)stats[1]! > 0;
        var unit = !numeric ? "iso" : settings.TimeUnit ?? ((double)stats[2]! > MillisecondsAbove ? "ms" : "s");
        var detected = numeric && settings.TimeUnit is null;

        using var transaction = connection.BeginTransaction();
        var fileId = (int)connection.Rows("""
            SELECT coalesce(max(file_id), 0) + 1
            FROM (SELECT file_id FROM ingested_files UNION ALL SELECT file_id FROM ingest_failures)
            """, ct: ct)[0][0]!;
        var file = new Parameters { ["file_id"] = fileId, ["path"] = path, ["sha"] = facts.Sha256, ["format"] = format.Name, ["unit"] = unit };

        // An earlier refusal of the same content is superseded by this attempt, whatever its outcome.
        connection.Execute("""
            DELETE FROM rejected_events WHERE file_id IN (SELECT file_id FROM ingest_failures WHERE sha256 = $sha);
            DELETE FROM ingest_failures WHERE sha256 = $sha;
            """, new Parameters { ["sha"] = facts.Sha256 }, ct);

        var rejected = timings.Time("write rejected", () => (long)connection.Execute($"""
            INSERT INTO rejected_events (file_id, path, line_no, raw_line, reason)
            SELECT $file_id, $path, rowid + 1, raw, reason FROM {SourceQueries.Rows} WHERE reason IS NOT NULL ORDER BY rowid
            """, new Parameters { ["file_id"] = fileId, ["path"] = path }, ct));

        if (rejected > settings.RejectThreshold * dataRows)
        {
            // Refused: no event of the file is loaded, but its rejected rows and the refusal are kept to inspect.
            var reason = RefusalMessage(fileId, rejected, dataRows);
            connection.Execute("""
                INSERT INTO ingest_failures VALUES ($file_id, $path, $sha, $format, $unit, $valid, $rejected, $reason, now()::TIMESTAMP)
                """, new Parameters(file) { ["valid"] = dataRows - rejected, ["rejected"] = rejected, ["reason"] = reason }, ct);
            transaction.Commit();
            throw new PipelineException(reason);
        }

        // Insertion order is not needed here ((file_id, line_no) carries it), and without it DuckDB writes
        // compressed row groups in parallel instead of recompressing them all at the next checkpoint.
        connection.Execute("SET preserve_insertion_order = false", ct: ct);
        // The ids are written FSST-compressed only: trying dictionary compression as well cost 0.55 µs an event, a
        // fifth of the whole prepare on a 36.8M-event log, for a warehouse about 1.5x smaller. Reset after the commit,
        // which may write the rows (small files go through the WAL and are compressed at the checkpoint).
        connection.Execute($"SET disabled_compression_methods = '{CheaperCompression}'", ct: ct);
        var accepted = timings.Time("write events", () => (long)connection.Execute(SourceQueries.InsertEvents(source.Fields),
            new Parameters { ["file_id"] = fileId, ["scale"] = unit == "s" ? 1000.0 : 1.0 }, ct));
        connection.Execute("SET preserve_insertion_order = true", ct: ct);
        connection.Execute("""
            INSERT INTO ingested_files VALUES ($file_id, $path, $sha, $format, $unit, $accepted, $rejected, now()::TIMESTAMP)
            """, new Parameters(file) { ["accepted"] = accepted, ["rejected"] = rejected }, ct);

        var result = new IngestedFile(path, facts.Sha256, fileId, format.Name, unit, detected, accepted, rejected, Skipped: false);
        settings.BeforeCommit?.Invoke(result);
        ct.ThrowIfCancellationRequested();
        timings.Time("commit", transaction.Commit);
        connection.Execute("RESET disabled_compression_methods", ct: ct);
        return result;
    }

    string RefusalMessage(int fileId, long rejected, long rows)
    {
        var first = connection.Rows("""
            SELECT line_no, reason FROM rejected_events WHERE file_id = $file_id ORDER BY line_no LIMIT 3
            """, new Parameters { ["file_id"] = fileId }, ct);
        var lines = string.Join("; ", first.Select(r => $"line {r[0]}: {r[1]}"));
        return string.Create(CultureInfo.InvariantCulture,
            $"{_display}: {rejected:N0} of {rows:N0} rows rejected ({100.0 * rejected / rows:0.##}% > " +
            $"{100.0 * settings.RejectThreshold:0.##}% allowed), nothing loaded " +
            $"(rejected_events file_id {fileId}): {lines}");
    }

    static string Describe(ColumnMap map)
    {
        var names = Enumerable.Repeat("_", map.Width).ToArray();
        foreach (var (field, position) in map.Positions) names[position] = ColumnMap.Describe(field);
        return string.Join(",", names);
    }

    static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();

    /// <summary>The path as the user would write it: relative to the working folder when inside it.</summary>
    static string DisplayPath(string path)
    {
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, path);
        return relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? path : relative;
    }
}
