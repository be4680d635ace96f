using System.Globalization;
using DuckDB.NET.Data;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Ingest;

/// <summary>
/// Ingests one file: fingerprint, skip if known, stage it with DuckDB's reader, map its columns, then move good
/// rows to <c>events</c> and bad rows to <c>rejected_events</c> in one transaction.
/// </summary>
internal sealed class FileLoader(DuckDBConnection connection, IngestSettings settings, string path, CancellationToken ct)
{
    /// <summary>Above this largest |timestamp| a file's numbers are milliseconds: 1e11 s is the year 5138.</summary>
    const double MillisecondsAbove = 1e11;

    readonly string _display = DisplayPath(path);

    public IngestedFile Load()
    {
        var facts = FileFacts.Read(path, ct);
        var known = connection.Rows("SELECT file_id, format, time_unit FROM ingested_files WHERE sha256 = $sha",
            new Parameters { ["sha"] = facts.Sha256 }, ct);
        if (known.Count > 0)
            return new IngestedFile(path, facts.Sha256, (int)known[0][0]!, (string?)known[0][1] ?? "",
                (string?)known[0][2] ?? "", false, 0, 0, Skipped: true);
        if (facts.Length == 0) throw new PipelineException($"{_display}: empty file");

        var format = settings.Format ?? SourceFormat.Detect(facts);
        StagedSource source;
        try
        {
            source = format.Kind switch
            {
                SourceKind.Delimited => StageDelimited(facts, format),
                SourceKind.JsonLines => StageJsonLines(facts),
                _ => StageParquet(),
            };
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

    StagedSource StageDelimited(FileFacts facts, SourceFormat format)
    {
        var lines = SourceFormat.SampleLines(facts, keepBlank: true);
        var first = SourceFormat.SplitFields(lines.FirstOrDefault() ?? "", format.Delimiter, format.Quoted);
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
        SourceQueries.StageLines(connection, facts, _display, ct);
        return SourceQueries.Delimited(format, map, width, hasHeader ? 1 : 0);
    }

    StagedSource StageJsonLines(FileFacts facts)
    {
        if (SourceFormat.SampleLines(facts).FirstOrDefault()?.TrimStart().StartsWith('[') == true)
            throw new PipelineException($"{_display}: a JSON array; expected JSON lines (one object per line)");
        SourceQueries.StageLines(connection, facts, _display, ct);
        var (keys, firstKeys) = SourceQueries.JsonKeys(connection, ct);
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
        else if (keys.Count > 0) // no object at all: every line is rejected below, with its reason
        {
            ColumnMap.FromNames(keys, _display); // throws naming the missing fields
            foreach (var group in keys.GroupBy(k => ColumnMap.Match(k)).Where(g => g.Key is not null))
                byField[group.Key!.Value] = group.ToList();
        }
        return SourceQueries.JsonLines(byField);
    }

    StagedSource StageParquet()
    {
        var columns = SourceQueries.ParquetColumns(connection, path, ct);
        var map = settings.Columns ?? ColumnMap.FromNames(columns.Select(c => c.Name).ToList(), _display);
        if (map.Width > columns.Count)
            throw new PipelineException($"{_display}: {columns.Count} columns, but the columns {Describe(map)} need {map.Width}");
        return SourceQueries.StageParquet(connection, path, map, columns, ct);
    }

    IngestedFile Commit(FileFacts facts, SourceFormat format, StagedSource source)
    {
        var classified = SourceQueries.Classified(source);
        var parameters = new Parameters(source.Parameters) { ["scale"] = 1.0 };
        var stats = connection.Rows($"SELECT count(*), count(ts_num), max(abs(ts_num)) FROM ({classified})", parameters, ct)[0];
        var rows = (long)stats[0]!;
        if (rows == 0) throw new PipelineException($"{_display}: empty file (no data rows)");
        var numeric = (long)stats[1]! > 0;
        var unit = !numeric ? "iso" : settings.TimeUnit ?? ((double)stats[2]! > MillisecondsAbove ? "ms" : "s");
        var detected = numeric && settings.TimeUnit is null;
        parameters["scale"] = unit == "s" ? 1000.0 : 1.0;

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

        var rejected = connection.Execute($"""
            INSERT INTO rejected_events (file_id, path, line_no, raw_line, reason)
            SELECT $file_id, $path, line_no, raw, reason FROM ({classified}) WHERE reason IS NOT NULL ORDER BY line_no
            """, new Parameters(parameters) { ["file_id"] = fileId, ["path"] = path }, ct);

        if (rejected > settings.RejectThreshold * rows)
        {
            // Refused: no event of the file is loaded, but its rejected rows and the refusal are kept to inspect.
            var reason = RefusalMessage(fileId, rejected, rows);
            connection.Execute("""
                INSERT INTO ingest_failures VALUES ($file_id, $path, $sha, $format, $unit, $valid, $rejected, $reason, now()::TIMESTAMP)
                """, new Parameters(file) { ["valid"] = rows - rejected, ["rejected"] = (long)rejected, ["reason"] = reason }, ct);
            transaction.Commit();
            throw new PipelineException(reason);
        }

        var accepted = connection.Execute($"""
            INSERT INTO events (file_id, line_no, user_id, item_id, ts_ms, session_id, event_type, value)
            SELECT $file_id, line_no, user_id, item_id, ts_ms, session_id, event_type, value
            FROM ({classified}) WHERE reason IS NULL
            """, new Parameters(parameters) { ["file_id"] = fileId }, ct);
        connection.Execute("""
            INSERT INTO ingested_files VALUES ($file_id, $path, $sha, $format, $unit, $accepted, $rejected, now()::TIMESTAMP)
            """, new Parameters(file) { ["accepted"] = (long)accepted, ["rejected"] = (long)rejected }, ct);

        var result = new IngestedFile(path, facts.Sha256, fileId, format.Name, unit, detected, accepted, rejected, Skipped: false);
        settings.BeforeCommit?.Invoke(result);
        ct.ThrowIfCancellationRequested();
        transaction.Commit();
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
