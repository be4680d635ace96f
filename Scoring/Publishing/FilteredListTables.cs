using Apache.Arrow;
using DuckDB.NET.Data;
using HrnnPipeline.Scoring.Filters;
using Npgsql;
using NpgsqlTypes;

namespace HrnnPipeline.Scoring.Publishing;

/// <summary>
/// The published filtered lists, beside a version's unfiltered ones, in both stores and the Parquet export:
/// <c>filtered_recommendations</c> (version, filter, user_id, rank, item_id, score), <c>filtered_lists</c> (version,
/// filter, list_length, users, short_lists: which filters the version carries) and <c>published_item_fields</c>
/// (version, item_id, field, value: the item metadata the read API's per-request filter parameters are checked
/// against). Tables of their own, so the unfiltered tables (and their readers) are untouched; they follow the same
/// version rules (loaded beside the others, switched in the same transaction, pruned with the version).
/// </summary>
public static class FilteredListTables
{
    public static readonly string[] Tables = ["filtered_recommendations", "filtered_lists", "published_item_fields"];

    public const string RecommendationsFile = "filtered_recommendations.parquet";
    public const string ListsFile = "filtered_lists.parquet";
    public const string ItemFieldsFile = "item_fields.parquet";

    public static string DuckDbSchema(string suffix = "", bool replace = false) => $"""
        create {(replace ? "or replace" : "")} table {(replace ? "" : "if not exists")} filtered_recommendations{suffix} (
            version varchar not null, filter varchar not null, user_id varchar not null, rank integer not null,
            item_id varchar not null, score float not null);
        create {(replace ? "or replace" : "")} table {(replace ? "" : "if not exists")} filtered_lists{suffix} (
            version varchar not null, filter varchar not null, list_length integer not null, users bigint not null, short_lists bigint not null);
        create {(replace ? "or replace" : "")} table {(replace ? "" : "if not exists")} published_item_fields{suffix} (
            version varchar not null, item_id varchar not null, field varchar not null, value varchar not null, numeric boolean not null);
        """;

    /// <summary>Appends the version's filtered lists and item fields into tables named with <paramref name="suffix"/>.</summary>
    public static void AppendDuckDb(DuckDBConnection conn, string suffix, string version, ScoreShardReader shards, CancellationToken ct)
    {
        Execute(conn, DuckDbSchema(suffix, replace: true));
        using (var appender = conn.CreateAppender("filtered_recommendations" + suffix))
            foreach (var batch in FilteredShardWriter.Batches(shards))
                using (batch)
                {
                    ct.ThrowIfCancellationRequested();
                    var (filters, users, ranks, items, scores) = Columns(batch);
                    for (int r = 0; r < batch.Length; r++)
                        appender.CreateRow().AppendValue(version).AppendValue(filters.GetString(r)).AppendValue(users.GetString(r))
                            .AppendValue(ranks.Values[r]).AppendValue(items.GetString(r)).AppendValue(scores.Values[r]).EndRow();
                }
        using (var appender = conn.CreateAppender("filtered_lists" + suffix))
            foreach (var fill in FilteredShardWriter.Fills(shards))
                appender.CreateRow().AppendValue(version).AppendValue(fill.Filter).AppendValue(fill.ListLength).AppendValue(fill.Users)
                    .AppendValue(fill.ShortLists).EndRow();
        using (var appender = conn.CreateAppender("published_item_fields" + suffix))
            foreach (var (item, field, value, numeric) in ItemFields.Read(shards.VersionDir).Rows())
                appender.CreateRow().AppendValue(version).AppendValue(item).AppendValue(field).AppendValue(value).AppendValue(numeric).EndRow();
    }

    /// <summary>Inside the store's switch transaction: the version's rows replaced by the staged ones.</summary>
    public static void SwapDuckDb(DuckDBConnection conn, string version, string stagingSuffix)
    {
        Delete(conn, version);
        Execute(conn, $"""
            insert into filtered_lists select * from filtered_lists{stagingSuffix};
            insert into published_item_fields select * from published_item_fields{stagingSuffix} order by item_id;
            insert into filtered_recommendations select * from filtered_recommendations{stagingSuffix} order by filter, user_id, rank;
            """);
    }

    public static void Delete(DuckDBConnection conn, string version)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = string.Join("\n", Tables.Select(t => $"delete from {t} where version = $version;"));
        cmd.Parameters.Add(new DuckDBParameter("version", version));
        cmd.ExecuteNonQuery();
    }

    /// <summary>COPY statements writing the three tables of a scratch database as the export's Parquet files.</summary>
    public static string CopyToParquetSql(string folder, Func<string, string> literal) => $"""
        copy (select * from filtered_recommendations order by filter, user_id, rank) to {literal(Path.Combine(folder, RecommendationsFile))} (format parquet, compression zstd);
        copy (select * from filtered_lists order by filter) to {literal(Path.Combine(folder, ListsFile))} (format parquet, compression zstd);
        copy (select * from published_item_fields order by item_id) to {literal(Path.Combine(folder, ItemFieldsFile))} (format parquet, compression zstd);
        """;

    public const string PostgresSchema = """
        create table if not exists filtered_recommendations (
            version text collate "C" not null, filter text collate "C" not null, user_id text collate "C" not null,
            rank integer not null, item_id text collate "C" not null, score real not null
        ) partition by list (version);
        create unique index if not exists filtered_recommendations_read on filtered_recommendations (version, filter, user_id, rank);
        create table if not exists filtered_lists (
            version text collate "C" not null, filter text collate "C" not null, list_length integer not null,
            users bigint not null, short_lists bigint not null
        ) partition by list (version);
        create unique index if not exists filtered_lists_read on filtered_lists (version, filter);
        create table if not exists published_item_fields (
            version text collate "C" not null, item_id text collate "C" not null, field text collate "C" not null, value text not null,
            numeric boolean not null
        ) partition by list (version);
        create index if not exists published_item_fields_read on published_item_fields (version, item_id);
        """;

    /// <summary>Copies the version's rows into the staging tables <paramref name="staging"/> names, then indexes them
    /// as the parents are (so ATTACH adopts the indexes).</summary>
    public static async Task CopyPostgresAsync(NpgsqlConnection conn, Func<string, string> staging, string version, ScoreShardReader shards, CancellationToken ct)
    {
        await using (var importer = await conn.BeginBinaryImportAsync(
            $"copy {staging("filtered_recommendations")} (version, filter, user_id, rank, item_id, score) from stdin (format binary)", ct))
        {
            importer.Timeout = TimeSpan.FromMinutes(10);
            foreach (var batch in FilteredShardWriter.Batches(shards))
                using (batch)
                {
                    ct.ThrowIfCancellationRequested();
                    var (filters, users, ranks, items, scores) = Columns(batch);
                    for (int r = 0; r < batch.Length; r++)
                    {
                        importer.StartRow();
                        importer.Write(version, NpgsqlDbType.Text);
                        importer.Write(filters.GetString(r), NpgsqlDbType.Text);
                        importer.Write(users.GetString(r), NpgsqlDbType.Text);
                        importer.Write(ranks.Values[r], NpgsqlDbType.Integer);
                        importer.Write(items.GetString(r), NpgsqlDbType.Text);
                        importer.Write(scores.Values[r], NpgsqlDbType.Real);
                    }
                }
            await importer.CompleteAsync(ct);
        }
        await using (var importer = await conn.BeginBinaryImportAsync(
            $"copy {staging("filtered_lists")} (version, filter, list_length, users, short_lists) from stdin (format binary)", ct))
        {
            foreach (var fill in FilteredShardWriter.Fills(shards))
                await importer.WriteRowAsync(ct, version, fill.Filter, fill.ListLength, fill.Users, fill.ShortLists);
            await importer.CompleteAsync(ct);
        }
        await using (var importer = await conn.BeginBinaryImportAsync(
            $"copy {staging("published_item_fields")} (version, item_id, field, value, numeric) from stdin (format binary)", ct))
        {
            foreach (var (item, field, value, numeric) in ItemFields.Read(shards.VersionDir).Rows())
                await importer.WriteRowAsync(ct, version, item, field, value, numeric);
            await importer.CompleteAsync(ct);
        }
        await using var index = new NpgsqlCommand($"""
            create unique index on {staging("filtered_recommendations")} (version, filter, user_id, rank);
            create unique index on {staging("filtered_lists")} (version, filter);
            create index on {staging("published_item_fields")} (version, item_id);
            analyze {staging("filtered_recommendations")};
            """, conn) { CommandTimeout = 0 };
        await index.ExecuteNonQueryAsync(ct);
    }

    static (StringArray Filters, StringArray Users, Int32Array Ranks, StringArray Items, FloatArray Scores) Columns(RecordBatch batch) =>
        ((StringArray)batch.Column(0), (StringArray)batch.Column(1), (Int32Array)batch.Column(2), (StringArray)batch.Column(3), (FloatArray)batch.Column(4));

    static void Execute(DuckDBConnection conn, string sql)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
