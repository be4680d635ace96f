using DuckDB.NET.Data;

namespace HrnnPipeline.Ingest.Metadata;

/// <summary>
/// The warehouse tables of item and user metadata, beside the events: <c>item_metadata_ids</c> /
/// <c>user_metadata_ids</c> (every id the file had), <c>item_metadata</c> / <c>user_metadata</c> (id, field, value
/// and, for numeric fields, number), <c>metadata_fields</c> (kind, field, type cat|num, position),
/// <c>metadata_files</c> (what was loaded) and <c>rejected_metadata</c>.
/// </summary>
public static class MetadataTables
{
    public static string ValuesTable(MetadataKind kind) => kind == MetadataKind.Items ? "item_metadata" : "user_metadata";
    public static string IdsTable(MetadataKind kind) => kind == MetadataKind.Items ? "item_metadata_ids" : "user_metadata_ids";

    public static void Create(DuckDBConnection connection) => connection.Execute("""
        CREATE TABLE IF NOT EXISTS metadata_files (
            kind VARCHAR NOT NULL, path VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, format VARCHAR,
            accepted BIGINT, rejected BIGINT, loaded_at TIMESTAMP NOT NULL);
        CREATE TABLE IF NOT EXISTS metadata_fields (kind VARCHAR NOT NULL, field VARCHAR NOT NULL, type VARCHAR NOT NULL, position INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS item_metadata_ids (item_id VARCHAR NOT NULL);
        CREATE TABLE IF NOT EXISTS user_metadata_ids (user_id VARCHAR NOT NULL);
        CREATE TABLE IF NOT EXISTS item_metadata (item_id VARCHAR NOT NULL, field VARCHAR NOT NULL, value VARCHAR NOT NULL, number DOUBLE);
        CREATE TABLE IF NOT EXISTS user_metadata (user_id VARCHAR NOT NULL, field VARCHAR NOT NULL, value VARCHAR NOT NULL, number DOUBLE);
        CREATE TABLE IF NOT EXISTS rejected_metadata (
            kind VARCHAR NOT NULL, path VARCHAR NOT NULL, line_no BIGINT NOT NULL, raw_line VARCHAR, reason VARCHAR NOT NULL);
        """);

    public static List<MetadataField> Fields(DuckDBConnection connection, MetadataKind kind) =>
        connection.Rows("SELECT field, type FROM metadata_fields WHERE kind = $kind ORDER BY position",
                new Parameters { ["kind"] = MetadataIngestor.Noun(kind) })
            .Select(r => new MetadataField((string)r[0]!, (string)r[1]! == "num" ? MetadataType.Numeric : MetadataType.Categorical))
            .ToList();

    /// <summary>
    /// Files beside the prepared splits: <c>item_metadata.parquet</c> and <c>user_metadata.parquet</c> (id, field, value,
    /// number) and <c>metadata_fields.parquet</c>, so training and scoring read the metadata of the same snapshot. Written
    /// only when metadata was ingested; stale files of an earlier prepare are removed otherwise.
    /// </summary>
    public static void Export(string warehousePath, string preparedDir)
    {
        using var connection = new DuckDBConnection($"Data Source={Path.GetFullPath(warehousePath)}");
        connection.Open();
        Create(connection);
        foreach (var kind in new[] { MetadataKind.Items, MetadataKind.Users })
        {
            var target = Path.Combine(preparedDir, FileName(kind));
            File.Delete(target);
            var any = (long)connection.Rows($"SELECT count(*) FROM {IdsTable(kind)}")[0][0]!;
            if (any == 0) continue;
            var id = kind == MetadataKind.Items ? "item_id" : "user_id";
            // Ids with no value at all keep one row with a null field, so the export still lists them.
            connection.Execute($"""
                COPY (
                    SELECT {id} AS id, field, value, number FROM {ValuesTable(kind)}
                    UNION ALL
                    SELECT {id}, NULL, NULL, NULL FROM {IdsTable(kind)} WHERE {id} NOT IN (SELECT {id} FROM {ValuesTable(kind)})
                    ORDER BY id, field, value
                ) TO '{target.Replace("'", "''")}' (FORMAT parquet)
                """);
        }
        var fields = Path.Combine(preparedDir, FieldsFile);
        File.Delete(fields);
        connection.Execute($"COPY (SELECT * FROM metadata_fields ORDER BY kind, position) TO '{fields.Replace("'", "''")}' (FORMAT parquet)");
    }

    public const string FieldsFile = "metadata_fields.parquet";

    public static string FileName(MetadataKind kind) => kind == MetadataKind.Items ? "item_metadata.parquet" : "user_metadata.parquet";
}
