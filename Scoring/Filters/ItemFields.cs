using DuckDB.NET.Data;

namespace HrnnPipeline.Scoring.Filters;

/// <summary>
/// The item metadata filters read: for each item id, each field's values (several for a '|'-separated multi-value),
/// and which fields are numeric. Read from the prepared snapshot (<c>item_metadata.parquet</c> and
/// <c>metadata_fields.parquet</c>, written by prepare) or from a published version's item fields.
/// </summary>
public sealed class ItemFields
{
    /// <summary>Names of the prepared metadata files (written by Ingest's MetadataTables.Export).</summary>
    public const string ItemsFile = "item_metadata.parquet";
    public const string FieldsFile = "metadata_fields.parquet";

    static readonly string[] None = [];
    readonly Dictionary<string, Dictionary<string, string[]>> _byItem;

    public ItemFields(IEnumerable<(string ItemId, string Field, string Value)> rows, IReadOnlyDictionary<string, bool> numericFields)
    {
        _byItem = rows.GroupBy(r => r.ItemId, StringComparer.Ordinal).ToDictionary(g => g.Key,
            g => g.GroupBy(r => r.Field, StringComparer.Ordinal).ToDictionary(f => f.Key, f => f.Select(r => r.Value).ToArray(), StringComparer.Ordinal),
            StringComparer.Ordinal);
        NumericFields = numericFields;
    }

    public static ItemFields Empty { get; } = new([], new Dictionary<string, bool>());

    /// <summary>Field name → numeric (true) or categorical (false).</summary>
    public IReadOnlyDictionary<string, bool> NumericFields { get; }

    public int ItemCount => _byItem.Count;

    /// <summary>Every item with metadata (with at least one value).</summary>
    public IEnumerable<string> ItemIds => _byItem.Keys;

    public IReadOnlyList<string> Values(string itemId, string field) =>
        _byItem.TryGetValue(itemId, out var fields) && fields.TryGetValue(field, out var values) ? values : None;

    /// <summary>Every (item, field, value, numeric) row, for publishing.</summary>
    public IEnumerable<(string ItemId, string Field, string Value, bool Numeric)> Rows() =>
        _byItem.SelectMany(i => i.Value.SelectMany(f => f.Value.Select(v => (i.Key, f.Key, v, NumericFields.GetValueOrDefault(f.Key)))));

    /// <summary>From published rows (item, field, value, numeric).</summary>
    public static ItemFields FromRows(IEnumerable<(string ItemId, string Field, string Value, bool Numeric)> rows)
    {
        var list = rows.ToList();
        var numeric = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var row in list) numeric[row.Field] = row.Numeric;
        return new ItemFields(list.Select(r => (r.ItemId, r.Field, r.Value)), numeric);
    }

    /// <summary>Copies the prepared metadata files beside a version's score shards, so publishing (and the read API's
    /// per-request filters) read the metadata the version was scored with.</summary>
    public static void Keep(string preparedDir, string versionDir)
    {
        foreach (var file in new[] { ItemsFile, FieldsFile })
        {
            var source = Path.Combine(preparedDir, file);
            var target = Path.Combine(versionDir, file);
            if (!File.Exists(source)) { File.Delete(target); continue; }
            var tmp = $"{target}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp"; // shards may copy at once: the last move wins
            File.Copy(source, tmp);
            File.Move(tmp, target, overwrite: true);
        }
    }

    /// <summary>The metadata in a folder holding the prepared files; empty when no item metadata was ingested.</summary>
    public static ItemFields Read(string folder)
    {
        var items = Path.Combine(folder, ItemsFile);
        var fields = Path.Combine(folder, FieldsFile);
        if (!File.Exists(items) || !File.Exists(fields)) return Empty;
        using var connection = new DuckDBConnection("Data Source=:memory:");
        connection.Open();
        var numeric = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var row in Query(connection, $"SELECT field, type FROM read_parquet({Literal(fields)}) WHERE kind = 'item'"))
            numeric[row[0]!] = row[1] == "num";
        var rows = Query(connection, $"SELECT id, field, value FROM read_parquet({Literal(items)}) WHERE field IS NOT NULL")
            .Select(r => (r[0]!, r[1]!, r[2]!)).ToList();
        return new ItemFields(rows, numeric);
    }

    static List<string?[]> Query(DuckDBConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var rows = new List<string?[]>();
        while (reader.Read())
        {
            var row = new string?[reader.FieldCount];
            for (int i = 0; i < row.Length; i++) row[i] = reader.IsDBNull(i) ? null : reader.GetString(i);
            rows.Add(row);
        }
        return rows;
    }

    static string Literal(string path) => "'" + path.Replace("'", "''", StringComparison.Ordinal) + "'";
}
