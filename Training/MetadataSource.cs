using DuckDB.NET.Data;
using HrnnPipeline.Features;

namespace HrnnPipeline.Training;

/// <summary>
/// The item and user metadata of a prepared folder, as the model reads it: <c>item_metadata.parquet</c>,
/// <c>user_metadata.parquet</c> and <c>metadata_fields.parquet</c> (written by prepare), and the users' id map, since
/// user features are indexed like the sessions' users. Each field's vocabulary and each numeric field's mean and
/// standard deviation are taken over every id of the file, so every item map built from one folder encodes an item alike.
/// </summary>
public sealed class MetadataSource
{
    public const string ItemsFile = "item_metadata.parquet";
    public const string UsersFile = "user_metadata.parquet";
    public const string FieldsFile = "metadata_fields.parquet";

    /// <summary>One kind's metadata: per id, per field, its values (categorical) or numbers (numeric).</summary>
    public sealed class Table
    {
        internal Table(IReadOnlyList<(string Name, bool Numeric)> fields, Dictionary<string, Dictionary<string, List<(string Value, double? Number)>>> byId)
        {
            Fields = fields;
            ById = byId;
        }

        public IReadOnlyList<(string Name, bool Numeric)> Fields { get; }
        internal Dictionary<string, Dictionary<string, List<(string Value, double? Number)>>> ById { get; }
        /// <summary>Ids with at least one value, in ordinal order.</summary>
        public IEnumerable<string> Ids => ById.Keys.Order(StringComparer.Ordinal);
        public bool Has(string id) => ById.ContainsKey(id);

        /// <summary>The id's categorical values as "field=value" keys (a multi-value gives several), none without metadata.</summary>
        public IReadOnlyList<string> CategoricalKeys(string id) =>
            ById.TryGetValue(id, out var fields)
                ? Fields.Where(f => !f.Numeric && fields.ContainsKey(f.Name))
                    .SelectMany(f => fields[f.Name].Select(v => $"{f.Name}={v.Value}")).ToList()
                : [];
    }

    MetadataSource(Table? items, Table? users, IdMap? userMap)
    {
        Items = items;
        Users = users;
        UserMap = userMap;
    }

    public Table? Items { get; }
    public Table? Users { get; }
    /// <summary>The users' id map the sessions' user indices refer to (users.arrow).</summary>
    public IdMap? UserMap { get; }

    /// <summary>The folder's metadata; null when prepare wrote none.</summary>
    public static MetadataSource? Read(string preparedDir)
    {
        var fields = Path.Combine(preparedDir, FieldsFile);
        if (!File.Exists(fields)) return null;
        using var connection = new DuckDBConnection("Data Source=:memory:");
        connection.Open();
        var items = ReadTable(connection, Path.Combine(preparedDir, ItemsFile), fields, "item");
        var usersMap = Path.Combine(preparedDir, PreparedFiles.Users);
        var users = File.Exists(usersMap) ? ReadTable(connection, Path.Combine(preparedDir, UsersFile), fields, "user") : null;
        if (items is null && users is null) return null;
        return new MetadataSource(items, users, users is null ? null : IdMap.Read(usersMap));
    }

    /// <summary>From rows in memory (tests): (id, field, value, number) per kind, and the users' map.</summary>
    public static MetadataSource FromRows(IReadOnlyList<(string Name, bool Numeric)> itemFields, IEnumerable<(string Id, string Field, string Value, double? Number)> items,
        IReadOnlyList<(string Name, bool Numeric)>? userFields = null, IEnumerable<(string Id, string Field, string Value, double? Number)>? users = null,
        IdMap? userMap = null) =>
        new(itemFields.Count == 0 ? null : Group(itemFields, items),
            userFields is { Count: > 0 } && users is not null && userMap is not null ? Group(userFields, users) : null,
            userMap);

    static Table Group(IReadOnlyList<(string Name, bool Numeric)> fields, IEnumerable<(string Id, string Field, string Value, double? Number)> rows)
    {
        var byId = new Dictionary<string, Dictionary<string, List<(string, double?)>>>(StringComparer.Ordinal);
        foreach (var (id, field, value, number) in rows)
        {
            if (!byId.TryGetValue(id, out var values)) byId[id] = values = new(StringComparer.Ordinal);
            if (!values.TryGetValue(field, out var list)) values[field] = list = [];
            list.Add((value, number));
        }
        return new Table(fields, byId);
    }

    static Table? ReadTable(DuckDBConnection connection, string file, string fieldsFile, string kind)
    {
        if (!File.Exists(file)) return null;
        var fields = new List<(string, bool)>();
        using (var command = connection.CreateCommand())
        {
            command.CommandText = $"SELECT field, type FROM read_parquet({Literal(fieldsFile)}) WHERE kind = '{kind}' ORDER BY position";
            using var reader = command.ExecuteReader();
            while (reader.Read()) fields.Add((reader.GetString(0), reader.GetString(1) == "num"));
        }
        if (fields.Count == 0) return null;
        var rows = new List<(string, string, string, double?)>();
        using (var command = connection.CreateCommand())
        {
            command.CommandText = $"SELECT id, field, value, number FROM read_parquet({Literal(file)}) WHERE field IS NOT NULL ORDER BY id, field, value";
            using var reader = command.ExecuteReader();
            while (reader.Read())
                rows.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetDouble(3)));
        }
        return Group(fields, rows);
    }

    static string Literal(string path) => "'" + path.Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>
    /// The model's item map: <paramref name="items"/> as it is, then every item with metadata it lacks (never seen, or
    /// below the support threshold), with count 0, in id order, so such items get a row that metadata alone fills.
    /// </summary>
    public IdMap ExtendItems(IdMap items)
    {
        if (Items is null) return items;
        var extra = Items.Ids.Where(id => !items.TryGetIndex(id, out _)).ToArray();
        if (extra.Length == 0) return items;
        return new IdMap([.. items.Ids, .. extra], [.. items.Counts, .. new long[extra.Length]], items.FirstIndex);
    }
}
