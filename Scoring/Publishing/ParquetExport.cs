using DuckDB.NET.Data;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Scoring.Publishing;

/// <summary>
/// Parquet copies of a published version for batch consumers: <c>&lt;exports&gt;/&lt;version&gt;/</c> holds
/// <c>recommendations.parquet</c>, <c>user_states.parquet</c> and <c>items.parquet</c> (and the filtered lists'
/// files, <see cref="FilteredListTables"/>), each a per-version table of the stores in its <see cref="StoreTable.SortKey"/> order. The files are written in a
/// side folder (through a scratch DuckDB file, whose COPY ... TO writes Parquet) and only moved into place by
/// <see cref="Commit"/>, after the store has the version, so an export never describes a version that failed.
/// </summary>
public sealed class ParquetExport
{
    public const string RecommendationsFile = "recommendations.parquet";
    public const string UserStatesFile = "user_states.parquet";
    public const string ItemsFile = "items.parquet";

    readonly string _partial;

    ParquetExport(string directory)
    {
        Directory = directory;
        _partial = directory + ".partial";
    }

    /// <summary>Where the files are once committed.</summary>
    public string Directory { get; }

    /// <summary>Writes the version's Parquet files into a side folder next to <c>&lt;exports&gt;/&lt;version&gt;</c>.</summary>
    public static async Task<ParquetExport> WriteAsync(string exportsRoot, string version, ScoreShardReader shards, IdMap items, CancellationToken ct)
    {
        ScoreShardFiles.ValidateVersion(version);
        var export = new ParquetExport(Path.Combine(Path.GetFullPath(exportsRoot), version));
        await export.WritePartialAsync(version, shards, items, ct);
        return export;
    }

    /// <summary>The file each per-version table is exported to.</summary>
    static string FileOf(StoreTable table) => table.Name switch
    {
        "recommendations" => RecommendationsFile,
        "user_states" => UserStatesFile,
        "published_items" => ItemsFile,
        "filtered_recommendations" => FilteredListTables.RecommendationsFile,
        "filtered_lists" => FilteredListTables.ListsFile,
        "published_item_fields" => FilteredListTables.ItemFieldsFile,
        _ => throw new ArgumentOutOfRangeException(nameof(table), table.Name, "not a per-version table"),
    };

    async Task WritePartialAsync(string version, ScoreShardReader shards, IdMap items, CancellationToken ct)
    {
        if (System.IO.Directory.Exists(_partial)) System.IO.Directory.Delete(_partial, recursive: true);
        System.IO.Directory.CreateDirectory(_partial);
        var scratch = Path.Combine(_partial, "scratch.duckdb");
        try
        {
            using (var conn = new DuckDBConnection($"Data Source={scratch}"))
            {
                conn.Open();
                Execute(conn, StoreSchema.DuckDbCreateOrReplaceSql(table => table));
                await ShardRows.LoadAsync((table, _) => DuckDbAppenderSink.OpenAsync(conn, table.Name), version, shards, items, ct);
                ct.ThrowIfCancellationRequested();
                // COPY ... TO takes no parameters for its target: the path is quoted as a literal instead.
                Execute(conn, string.Concat(StoreSchema.VersionTables.Select(t =>
                    $"copy (select * from {t.Name} order by {t.SortKey}) to {Literal(Path.Combine(_partial, FileOf(t)))} (format parquet, compression zstd);\n")));
            }
        }
        catch
        {
            Discard();
            throw;
        }
        finally
        {
            File.Delete(scratch);
            File.Delete(scratch + ".wal");
        }
    }

    /// <summary>Moves the files into <see cref="Directory"/>, replacing an earlier export of the same version.</summary>
    public void Commit()
    {
        var old = Directory + ".old";
        if (System.IO.Directory.Exists(old)) System.IO.Directory.Delete(old, recursive: true);
        if (System.IO.Directory.Exists(Directory)) System.IO.Directory.Move(Directory, old);
        System.IO.Directory.Move(_partial, Directory);
        if (System.IO.Directory.Exists(old)) System.IO.Directory.Delete(old, recursive: true);
    }

    /// <summary>Removes the side folder; an earlier committed export stays as it was.</summary>
    public void Discard()
    {
        try
        {
            if (System.IO.Directory.Exists(_partial)) System.IO.Directory.Delete(_partial, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: the next export of this version starts by clearing the side folder anyway.
        }
    }

    static string Literal(string path) => "'" + path.Replace("'", "''", StringComparison.Ordinal) + "'";

    static void Execute(DuckDBConnection conn, string sql)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
