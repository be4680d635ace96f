using System.Globalization;
using DuckDB.NET.Data;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Ingest.Metadata;

/// <summary>What one metadata file gave: the fields (inferred or given) and the rows kept and rejected.</summary>
public sealed record MetadataReport(MetadataKind Kind, string Path, string Format, IReadOnlyList<MetadataField> Fields, bool Inferred,
    long Accepted, long Rejected, bool Skipped)
{
    public override string ToString() => Skipped
        ? $"{System.IO.Path.GetFileName(Path)}: {Kind.ToString().ToLowerInvariant()} metadata skipped (same content as loaded)"
        : string.Create(CultureInfo.InvariantCulture,
            $"{System.IO.Path.GetFileName(Path)}: {Accepted:N0} {Kind.ToString().ToLowerInvariant()} with metadata, {Rejected:N0} rejected; " +
            $"fields {string.Join(", ", Fields.Select(f => $"{f.Name}:{f.TypeName}"))}{(Inferred ? " (inferred)" : "")}");
}

/// <summary>
/// Loads an item or user metadata file into the warehouse: <c>item_metadata</c> / <c>user_metadata</c> (one row per
/// id, field and value: multi-values are split on '|'; numeric fields also keep the number), the fields and their
/// types in <c>metadata_fields</c>, bad rows in <c>rejected_metadata</c> with file, line, raw text and reason. A file
/// is the kind's whole catalogue: it replaces the previous one in one transaction, and only when its rejected share is
/// within the threshold, so a bad file changes nothing but the record of its rejections. Ids need not occur in the
/// interactions: metadata of items nobody has clicked yet (cold items) is kept.
/// </summary>
public static class MetadataIngestor
{
    /// <summary>A column is inferred numeric when at least this share of its values are numbers (the others are then
    /// rejected as bad numbers, as with a given type); otherwise it is categorical.</summary>
    const double NumericShare = 0.95;

    public static MetadataReport Ingest(string warehousePath, MetadataKind kind, string path, MetadataColumns? columns,
        string? format, double rejectThreshold, CancellationToken ct = default)
    {
        var full = Path.GetFullPath(path);
        var display = path;
        if (!File.Exists(full)) throw new PipelineException($"{display}: no such {Noun(kind)} metadata file");
        var sha = FileFacts.Read(full, ct).Sha256;

        using var connection = new DuckDBConnection($"Data Source={Path.GetFullPath(warehousePath)}");
        connection.Open();
        MetadataTables.Create(connection);
        var loaded = connection.Rows("SELECT sha256 FROM metadata_files WHERE kind = $kind ORDER BY loaded_at DESC LIMIT 1",
            new Parameters { ["kind"] = Noun(kind) }, ct);
        if (loaded.Count == 1 && (string?)loaded[0][0] == sha)
            return new MetadataReport(kind, full, "", MetadataTables.Fields(connection, kind), false, 0, 0, Skipped: true);

        var (names, rows, formatName) = MetadataFileReader.Read(full, display, SourceFormat.FromOption(format));
        var id = columns?.IdColumn ?? MetadataColumns.GuessId(names, kind);
        if (!names.Contains(id)) throw new PipelineException($"{display}: no id column '{id}' (found: {string.Join(", ", names)})");
        var fields = columns?.Fields ?? Infer(names.Where(n => n != id), rows);
        if (columns is not null)
            foreach (var f in fields.Where(f => !names.Contains(f.Name)))
                throw new PipelineException($"{display}: no column '{f.Name}' (found: {string.Join(", ", names)})");

        var good = new List<(string Id, MetadataRow Row)>();
        var rejected = new List<(MetadataRow Row, string Reason)>();
        var firstLine = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            if (Reason(row, id, fields, firstLine) is { } reason) rejected.Add((row, reason));
            else good.Add((row.Values![id]!, row));
        }
        if (rows.Count == 0) throw new PipelineException($"{display}: empty file (no data rows)");

        using var tx = connection.BeginTransaction();
        connection.Execute("DELETE FROM rejected_metadata WHERE kind = $kind AND path = $path", new Parameters { ["kind"] = Noun(kind), ["path"] = full }, ct);
        using (var appender = connection.CreateAppender("rejected_metadata"))
            foreach (var (row, reason) in rejected)
                appender.CreateRow().AppendValue(Noun(kind)).AppendValue(full).AppendValue(row.Line).AppendValue(row.Raw).AppendValue(reason).EndRow();
        if (rejected.Count > rejectThreshold * rows.Count)
        {
            tx.Commit(); // the rejections are kept to inspect; the loaded catalogue is untouched
            var first = string.Join("; ", rejected.Take(3).Select(r => $"line {r.Row.Line}: {r.Reason}"));
            throw new PipelineException(string.Create(CultureInfo.InvariantCulture,
                $"{display}: {rejected.Count:N0} of {rows.Count:N0} rows rejected ({100.0 * rejected.Count / rows.Count:0.##}% > " +
                $"{100.0 * rejectThreshold:0.##}% allowed), {Noun(kind)} metadata unchanged (rejected_metadata): {first}"));
        }
        var table = MetadataTables.ValuesTable(kind);
        connection.Execute($"DELETE FROM {table}; DELETE FROM metadata_fields WHERE kind = $kind", new Parameters { ["kind"] = Noun(kind) }, ct);
        using (var appender = connection.CreateAppender("metadata_fields"))
            for (int i = 0; i < fields.Count; i++)
                appender.CreateRow().AppendValue(Noun(kind)).AppendValue(fields[i].Name).AppendValue(fields[i].TypeName).AppendValue(i).EndRow();
        using (var appender = connection.CreateAppender(table))
            foreach (var (itemId, row) in good)
                foreach (var field in fields)
                {
                    if (row.Values!.GetValueOrDefault(field.Name) is not { } text) continue;
                    if (field.Type == MetadataType.Numeric)
                    {
                        MetadataFileReader.IsNumber(text, out var number);
                        appender.CreateRow().AppendValue(itemId).AppendValue(field.Name).AppendValue(text).AppendValue(number).EndRow();
                    }
                    else
                        foreach (var value in SplitValues(text))
                            appender.CreateRow().AppendValue(itemId).AppendValue(field.Name).AppendValue(value).AppendNullValue().EndRow();
                }
        connection.Execute($"DELETE FROM {MetadataTables.IdsTable(kind)}", ct: ct);
        using (var appender = connection.CreateAppender(MetadataTables.IdsTable(kind)))
            foreach (var (itemId, _) in good) appender.CreateRow().AppendValue(itemId).EndRow();
        connection.Execute("""
            INSERT INTO metadata_files VALUES ($kind, $path, $sha, $format, $accepted, $rejected, now()::TIMESTAMP)
            """, new Parameters
        {
            ["kind"] = Noun(kind), ["path"] = full, ["sha"] = sha, ["format"] = formatName,
            ["accepted"] = (long)good.Count, ["rejected"] = (long)rejected.Count,
        }, ct);
        tx.Commit();
        return new MetadataReport(kind, full, formatName, fields, columns is null, good.Count, rejected.Count, Skipped: false);
    }

    /// <summary>'|'-separated values, trimmed, empty ones and repeats dropped.</summary>
    public static IEnumerable<string> SplitValues(string text) =>
        text.Split('|').Select(v => v.Trim()).Where(v => v.Length > 0).Distinct(StringComparer.Ordinal);

    static string? Reason(MetadataRow row, string id, IReadOnlyList<MetadataField> fields, Dictionary<string, long> firstLine)
    {
        if (row.ShapeError is { } shape) return shape;
        var values = row.Values!;
        if (!values.TryGetValue(id, out var key) || key is null) return $"missing id ({id})";
        foreach (var field in fields)
            if (field.Type == MetadataType.Numeric && values.GetValueOrDefault(field.Name) is { } text && !MetadataFileReader.IsNumber(text, out _))
                return $"bad number in {field.Name}: '{(text.Length <= 40 ? text : text[..40])}'";
        if (!firstLine.TryAdd(key, row.Line)) return $"duplicate id '{key}' (first on line {firstLine[key]})";
        return null;
    }

    static List<MetadataField> Infer(IEnumerable<string> names, IReadOnlyList<MetadataRow> rows) =>
        names.Select(name =>
        {
            int values = 0, numbers = 0;
            foreach (var row in rows)
                if (row.Values?.GetValueOrDefault(name) is { } text)
                {
                    values++;
                    if (!text.Contains('|') && MetadataFileReader.IsNumber(text, out _)) numbers++;
                }
            return new MetadataField(name, values > 0 && numbers >= NumericShare * values ? MetadataType.Numeric : MetadataType.Categorical);
        }).ToList();

    internal static string Noun(MetadataKind kind) => kind == MetadataKind.Items ? "item" : "user";
}

/// <summary>The metadata files the ingest options name, loaded after the events.</summary>
internal static class MetadataIngest
{
    public static IReadOnlyList<MetadataReport> Run(string warehousePath, IngestOptions options, CancellationToken ct)
    {
        string? format = null; // metadata files are told apart by their extension
        var reports = new List<MetadataReport>();
        if (!string.IsNullOrWhiteSpace(options.Items))
            reports.Add(MetadataIngestor.Ingest(warehousePath, MetadataKind.Items, options.Items,
                MetadataColumns.FromOption(options.ItemColumns, $"{IngestOptions.SectionName}:ItemColumns"), format, options.RejectThreshold, ct));
        if (!string.IsNullOrWhiteSpace(options.Users))
            reports.Add(MetadataIngestor.Ingest(warehousePath, MetadataKind.Users, options.Users,
                MetadataColumns.FromOption(options.UserColumns, $"{IngestOptions.SectionName}:UserColumns"), format, options.RejectThreshold, ct));
        return reports;
    }
}
