using System.Globalization;
using System.Text.Json;
using DuckDB.NET.Data;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Ingest.Metadata;

/// <summary>One data row of a metadata file: its line (or Parquet row) number, the raw text kept for rejections, and
/// its values by column name, or why its shape is wrong.</summary>
internal sealed record MetadataRow(long Line, string Raw, IReadOnlyDictionary<string, string?>? Values, string? ShapeError);

/// <summary>
/// Reads a metadata file (CSV, TSV, JSON lines or Parquet, as the interactions) into rows of text values by column
/// name. Delimited files need a header row naming the columns; JSON arrays of strings and Parquet lists become
/// '|'-separated multi-values. Metadata files are catalogue-sized, so they are read whole.
/// </summary>
internal static class MetadataFileReader
{
    public static (List<string> Columns, List<MetadataRow> Rows, string Format) Read(string path, string display, SourceFormat? format)
    {
        var facts = FileFacts.Read(path, CancellationToken.None);
        if (facts.Length == 0) throw new PipelineException($"{display}: empty file");
        var kind = format ?? SourceFormat.Detect(facts);
        return kind.Kind switch
        {
            SourceKind.Delimited => Delimited(path, display, kind),
            SourceKind.JsonLines => JsonLines(path),
            _ => Parquet(path, display),
        };
    }

    static (List<string>, List<MetadataRow>, string) Delimited(string path, string display, SourceFormat format)
    {
        var rows = new List<MetadataRow>();
        List<string>? header = null;
        long line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            var raw = line == 1 ? text.TrimStart('\uFEFF') : text;
            if (raw.Trim().Length == 0) continue;
            var fields = SourceFormat.SplitFields(raw, format.Delimiter, format.Quoted).Select(f => f.Trim()).ToList();
            if (header is null)
            {
                if (fields.Any(ColumnMap.IsNumberOrDate) || fields.Any(f => f.Length == 0))
                    throw new PipelineException($"{display}:{line}: expected a header row naming the columns, found '{Cut(raw)}'");
                header = fields;
                continue;
            }
            if (fields.Count != header.Count)
            {
                rows.Add(new MetadataRow(line, raw, null, $"expected {header.Count} fields, found {fields.Count}"));
                continue;
            }
            var values = new Dictionary<string, string?>(StringComparer.Ordinal);
            for (int i = 0; i < header.Count; i++) values[header[i]] = fields[i].Length == 0 ? null : fields[i];
            rows.Add(new MetadataRow(line, raw, values, null));
        }
        if (header is null) throw new PipelineException($"{display}: empty file (no header row)");
        return (header, rows, format.Name);
    }

    static (List<string>, List<MetadataRow>, string) JsonLines(string path)
    {
        var rows = new List<MetadataRow>();
        var columns = new List<string>();
        long line = 0;
        foreach (var raw in File.ReadLines(path))
        {
            line++;
            if (raw.Trim().Length == 0) continue;
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(raw);
            }
            catch (JsonException)
            {
                rows.Add(new MetadataRow(line, raw, null, "invalid JSON"));
                continue;
            }
            using (document)
            {
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                {
                    rows.Add(new MetadataRow(line, raw, null, "not a JSON object"));
                    continue;
                }
                var values = new Dictionary<string, string?>(StringComparer.Ordinal);
                string? error = null;
                foreach (var property in document.RootElement.EnumerateObject())
                {
                    if (!columns.Contains(property.Name)) columns.Add(property.Name);
                    if (JsonText(property.Value) is { } text) values[property.Name] = text.Value;
                    else error ??= $"unsupported value in {property.Name}: {property.Value.ValueKind.ToString().ToLowerInvariant()}";
                }
                rows.Add(error is null ? new MetadataRow(line, raw, values, null) : new MetadataRow(line, raw, null, error));
            }
        }
        return (columns, rows, "jsonl");
    }

    /// <summary>A JSON value as metadata text (wrapped so that null is a value); null for objects and nested arrays.</summary>
    static Wrapped? JsonText(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => new Wrapped(value.GetString() is { Length: > 0 } s ? s.Trim() : null),
        JsonValueKind.Number => new Wrapped(value.GetRawText()),
        JsonValueKind.True => new Wrapped("true"),
        JsonValueKind.False => new Wrapped("false"),
        JsonValueKind.Null => new Wrapped(null),
        JsonValueKind.Array when value.EnumerateArray().All(e => e.ValueKind is JsonValueKind.String or JsonValueKind.Number) =>
            new Wrapped(value.GetArrayLength() == 0 ? null
                : string.Join("|", value.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString() : e.GetRawText()))),
        _ => null,
    };

    sealed record Wrapped(string? Value);

    static (List<string>, List<MetadataRow>, string) Parquet(string path, string display)
    {
        using var connection = new DuckDBConnection("Data Source=:memory:");
        connection.Open();
        var described = connection.Rows("DESCRIBE SELECT * FROM read_parquet($path)", new Parameters { ["path"] = path });
        var columns = described.Select(r => (string)r[0]!).ToList();
        var types = described.Select(r => (string)r[1]!).ToList();
        // Every column as text: lists joined with '|' (multi-values), the rest cast as DuckDB prints them.
        var select = string.Join(", ", columns.Select((c, i) =>
        {
            var id = "\"" + c.Replace("\"", "\"\"") + "\"";
            return types[i].EndsWith("[]", StringComparison.Ordinal) ? $"array_to_string({id}, '|')" : $"CAST({id} AS VARCHAR)";
        }));
        var rows = new List<MetadataRow>();
        long line = 0;
        try
        {
            foreach (var r in connection.Rows($"SELECT {select} FROM read_parquet($path)", new Parameters { ["path"] = path }))
            {
                line++;
                var values = new Dictionary<string, string?>(StringComparer.Ordinal);
                for (int i = 0; i < columns.Count; i++)
                    values[columns[i]] = r[i] is string s && s.Trim().Length > 0 ? s.Trim() : null;
                var raw = string.Join(",", columns.Select(c => $"{c}={values[c]}"));
                rows.Add(new MetadataRow(line, raw, values, null));
            }
        }
        catch (DuckDBException e)
        {
            throw new PipelineException($"{display}: cannot read as parquet: {e.Message.Split('\n', 2)[0]}", inner: e);
        }
        return (columns, rows, "parquet");
    }

    static string Cut(string text) => text.Length <= 60 ? text : text[..60] + "...";

    public static bool IsNumber(string text, out double value) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
}
