using System.Collections.Concurrent;
using DuckDB.NET.Data;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Scoring.Publishing;

/// <summary>
/// Which exported version is active: <c>&lt;exports&gt;/active-version.json</c>, replaced atomically by every publish
/// and rollback, whichever store they went to. The read API of a host without a configured PostgreSQL serves it.
/// </summary>
public static class ExportPointer
{
    public const string FileName = "active-version.json";

    public sealed record Active(string Version, int ListLength);

    public static void Write(string exportsRoot, string version, int listLength) =>
        Json.Write(Path.Combine(exportsRoot, FileName), new Active(version, listLength));

    /// <summary>The active export, or null when nothing has been published from this work folder.</summary>
    public static Active? Read(string exportsRoot)
    {
        var path = Path.Combine(exportsRoot, FileName);
        if (!File.Exists(path)) return null;
        var active = Json.Read<Active>(path);
        ScoreShardFiles.ValidateVersion(active.Version);
        return active;
    }
}

/// <summary>
/// The read API's view of what was published from a work folder, read from the Parquet exports. Those files never
/// change once committed, so this reader takes no lock that the pipeline's stages (which write the DuckDB
/// warehouse, possibly from other processes) could collide with. Each read takes the pointer once and every row
/// from that version's files, so a switch never mixes two versions.
/// </summary>
public sealed partial class ExportedVersionReader(string exportsRoot) : IRecommendationReader
{
    // In-memory DuckDB connections that only read Parquet: one per concurrent request, reused.
    readonly ConcurrentBag<DuckDBConnection> _idle = [];

    public Task<string?> GetActiveVersionAsync(CancellationToken ct = default) =>
        Task.FromResult(ExportPointer.Read(exportsRoot)?.Version);

    public Task<RecommendationLookup> GetRecommendationsAsync(string userId, int k, CancellationToken ct = default)
    {
        if (ExportPointer.Read(exportsRoot) is not { } active) return Task.FromResult(new RecommendationLookup(null, 0, []));
        var items = new List<RecommendedItem>();
        (int Rank, int Item, int Score, int Value)? columns = null;
        Query(active.Version, ParquetExport.RecommendationsFile,
            // Every column: exports of versions published before outcome values have no predicted_value.
            "select * from {0} where user_id = $user_id and rank <= $k order by rank",
            [("user_id", userId), ("k", k)],
            r =>
            {
                var (rank, item, score, value) = columns ??= (r.GetOrdinal("rank"), r.GetOrdinal("item_id"), r.GetOrdinal("score"),
                    Enumerable.Range(0, r.FieldCount).FirstOrDefault(i => r.GetName(i) == "predicted_value", -1));
                items.Add(new RecommendedItem(r.GetString(item), r.GetFloat(score), r.GetInt32(rank),
                    value < 0 ? null : RecommendedItem.PredictedValueAt(r, value)));
            });
        return Task.FromResult(new RecommendationLookup(active.Version, active.ListLength, items));
    }

    public Task<SessionStateLookup> GetSessionStateAsync(string userId, CancellationToken ct = default)
    {
        if (ExportPointer.Read(exportsRoot) is not { } active) return Task.FromResult(new SessionStateLookup(null, 0, null));
        float[]? session = null, user = null;
        Query(active.Version, ParquetExport.UserStatesFile,
            "select session_state, user_state from {0} where user_id = $user_id",
            [("user_id", userId)],
            r =>
            {
                session = r.GetFieldValue<List<float>>(0).ToArray();
                user = r.GetFieldValue<List<float>>(1).ToArray();
            });
        return Task.FromResult(new SessionStateLookup(active.Version, active.ListLength, session, user));
    }

    public Task<IReadOnlyDictionary<string, int>> ResolveItemIdsAsync(string version, IReadOnlyCollection<string> itemIds, CancellationToken ct = default)
    {
        var found = new Dictionary<string, int>(StringComparer.Ordinal);
        if (itemIds.Count > 0)
            Query(version, ParquetExport.ItemsFile, "select item_id, item_idx from {0} where list_contains($ids, item_id)",
                [("ids", itemIds.ToList())], r => found[r.GetString(0)] = r.GetInt32(1));
        return Task.FromResult<IReadOnlyDictionary<string, int>>(found);
    }

    public Task<IReadOnlyDictionary<int, string>> GetItemIdsAsync(string version, IReadOnlyCollection<int> itemIdx, CancellationToken ct = default)
    {
        var found = new Dictionary<int, string>();
        if (itemIdx.Count > 0)
            Query(version, ParquetExport.ItemsFile, "select item_idx, item_id from {0} where list_contains($idx, item_idx)",
                [("idx", itemIdx.ToList())], r => found[r.GetInt32(0)] = r.GetString(1));
        return Task.FromResult<IReadOnlyDictionary<int, string>>(found);
    }

    public ValueTask DisposeAsync()
    {
        while (_idle.TryTake(out var conn)) conn.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Runs <paramref name="sql"/> with {0} standing for the version's Parquet file.</summary>
    void Query(string version, string file, string sql, (string Name, object Value)[] parameters, Action<System.Data.Common.DbDataReader> row)
    {
        ScoreShardFiles.ValidateVersion(version);
        var path = Path.Combine(Path.GetFullPath(exportsRoot), version, file);
        if (!File.Exists(path))
            throw new PipelineException($"{path}: the export of the active version {version} is missing; publish it again", isPermanent: false);
        if (!_idle.TryTake(out var conn))
        {
            conn = new DuckDBConnection("Data Source=:memory:");
            conn.Open();
        }
        try
        {
            using var cmd = conn.CreateCommand();
            // A table function's argument cannot be a parameter: the path goes in as a quoted literal.
            cmd.CommandText = string.Format(System.Globalization.CultureInfo.InvariantCulture, sql,
                $"read_parquet('{path.Replace("'", "''", StringComparison.Ordinal)}')");
            foreach (var (name, value) in parameters) cmd.Parameters.Add(new DuckDBParameter(name, value));
            using var reader = cmd.ExecuteReader();
            while (reader.Read()) row(reader);
            _idle.Add(conn);
        }
        catch
        {
            conn.Dispose();
            throw;
        }
    }
}
