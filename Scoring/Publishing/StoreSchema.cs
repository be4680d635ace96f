using static HrnnPipeline.Scoring.Publishing.ColumnType;

namespace HrnnPipeline.Scoring.Publishing;

/// <summary>The two databases a store's tables are declared in.</summary>
enum SqlDialect { Postgres, DuckDb }

/// <summary>What a column holds; each dialect names the type its own way (<see cref="StoreSchema.TypeName"/>).</summary>
enum ColumnType
{
    /// <summary>An identifier the read path only tests for equality (versions, user and item ids, filter names).</summary>
    Key,
    /// <summary>Any other text.</summary>
    Text,
    Integer,
    BigInt,
    Real,
    RealArray,
    Boolean,
    Json,
    Timestamp,
}

/// <summary>
/// A column: <paramref name="Constraints"/> is written after the type as it stands, the same in both dialects;
/// <paramref name="PostgresReferences"/> a foreign key PostgreSQL alone declares; <paramref name="AddedLater"/> marks
/// a column stores made before it lack, added in place on open.
/// </summary>
sealed record StoreColumn(string Name, ColumnType Type, string Constraints = "not null", string? PostgresReferences = null, bool AddedLater = false);

/// <summary>A PostgreSQL index of a table (DuckDB's tables have none, see <see cref="StoreSchema"/>).</summary>
sealed record StoreIndex(string Name, string Columns, bool Unique = true);

/// <summary>
/// A table of the store. <see cref="SortKey"/>: the order a version's rows are written in, which keeps each user's
/// rows together for DuckDB's zone maps and the Parquet export's row groups.
/// </summary>
sealed record StoreTable(string Name, StoreColumn[] Columns, StoreIndex[]? Indexes = null, string? SortKey = null)
{
    public string ColumnList => string.Join(", ", Columns.Select(c => c.Name));
}

/// <summary>
/// Every table of both stores, declared once: the PostgreSQL store and the DuckDB store (and the Parquet export's
/// scratch tables) are created from these lists, so the two cannot drift apart. The SQL each emits is what the
/// stores ran when each wrote its own DDL, so stores made by earlier builds open unchanged.
/// </summary>
static class StoreSchema
{
    public static readonly StoreTable ModelVersions = new("model_versions",
    [
        new("version", Key, "primary key"),
        new("status", Text, "not null check (status in ('loading', 'ready', 'active', 'retired', 'failed'))"),
        new("created_at", Timestamp, "not null default now()"),
        new("activated_at", Timestamp, ""),
        new("training_summary", Json),
        new("evaluation_summary", Json, ""),
        new("list_length", Integer, "not null default 0"),
        new("users", BigInt, "not null default 0"),
        new("recommendation_rows", BigInt, "not null default 0"),
        // Scoring:Approximate's lists are not the exact top-k: readers can tell which they are served. A default and
        // no "not null": DuckDB adds no column with a constraint in place; rows from before it read 'exact'.
        new("scoring_mode", Text, "default 'exact'", AddedLater: true),
    ]);

    // No foreign key in DuckDB: it refuses updates of a referenced row, and the pointer is only ever written in the
    // same transaction that checks the version exists.
    public static readonly StoreTable ActiveVersion = new("active_version",
    [
        new("id", ColumnType.Boolean, "primary key default true check (id)"),
        new("version", Key, PostgresReferences: "model_versions (version)"),
        new("switched_at", Timestamp, "not null default now()"),
    ]);

    // The per-version tables: each row carries its version first.
    static readonly StoreColumn Version = new("version", Key);

    public static readonly StoreTable Recommendations = new("recommendations",
        [Version, new("user_id", Key), new("rank", Integer), new("item_id", Key), new("score", Real), new("predicted_value", Real, "", AddedLater: true)],
        [new("recommendations_read", "version, user_id, rank")], SortKey: "user_id, rank");

    public static readonly StoreTable UserStates = new("user_states",
        [Version, new("user_id", Key), new("user_state", RealArray), new("session_state", RealArray)],
        [new("user_states_read", "version, user_id")], SortKey: "user_id");

    public static readonly StoreTable PublishedItems = new("published_items",
        [Version, new("item_idx", Integer), new("item_id", Key), new("popularity", BigInt)],
        [new("published_items_by_idx", "version, item_idx"), new("published_items_by_id", "version, item_id")], SortKey: "item_idx");

    /// <summary>The filtered lists beside a version's unfiltered ones (see <see cref="FilteredListTables"/>).</summary>
    public static readonly StoreTable FilteredRecommendations = new("filtered_recommendations",
        [Version, new("filter", Key), new("user_id", Key), new("rank", Integer), new("item_id", Key), new("score", Real)],
        [new("filtered_recommendations_read", "version, filter, user_id, rank")], SortKey: "filter, user_id, rank");

    public static readonly StoreTable FilteredLists = new("filtered_lists",
        [Version, new("filter", Key), new("list_length", Integer), new("users", BigInt), new("short_lists", BigInt)],
        [new("filtered_lists_read", "version, filter")], SortKey: "filter");

    public static readonly StoreTable PublishedItemFields = new("published_item_fields",
        [Version, new("item_id", Key), new("field", Key), new("value", Text), new("numeric", ColumnType.Boolean)],
        [new("published_item_fields_read", "version, item_id", Unique: false)], SortKey: "item_id");

    /// <summary>
    /// The tables holding a version's rows, in the order they are created, loaded and switched: partitioned by version
    /// in PostgreSQL, loaded through staging tables in both stores.
    /// </summary>
    public static readonly StoreTable[] VersionTables =
        [Recommendations, UserStates, PublishedItems, FilteredRecommendations, FilteredLists, PublishedItemFields];

    static readonly StoreTable[] AllTables = [ModelVersions, ActiveVersion, .. VersionTables];

    /// <summary>
    /// Text keys use the C collation in PostgreSQL: the read path only tests equality, and C makes index builds fast
    /// on servers whose default collation is a linguistic one. DuckDB's <c>float</c> is 4 bytes, PostgreSQL's <c>real</c>.
    /// </summary>
    public static string TypeName(ColumnType type, SqlDialect dialect) => (type, dialect) switch
    {
        (ColumnType.Key, SqlDialect.Postgres) => "text collate \"C\"",
        (ColumnType.Text, SqlDialect.Postgres) => "text",
        (ColumnType.Key or ColumnType.Text, SqlDialect.DuckDb) => "varchar",
        (ColumnType.Integer, _) => "integer",
        (ColumnType.BigInt, _) => "bigint",
        (ColumnType.Real, SqlDialect.Postgres) => "real",
        (ColumnType.Real, SqlDialect.DuckDb) => "float",
        (ColumnType.RealArray, SqlDialect.Postgres) => "real[]",
        (ColumnType.RealArray, SqlDialect.DuckDb) => "float[]",
        (ColumnType.Boolean, _) => "boolean",
        (ColumnType.Json, SqlDialect.Postgres) => "jsonb",
        (ColumnType.Json, SqlDialect.DuckDb) => "json",
        (ColumnType.Timestamp, _) => "timestamptz",
        _ => throw new ArgumentOutOfRangeException(nameof(type), $"{type} in {dialect}"),
    };

    /// <summary>
    /// Creates whatever is missing and adds the columns older stores lack (in place, to every partition; rows are
    /// kept). PostgreSQL's per-version tables are partitioned by version and indexed for the read path. DuckDB's
    /// have no ART indexes: its planner does not use a multi-column ART for these lookups, and one makes loads ~1.6x
    /// and deletes ~100x slower (measured, 4M rows); zone maps over rows written in <see cref="StoreTable.SortKey"/>
    /// order serve a user's lookup from one row group instead (about 1 ms at 4M rows).
    /// </summary>
    public static string CreateIfMissingSql(SqlDialect dialect) => string.Concat(AllTables.Select(table =>
    {
        var sql = $"create table if not exists {table.Name} ({Columns(table, dialect)})"
            + (dialect == SqlDialect.Postgres && VersionTables.Contains(table) ? " partition by list (version);\n" : ";\n");
        foreach (var column in table.Columns.Where(c => c.AddedLater))
            sql += $"alter table {table.Name} add column if not exists {Column(column, dialect)};\n";
        if (dialect == SqlDialect.Postgres)
            foreach (var index in table.Indexes ?? [])
                sql += $"create {(index.Unique ? "unique " : "")}index if not exists {index.Name} on {table.Name} ({index.Columns});\n";
        return sql;
    }));

    /// <summary>Empty DuckDB tables shaped like the per-version tables, under the names <paramref name="name"/> gives.</summary>
    public static string DuckDbCreateOrReplaceSql(Func<string, string> name) => string.Concat(VersionTables.Select(table =>
        $"create or replace table {name(table.Name)} ({Columns(table, SqlDialect.DuckDb)});\n"));

    /// <summary>
    /// PostgreSQL: the parents' indexes built on loaded staging tables (same columns, so ATTACH adopts them instead of
    /// building new ones), then statistics for the planner.
    /// </summary>
    public static string PostgresIndexSql(Func<string, string> staging) => string.Concat(VersionTables.Select(table =>
        string.Concat((table.Indexes ?? []).Select(index => $"create {(index.Unique ? "unique " : "")}index on {staging(table.Name)} ({index.Columns});\n"))
        + $"analyze {staging(table.Name)};\n"));

    /// <summary>
    /// The first key the score shards repeat (a user's rank, a user's states, an item), in the tables
    /// <paramref name="table"/> names; null when there is none.
    /// </summary>
    public static string RepeatedKeySql(Func<string, string> table) => $"""
        select 'user ' || user_id || ' rank ' || rank from {table(Recommendations.Name)} group by user_id, rank having count(*) > 1
        union all
        select 'user ' || user_id from {table(UserStates.Name)} group by user_id having count(*) > 1
        union all
        select 'item ' || item_id from {table(PublishedItems.Name)} group by item_id having count(*) > 1
        limit 1
        """;

    static string Columns(StoreTable table, SqlDialect dialect) =>
        "\n    " + string.Join(",\n    ", table.Columns.Select(c => Column(c, dialect))) + "\n";

    static string Column(StoreColumn column, SqlDialect dialect) =>
        $"{column.Name} {TypeName(column.Type, dialect)}{(column.Constraints.Length > 0 ? " " + column.Constraints : "")}"
        + (dialect == SqlDialect.Postgres && column.PostgresReferences is { } target ? $" references {target}" : "");
}
