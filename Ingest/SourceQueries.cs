using System.Globalization;
using System.Text;
using DuckDB.NET.Data;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Ingest;

/// <summary>
/// The SELECT that reads one file with DuckDB's own reader and yields one row per physical line (or Parquet row),
/// in file order, with the columns <see cref="SourceQueries.ClassifyInto"/> expects: is_data, raw, shape_error,
/// user_id, item_id, ts_text, ts_number, ts_instant, session_id, event_type, value_text, value_number.
/// </summary>
/// <param name="ValuesOptional">JSON lines: an object may leave out any optional key, the value too (a plain click).
/// In delimited and Parquet files the value column is there for every row, and an empty one is a missing value.</param>
internal sealed record SourceSelect(string Sql, Parameters Parameters, IReadOnlySet<EventField> Fields, bool ValuesOptional = false);

/// <summary>The SQL that reads each format and sorts its rows into events and rejections.</summary>
internal static class SourceQueries
{
    /// <summary>Temp table of classified rows; its rowid + 1 is the row's line number (or Parquet row number).</summary>
    public const string Rows = "ingest_rows";

    /// <summary>Largest |numeric timestamp| taken: 9.2e15 s times 1000 still fits a BIGINT of milliseconds.</summary>
    const double LargestTimestamp = 9.2e15;

    // strptime's %z takes +hh:mm but not 'Z', hence the literal-Z forms; all are ISO-8601 without seconds, which
    // DuckDB's cast to TIMESTAMPTZ does not take. Constants, so inlined.
    const string ExtraTimeFormats =
        "['%Y-%m-%dT%H:%MZ', '%Y-%m-%dT%H:%M%z', '%Y-%m-%dT%H:%M', '%Y-%m-%d %H:%MZ', '%Y-%m-%d %H:%M%z', '%Y-%m-%d %H:%M']";

    // Physical lines as single VARCHAR values: the separator never occurs in the file and quoting is off, so
    // every line arrives whole and in order; empty lines arrive as NULL, so row k is line k.
    const string Lines = """
        read_csv($path, columns = {'line': 'VARCHAR'}, header = false, delim = $separator,
            quote = '', escape = '', auto_detect = false, strict_mode = false, new_line = $new_line)
        """;

    /// <summary>Parameters of <see cref="Lines"/>; refuses files whose lines DuckDB's reader cannot keep intact.</summary>
    public static Parameters LineParameters(FileFacts facts, string display)
    {
        if (facts.FreeSeparator is not { } separator)
            throw new PipelineException($"{display}: binary data, not a text file");
        // DuckDB's reader takes either LF (with lone CRs as breaks too) or CRLF (with lone LFs), not all three.
        if (facts.LoneCarriageReturns > 0 && facts.CrLfPairs > 0)
            throw new PipelineException($"{display}: mixed CR and CRLF line endings; convert the file to LF or CRLF");
        return new Parameters
        {
            ["path"] = facts.Path,
            ["separator"] = ((char)separator).ToString(),
            ["new_line"] = facts.CrLfPairs > 0 ? @"\r\n" : @"\n",
        };
    }

    /// <summary>
    /// A blank line (empty or spaces only) and the header carry no event: neither accepted nor rejected. A line
    /// repeating the header (files concatenated with their headers) is skipped too. CASE, not AND, so trim runs
    /// only on lines that start with a space: DuckDB evaluates both sides of an AND.
    /// </summary>
    const string IsData = """
        CASE WHEN line IS NULL THEN false
             WHEN starts_with(line, ' ') THEN trim(line) <> '' AND line IS DISTINCT FROM $header
             ELSE line IS DISTINCT FROM $header END
        """;

    /// <summary>Fields of delimited lines: split on the delimiter, RFC 4180 quotes honoured for CSV.</summary>
    public static SourceSelect Delimited(FileFacts facts, string display, SourceFormat format, ColumnMap map, int width, string? header)
    {
        var split = format.Quoted
            ? """
              CASE WHEN contains(line, '"')
                  THEN list_transform(regexp_extract_all(line, $field_pattern, 1),
                      x -> CASE WHEN length(x) >= 2 AND starts_with(x, '"') AND ends_with(x, '"')
                                THEN replace(x[2:-2], '""', '"') ELSE x END)
                  ELSE string_split(line, $delimiter) END
              """
            : "string_split(line, $delimiter)";
        // Trim only lines that have a space at all: most have none, and trim is costly.
        string Field(EventField field) => map[field] is { } p
            ? $"nullif(CASE WHEN padded THEN trim(f[{p + 1}]) ELSE f[{p + 1}] END, '')"
            : "NULL::VARCHAR";
        var sql = $"""
            SELECT is_data, line AS raw,
                CASE WHEN len(f) <> $width THEN 'expected ' || $width || ' fields, found ' || len(f) END AS shape_error,
                {Field(EventField.User)} AS user_id,
                {Field(EventField.Item)} AS item_id,
                {Field(EventField.Timestamp)} AS ts_text,
                NULL::DOUBLE AS ts_number,
                NULL::TIMESTAMPTZ AS ts_instant,
                {Field(EventField.Session)} AS session_id,
                {Field(EventField.Type)} AS event_type,
                {Field(EventField.Value)} AS value_text,
                NULL::DOUBLE AS value_number
            FROM (
                SELECT line, {IsData} AS is_data, contains(line, ' ') AS padded, {split} AS f
                FROM {Lines}
            )
            """;
        var parameters = new Parameters(LineParameters(facts, display))
        {
            ["delimiter"] = format.Delimiter.ToString(),
            ["width"] = width,
            ["header"] = header,
        };
        if (format.Quoted) parameters["field_pattern"] = FieldPattern(format.Delimiter);
        return new SourceSelect(sql, parameters, map.Positions.Keys.ToHashSet());
    }

    /// <summary>RE2 pattern for one RFC 4180 field: a quoted field ("" escapes a quote) or a run of non-delimiters.</summary>
    static string FieldPattern(char delimiter)
    {
        var d = delimiter is '|' or '.' or '^' or '$' or '\\' ? "\\" + delimiter : delimiter.ToString();
        return $"(?:^|{d})(\"(?:[^\"]|\"\")*\"|[^{d}]*)";
    }

    const string IsObject = "CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END";

    /// <summary>
    /// The keys of the file's JSON objects: those of the first object in its order (what Columns positions
    /// refer to), then the others by name.
    /// </summary>
    public static (List<string> All, List<string> First) JsonKeys(DuckDBConnection connection, Parameters lines, CancellationToken ct)
    {
        var first = connection.Rows($"SELECT json_keys(line) FROM {Lines} WHERE {IsObject} LIMIT 1", lines, ct);
        var firstKeys = first.Count == 0 ? [] : ((IEnumerable<object?>)first[0][0]!).Cast<string>().ToList();
        var all = connection.Rows($"SELECT DISTINCT unnest(json_keys(line)) AS key FROM {Lines} WHERE {IsObject} ORDER BY key", lines, ct)
            .Select(r => (string)r[0]!);
        return (firstKeys.Concat(all.Where(k => !firstKeys.Contains(k))).ToList(), firstKeys);
    }

    /// <summary>Fields of JSON lines; each event field reads the first present of its keys.</summary>
    public static SourceSelect JsonLines(FileFacts facts, string display, IReadOnlyDictionary<EventField, IReadOnlyList<string>> keys)
    {
        var paths = new List<string>();
        string Field(EventField field)
        {
            if (!keys.TryGetValue(field, out var names) || names.Count == 0) return "NULL::VARCHAR";
            var slots = names.Select(name =>
            {
                paths.Add("$.\"" + name.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"");
                return $"v[{paths.Count}]";
            }).ToList();
            return $"nullif(trim(coalesce({string.Join(", ", slots)})), '')";
        }
        var columns = $"""
                {Field(EventField.User)} AS user_id,
                {Field(EventField.Item)} AS item_id,
                {Field(EventField.Timestamp)} AS ts_text,
                {Field(EventField.Session)} AS session_id,
                {Field(EventField.Type)} AS event_type,
                {Field(EventField.Value)} AS value_text
            """;
        var sql = $"""
            SELECT is_data, line AS raw,
                CASE WHEN NOT is_object THEN CASE WHEN json_valid(line) THEN 'not a JSON object' ELSE 'invalid JSON' END END AS shape_error,
                {columns},
                NULL::DOUBLE AS ts_number, NULL::TIMESTAMPTZ AS ts_instant, NULL::DOUBLE AS value_number
            FROM (
                SELECT line, is_data, is_object, CASE WHEN is_object THEN json_extract_string(line, $json_paths) END AS v
                FROM (SELECT line, {IsData} AS is_data, {IsObject} AS is_object FROM {Lines})
            )
            """;
        var parameters = new Parameters(LineParameters(facts, display))
        {
            ["header"] = null,
            ["json_paths"] = paths.Count == 0 ? ["$.none"] : paths,
        };
        return new SourceSelect(sql, parameters, keys.Keys.ToHashSet(), ValuesOptional: true);
    }

    /// <summary>Name and DuckDB type of each Parquet column, in file order.</summary>
    public static List<(string Name, string Type)> ParquetColumns(DuckDBConnection connection, string path, CancellationToken ct) =>
        connection.Rows("DESCRIBE SELECT * FROM read_parquet($path)", new Parameters { ["path"] = path }, ct)
            .Select(r => ((string)r[0]!, (string)r[1]!)).ToList();

    /// <summary>Fields of Parquet rows, keeping numeric and temporal timestamps typed.</summary>
    public static SourceSelect Parquet(string path, ColumnMap map, IReadOnlyList<(string Name, string Type)> columns)
    {
        var parameters = new Parameters { ["path"] = path };
        var raw = new StringBuilder();
        foreach (var (field, position) in map.Positions.OrderBy(p => p.Value))
        {
            var key = $"name_{field.ToString().ToLowerInvariant()}";
            parameters[key] = columns[position].Name;
            raw.Append(raw.Length == 0 ? "" : ", ").Append(CultureInfo.InvariantCulture, $"${key}, {Column(field)}");
        }
        string Column(EventField field) => Identifier(columns[map[field]!.Value].Name);
        string Text(EventField field) => map[field] is null ? "NULL::VARCHAR" : $"nullif(trim(CAST({Column(field)} AS VARCHAR)), '')";
        string TypeOf(EventField field) => map[field] is { } p ? columns[p].Type : "";
        var tsType = TypeOf(EventField.Timestamp);
        var sql = $"""
            SELECT true AS is_data, CAST(json_object({raw}) AS VARCHAR) AS raw, NULL::VARCHAR AS shape_error,
                {Text(EventField.User)} AS user_id,
                {Text(EventField.Item)} AS item_id,
                {Text(EventField.Timestamp)} AS ts_text,
                {(IsNumeric(tsType) ? $"CAST({Column(EventField.Timestamp)} AS DOUBLE)" : "NULL::DOUBLE")} AS ts_number,
                {(IsTemporal(tsType) ? $"CAST({Column(EventField.Timestamp)} AS TIMESTAMPTZ)" : "NULL::TIMESTAMPTZ")} AS ts_instant,
                {Text(EventField.Session)} AS session_id,
                {Text(EventField.Type)} AS event_type,
                {Text(EventField.Value)} AS value_text,
                {(IsNumeric(TypeOf(EventField.Value)) ? $"CAST({Column(EventField.Value)} AS DOUBLE)" : "NULL::DOUBLE")} AS value_number
            FROM read_parquet($path)
            """;
        return new SourceSelect(sql, parameters, map.Positions.Keys.ToHashSet());
    }

    static bool IsNumeric(string type) =>
        type is "TINYINT" or "SMALLINT" or "INTEGER" or "BIGINT" or "HUGEINT" or "UTINYINT" or "USMALLINT"
            or "UINTEGER" or "UBIGINT" or "UHUGEINT" or "FLOAT" or "DOUBLE" || type.StartsWith("DECIMAL", StringComparison.Ordinal);

    static bool IsTemporal(string type) => type is "DATE" || type.StartsWith("TIMESTAMP", StringComparison.Ordinal);

    static string Identifier(string name) => "\"" + name.Replace("\"", "\"\"") + "\"";

    /// <summary>
    /// Reads the source once into <see cref="Rows"/>, in file order, each row converted and given its
    /// <c>reason</c> (null for a good row). <c>ts</c> is the number as written for numeric timestamps
    /// (<c>ts_is_number</c>; the unit is applied when events are written, once the file's unit is known) and epoch
    /// milliseconds for text ones, which are ISO-8601, UTC unless a zone is given. The raw line is kept only for
    /// rejected rows, and optional fields only when the file has them, to keep the table small.
    /// </summary>
    public static string ClassifyInto(SourceSelect source)
    {
        string Optional(EventField field, string column) => source.Fields.Contains(field) ? $", {column}" : "";
        return $"""
            CREATE OR REPLACE TEMP TABLE {Rows} AS
            WITH src_fields AS (
                {source.Sql}
            ), src_numbers AS (
                SELECT *,
                    CASE WHEN ts_number IS NOT NULL THEN ts_number
                         WHEN ts_instant IS NULL THEN TRY_CAST(ts_text AS DOUBLE) END AS ts_double,
                    coalesce(value_number, TRY_CAST(value_text AS DOUBLE)) AS value
                FROM src_fields
            ), src_times AS (
                SELECT *,
                    CASE WHEN isfinite(ts_double) THEN ts_double END AS ts_num,
                    CASE WHEN ts_instant IS NOT NULL THEN ts_instant
                         WHEN ts_double IS NULL AND ts_text IS NOT NULL
                         THEN coalesce(TRY_CAST(ts_text AS TIMESTAMPTZ), try_strptime(ts_text, {ExtraTimeFormats})) END AS ts_parsed
                FROM src_numbers
            ), src_converted AS (
                SELECT *,
                    coalesce(ts_num, CASE WHEN isfinite(ts_parsed) THEN CAST(epoch_ms(ts_parsed) AS DOUBLE) END) AS ts
                FROM src_times
            ), src_classified AS (
                SELECT *,
                    CASE WHEN NOT is_data THEN NULL
                         WHEN shape_error IS NOT NULL THEN shape_error
                         WHEN user_id IS NULL THEN 'missing user'
                         WHEN item_id IS NULL THEN 'missing item'
                         WHEN ts_text IS NULL THEN 'missing timestamp'
                         WHEN abs(ts_num) > {LargestTimestamp.ToString("0.0e0", CultureInfo.InvariantCulture)}
                             THEN 'timestamp out of range: ' || left(ts_text, 40)
                         WHEN ts IS NULL THEN 'bad timestamp: ' || left(ts_text, 40)
                         WHEN value_text IS NOT NULL AND (value IS NULL OR NOT isfinite(value))
                             THEN 'bad value: ' || left(value_text, 40)
                         {(source.Fields.Contains(EventField.Value) && !source.ValuesOptional ? MissingValue(source.Fields) : "")}
                    END AS reason
                FROM src_converted
            )
            SELECT is_data, user_id, item_id, ts, ts_num IS NOT NULL AS ts_is_number
                {Optional(EventField.Session, "session_id")}{Optional(EventField.Type, "event_type")}{Optional(EventField.Value, "value")},
                reason, CASE WHEN reason IS NOT NULL THEN raw END AS raw
            FROM src_classified
            """;
    }

    /// <summary>
    /// A file with a value column must give every event a value; only an event with a type may leave it empty, as
    /// Features:EventTypeValues can give the type's value then (a view without a price, a purchase with one).
    /// </summary>
    static string MissingValue(IReadOnlySet<EventField> fields) => fields.Contains(EventField.Type)
        ? "WHEN value_text IS NULL AND event_type IS NULL THEN 'missing value (and no event type)'"
        : "WHEN value_text IS NULL THEN 'missing value'";

    /// <summary>Good rows as events; numeric timestamps times $scale (1000 for seconds, 1 for milliseconds).</summary>
    public static string InsertEvents(IReadOnlySet<EventField> fields) => $"""
        INSERT INTO events (file_id, line_no, user_id, item_id, ts_ms, session_id, event_type, value)
        SELECT $file_id, rowid + 1, user_id, item_id,
            CAST(round(CASE WHEN ts_is_number THEN ts * $scale ELSE ts END) AS BIGINT),
            {(fields.Contains(EventField.Session) ? "session_id" : "NULL")},
            {(fields.Contains(EventField.Type) ? "event_type" : "NULL")},
            {(fields.Contains(EventField.Value) ? "value" : "NULL")}
        FROM {Rows}
        WHERE is_data AND reason IS NULL
        """;
}
