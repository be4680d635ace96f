using System.Text;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Ingest;

internal enum SourceKind { Delimited, JsonLines, Parquet }

/// <summary>How a file is read: its kind and, for delimited text, the delimiter.</summary>
internal sealed record SourceFormat(SourceKind Kind, char Delimiter = ',')
{
    /// <summary>The name stored in ingested_files.format: csv, tsv, jsonl, parquet, or e.g. <c>csv(;)</c>.</summary>
    public string Name => Kind switch
    {
        SourceKind.JsonLines => "jsonl",
        SourceKind.Parquet => "parquet",
        _ => Delimiter switch { ',' => "csv", '\t' => "tsv", _ => $"csv({Delimiter})" },
    };

    /// <summary>RFC 4180 quoting applies to comma-like delimiters; TSV has no quoting, a '"' there is data.</summary>
    public bool Quoted => Kind == SourceKind.Delimited && Delimiter != '\t';

    static readonly char[] DelimiterCandidates = ['\t', ',', ';', '|'];

    /// <summary>Validates the configured format; null when the format comes from each file.</summary>
    public static SourceFormat? FromOption(string? format) => format?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => null,
        "csv" => new SourceFormat(SourceKind.Delimited, ','),
        "tsv" => new SourceFormat(SourceKind.Delimited, '\t'),
        "jsonl" or "ndjson" or "json" => new SourceFormat(SourceKind.JsonLines),
        "parquet" => new SourceFormat(SourceKind.Parquet),
        _ => throw new PipelineException($"Ingest:Format '{format}' is not csv, tsv, jsonl or parquet"),
    };

    /// <summary>From the extension; for text of no clear extension (.txt, .log, none) the delimiter is sniffed.</summary>
    public static SourceFormat Detect(FileFacts facts)
    {
        var extension = System.IO.Path.GetExtension(facts.Path).ToLowerInvariant();
        switch (extension)
        {
            case ".csv": return new SourceFormat(SourceKind.Delimited, ',');
            case ".tsv" or ".tab": return new SourceFormat(SourceKind.Delimited, '\t');
            case ".jsonl" or ".ndjson" or ".json": return new SourceFormat(SourceKind.JsonLines);
            case ".parquet" or ".pq": return new SourceFormat(SourceKind.Parquet);
        }
        if (facts.Head.AsSpan().StartsWith("PAR1"u8)) return new SourceFormat(SourceKind.Parquet);
        var lines = SampleLines(facts);
        if (lines.Count > 0 && lines[0].TrimStart().StartsWith('{')) return new SourceFormat(SourceKind.JsonLines);
        return new SourceFormat(SourceKind.Delimited, SniffDelimiter(lines));
    }

    /// <summary>
    /// The delimiter that splits the sample lines into the same number (at least 2) of fields most consistently;
    /// ties go to tab, then comma (so a .txt TSV stays TSV).
    /// </summary>
    static char SniffDelimiter(IReadOnlyList<string> lines)
    {
        var best = ',';
        var bestScore = (Share: 0.0, Fields: 0);
        foreach (var candidate in DelimiterCandidates)
        {
            var counts = lines.Select(l => SplitFields(l, candidate, quoted: candidate != '\t').Count).ToList();
            if (counts.Count == 0) continue;
            var mode = counts.GroupBy(c => c).OrderByDescending(g => g.Count()).ThenByDescending(g => g.Key).First();
            if (mode.Key < 2) continue;
            var score = (Share: (double)mode.Count() / counts.Count, Fields: mode.Key);
            if (score.Share > bestScore.Share || (score.Share == bestScore.Share && score.Fields > bestScore.Fields))
            {
                best = candidate;
                bestScore = score;
            }
        }
        return best;
    }

    /// <summary>The non-blank lines of the file's first 64 KiB (the last one dropped if it may be cut short).</summary>
    public static List<string> SampleLines(FileFacts facts, bool keepBlank = false)
    {
        var text = new UTF8Encoding(false, false).GetString(facts.Head);
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        if (facts.Head.Length < facts.Length || lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        return keepBlank ? lines : lines.Where(l => l.Trim().Length > 0).ToList();
    }

    /// <summary>Splits one line the way the SQL side does: RFC 4180 quotes when <paramref name="quoted"/>.</summary>
    public static List<string> SplitFields(string line, char delimiter, bool quoted)
    {
        if (!quoted || !line.Contains('"')) return [.. line.Split(delimiter)];
        var fields = new List<string>();
        var field = new StringBuilder();
        bool inQuotes = false;
        for (int i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (inQuotes)
            {
                if (c != '"') field.Append(c);
                else if (i + 1 < line.Length && line[i + 1] == '"') { field.Append('"'); i++; }
                else inQuotes = false;
            }
            else if (c == '"' && field.Length == 0) inQuotes = true;
            else if (c == delimiter) { fields.Add(field.ToString()); field.Clear(); }
            else field.Append(c);
        }
        fields.Add(field.ToString());
        return fields;
    }
}
