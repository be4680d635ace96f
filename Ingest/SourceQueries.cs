using System.Globalization;
using System.Text;
using DuckDB.NET.Data;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Ingest;

/// <summary>
/// A file staged in the temp table <c>ingest_stage</c>, plus the SELECT over it that yields one row per data line
/// with the columns <see cref="SourceQueries.Classified"/> expects: line_no, raw, shape_error, user_id, item_id,
/// ts_text, ts_number, ts_instant, session_id, event_type, value_text, value_number.
/// </summary>
internal sealed record StagedSource(string FieldsSql, Parameters Parameters);

/// <summary>The SQL that stages each format and turns staged rows into events or rejections.</summary>
internal static class SourceQueries
{
    public const string Stage = "ingest_stage";

    // Text timestamps DuckDB's cast does not take (ISO-8601 without seconds). Constants, so inlined.
    // strptime's %z takes +hh:mm but not 'Z', hence the literal-Z forms.
    const string ExtraTimeFormats =
        "['%Y-%m-%dT%H:%MZ', '%Y-%m-%dT%H:%M%z', '%Y-%m-%dT%H:%M', '%Y-%m-%d %H:%MZ', '%Y-%m-%d %H:%M%z', '%Y-%m-%d %H:%M']";

    // Physical lines as single VARCHAR values: the separator never occurs in the file and quoting is off, so
    // every line arrives whole and in order; empty lines arrive as NULL, which keeps rowid + 1 = line number.
    const string StageLinesSql = $$"""
        CREATE OR REPLACE TEMP TABLE {{Stage}} AS
        SELECT line FROM read_csv($path, columns = {'line': 'VARCHAR'}, header = false, delim = $separator,
            quote = '', escape = '', auto_detect = false, strict_mode = false, new_line = $new_line)
        """;

    // A blank line (empty, or spaces only) carries no event, so it is neither accepted nor rejected.
    const string NotBlank = "line IS NOT NULL AND NOT (ascii(line) = 32 AND trim(line) = '')";

    /// <summary>Stages a text file line by line and checks DuckDB saw exactly the lines the byte scan counted.</summary>
    public static void StageLines(DuckDBConnection connection, FileFacts facts, string display, CancellationToken ct)
    {
        if (facts.FreeSeparator is not { } separator)
            throw new PipelineException($"{display}: binary data, not a text file");
        if (facts.LoneCarriageReturns > 0 && facts.CrLfPairs > 0)
            throw new PipelineException($"{display}: mixed CR and CRLF line endings; convert the file to LF or CRLF");
        connection.Execute(StageLinesSql, new Parameters
        {
            ["path"] = facts.Path,
            ["separator"] = ((char)separator).ToString(),
            ["new_line"] = facts.CrLfPairs > 0 ? @"\r\n" : @"\n",
        }, ct);
        var staged = (long)connection.Rows($"SELECT count(*) FROM {Stage}", ct: ct)[0][0]!;
        if (staged != facts.PhysicalLines)
            throw new PipelineException(
                $"{display}: read {staged:N0} lines but the file has {facts.PhysicalLines:N0}; line numbers would be wrong, so nothing was loaded");
    }

    /// <summary>Fields of delimited lines; <paramref name="skip"/> is 1 when line 1 is a header.</summary>
    public static StagedSource Delimited(SourceFormat format, ColumnMap map, int width, int skip)
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
        string Field(EventField field) => map[field] is { } p
            ? $"nullif(CASE WHEN padded THEN trim(f[{p + 1}]) ELSE f[{p + 1}] END, '')"
            : "NULL::VARCHAR";
        var sql = $"""
            SELECT line_no, line AS raw,
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
                SELECT rowid + 1 AS line_no, line, contains(line, ' ') AS padded, {split} AS f
                FROM {Stage}
                WHERE rowid >= $skip AND {NotBlank}
            )
            """;
        var parameters = new Parameters
        {
            ["delimiter"] = format.Delimiter.ToString(),
            ["width"] = width,
            ["skip"] = (long)skip,
        };
        if (format.Quoted) parameters["field_pattern"] = FieldPattern(format.Delimiter);
        return new StagedSource(sql, parameters);
    }

    /// <summary>RE2 pattern for one RFC 4180 field: a quoted field ("" escapes a quote) or a run of non-delimiters.</summary>
    static string FieldPattern(char delimiter)
    {
        var d = delimiter is '|' or '.' or '^' or '$' or '\\' ? "\\" + delimiter : delimiter.ToString();
        return $"(?:^|{d})(\"(?:[^\"]|\"\")*\"|[^{d}]*)";
    }

    const string JsonObject = "CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END";

    /// <summary>Distinct keys of the staged JSON objects, and the keys of the first object in order.</summary>
    public static (List<string> Keys, List<string> FirstKeys) JsonKeys(DuckDBConnection connection, CancellationToken ct)
    {
        var keys = connection.Rows($"""
            SELECT key FROM (
                SELECT unnest(keys) AS key, generate_subscripts(keys, 1) AS position, rowid
                FROM (SELECT json_keys(line) AS keys, rowid FROM {Stage} WHERE {NotBlank} AND {JsonObject})
            )
            GROUP BY key ORDER BY min(rowid), arg_min(position, rowid)
            """, ct: ct).Select(r => (string)r[0]!).ToList();
        var first = connection.Rows($"""
            SELECT json_keys(line) FROM {Stage} WHERE {NotBlank} AND {JsonObject} ORDER BY rowid LIMIT 1
            """, ct: ct);
        var firstKeys = first.Count == 0 ? [] : ((IEnumerable<object?>)first[0][0]!).Cast<string>().ToList();
        return (keys, firstKeys);
    }

    /// <summary>Fields of JSON lines; each event field reads the first present of its keys.</summary>
    public static StagedSource JsonLines(IReadOnlyDictionary<EventField, IReadOnlyList<string>> keys)
    {
        var paths = new List<string>();
        string Field(EventField field)
        {
            if (!keys.TryGetValue(field, out var names) || names.Count == 0) return "NULL::VARCHAR";
            var slots = names.Select(name =>
            {
                paths.Add("$.\"" + name.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"");
                return $"v[{paths.Count}]";
            });
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
            SELECT line_no, line AS raw,
                CASE WHEN NOT is_object THEN CASE WHEN json_valid(line) THEN 'not a JSON object' ELSE 'invalid JSON' END END AS shape_error,
                {columns},
                NULL::DOUBLE AS ts_number, NULL::TIMESTAMPTZ AS ts_instant, NULL::DOUBLE AS value_number
            FROM (
                SELECT line_no, line, is_object, CASE WHEN is_object THEN json_extract_string(line, $json_paths) END AS v
                FROM (SELECT rowid + 1 AS line_no, line, {JsonObject} AS is_object FROM {Stage} WHERE {NotBlank})
            )
            """;
        return new StagedSource(sql, new Parameters { ["json_paths"] = paths.Count == 0 ? ["$.none"] : paths });
    }

    /// <summary>Name and DuckDB type of each Parquet column, in file order.</summary>
    public static List<(string Name, string Type)> ParquetColumns(DuckDBConnection connection, string path, CancellationToken ct) =>
        connection.Rows("DESCRIBE SELECT * FROM read_parquet($path)", new Parameters { ["path"] = path }, ct)
            .Select(r => ((string)r[0]!, (string)r[1]!)).ToList();

    /// <summary>Stages the mapped Parquet columns with 1-based row numbers; returns the SELECT over them.</summary>
    public static StagedSource StageParquet(DuckDBConnection connection, string path, ColumnMap map,
        IReadOnlyList<(string Name, string Type)> columns, CancellationToken ct)
    {
        var used = map.Positions.OrderBy(p => p.Value).ToList();
        var select = string.Join(", ", used.Select(p => $"{Identifier(columns[p.Value].Name)} AS c_{p.Key.ToString().ToLowerInvariant()}"));
        connection.Execute($"""
            CREATE OR REPLACE TEMP TABLE {Stage} AS
            SELECT file_row_number + 1 AS line_no, {select} FROM read_parquet($path, file_row_number = true)
            """, new Parameters { ["path"] = path }, ct);

        var parameters = new Parameters();
        var raw = new StringBuilder();
        foreach (var (field, position) in used)
        {
            parameters[$"name_{field.ToString().ToLowerInvariant()}"] = columns[position].Name;
            raw.Append(raw.Length == 0 ? "" : ", ").Append(CultureInfo.InvariantCulture,
                $"$name_{field.ToString().ToLowerInvariant()}, c_{field.ToString().ToLowerInvariant()}");
        }
        string Column(EventField field) => $"c_{field.ToString().ToLowerInvariant()}";
        string Text(EventField field) => map[field] is null ? "NULL::VARCHAR" : $"nullif(trim(CAST({Column(field)} AS VARCHAR)), '')";
        string TypeOf(EventField field) => map[field] is { } p ? columns[p].Type : "";
        var tsType = TypeOf(EventField.Timestamp);
        var sql = $"""
            SELECT line_no, CAST(json_object({raw}) AS VARCHAR) AS raw, NULL::VARCHAR AS shape_error,
                {Text(EventField.User)} AS user_id,
                {Text(EventField.Item)} AS item_id,
                {Text(EventField.Timestamp)} AS ts_text,
                {(IsNumeric(tsType) ? $"CAST({Column(EventField.Timestamp)} AS DOUBLE)" : "NULL::DOUBLE")} AS ts_number,
                {(IsTemporal(tsType) ? $"CAST({Column(EventField.Timestamp)} AS TIMESTAMPTZ)" : "NULL::TIMESTAMPTZ")} AS ts_instant,
                {Text(EventField.Session)} AS session_id,
                {Text(EventField.Type)} AS event_type,
                {Text(EventField.Value)} AS value_text,
                {(IsNumeric(TypeOf(EventField.Value)) ? $"CAST({Column(EventField.Value)} AS DOUBLE)" : "NULL::DOUBLE")} AS value_number
            FROM {Stage}
            """;
        return new StagedSource(sql, parameters);
    }

    static bool IsNumeric(string type) =>
        type is "TINYINT" or "SMALLINT" or "INTEGER" or "BIGINT" or "HUGEINT" or "UTINYINT" or "USMALLINT"
            or "UINTEGER" or "UBIGINT" or "UHUGEINT" or "FLOAT" or "DOUBLE" || type.StartsWith("DECIMAL", StringComparison.Ordinal);

    static bool IsTemporal(string type) => type is "DATE" || type.StartsWith("TIMESTAMP", StringComparison.Ordinal);

    static string Identifier(string name) => "\"" + name.Replace("\"", "\"\"") + "\"";

    /// <summary>
    /// Every staged row with its event columns converted and <c>reason</c> (null for a good row). Numeric
    /// timestamps are multiplied by $scale (1000 for seconds, 1 for ms); text ones are ISO-8601, UTC unless a zone
    /// is given. <c>ts_num</c> (finite numeric timestamps) feeds time-unit detection.
    /// </summary>
    public static string Classified(StagedSource source) => $"""
        WITH src_fields AS (
            {source.FieldsSql}
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
                CASE WHEN ts_num IS NOT NULL THEN TRY_CAST(round(ts_num * $scale) AS BIGINT)
                     WHEN isfinite(ts_parsed) THEN epoch_ms(ts_parsed) END AS ts_ms
            FROM src_times
        )
        SELECT *,
            CASE WHEN shape_error IS NOT NULL THEN shape_error
                 WHEN user_id IS NULL THEN 'missing user'
                 WHEN item_id IS NULL THEN 'missing item'
                 WHEN ts_text IS NULL THEN 'missing timestamp'
                 WHEN ts_ms IS NULL AND ts_num IS NOT NULL THEN 'timestamp out of range: ' || left(ts_text, 40)
                 WHEN ts_ms IS NULL THEN 'bad timestamp: ' || left(ts_text, 40)
                 WHEN value_text IS NOT NULL AND value IS NULL THEN 'bad value: ' || left(value_text, 40)
            END AS reason
        FROM src_converted
        """;
}
