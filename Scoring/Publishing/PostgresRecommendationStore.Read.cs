using Npgsql;
using NpgsqlTypes;

namespace HrnnPipeline.Scoring.Publishing;

public sealed partial class PostgresRecommendationStore
{
    public async Task<string?> GetActiveVersionAsync(CancellationToken ct = default)
    {
        try
        {
            await using var conn = await OpenConnectionAsync(ct);
            return await ScalarAsync<string>(conn, "select version from active_version", ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            // The tables come with the first publish: before it, a read finds nothing published, not an error.
            return null;
        }
    }

    public async Task<IReadOnlyList<ModelVersionRecord>> ListVersionsAsync(CancellationToken ct = default)
    {
        await using var conn = await OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand("""
            select version, status, created_at, activated_at, training_summary::text, evaluation_summary::text,
                   list_length, users, recommendation_rows, coalesce(scoring_mode, 'exact')
            from model_versions
            order by coalesce(activated_at, created_at) desc, created_at desc
            """, conn);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var versions = new List<ModelVersionRecord>();
        while (await reader.ReadAsync(ct))
            versions.Add(new ModelVersionRecord(
                reader.GetString(0), reader.GetString(1),
                reader.GetFieldValue<DateTimeOffset>(2),
                reader.IsDBNull(3) ? null : reader.GetFieldValue<DateTimeOffset>(3),
                reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.GetInt32(6), reader.GetInt64(7), reader.GetInt64(8), reader.GetString(9)));
        return versions;
    }

    public async Task<RecommendationLookup> GetRecommendationsAsync(string userId, int k, CancellationToken ct = default)
    {
        try
        {
            // One statement, one snapshot: the pointer and the rows can't come from two different versions. The
            // version is a scalar subquery so it is known before the scan: the executor prunes to that version's
            // partition and probes its (version, user_id, rank) index, whatever the planner guesses about the join.
            await using var conn = await OpenConnectionAsync(ct);
            await using var cmd = new NpgsqlCommand("""
                select a.version, v.list_length, r.rank, r.item_id, r.score, r.predicted_value
                from active_version a
                join model_versions v on v.version = a.version
                left join recommendations r
                    on r.version = (select version from active_version) and r.user_id = $1 and r.rank <= $2
                order by r.rank
                """, conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = userId, NpgsqlDbType = NpgsqlDbType.Text });
            cmd.Parameters.Add(new NpgsqlParameter { Value = k, NpgsqlDbType = NpgsqlDbType.Integer });
            // Prepared once per pooled connection: planning this partition-pruned join cost more than running it.
            await cmd.PrepareAsync(ct);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            string? version = null;
            int listLength = 0;
            var items = new List<RecommendedItem>();
            while (await reader.ReadAsync(ct))
            {
                version = reader.GetString(0);
                listLength = reader.GetInt32(1);
                if (!reader.IsDBNull(2))
                    items.Add(new RecommendedItem(reader.GetString(3), reader.GetFloat(4), reader.GetInt32(2), RecommendedItem.PredictedValueAt(reader, 5)));
            }
            return new RecommendationLookup(version, listLength, items);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            // The tables come with the first publish: before it, a read finds nothing published, not an error.
            return new RecommendationLookup(null, 0, []);
        }
    }

    public async Task<SessionStateLookup> GetSessionStateAsync(string userId, CancellationToken ct = default)
    {
        try
        {
            await using var conn = await OpenConnectionAsync(ct);
            await using var cmd = new NpgsqlCommand("""
                select a.version, v.list_length, s.session_state, s.user_state
                from active_version a
                join model_versions v on v.version = a.version
                left join user_states s on s.version = (select version from active_version) and s.user_id = $1
                """, conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = userId, NpgsqlDbType = NpgsqlDbType.Text });
            await cmd.PrepareAsync(ct);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            if (!await reader.ReadAsync(ct)) return new SessionStateLookup(null, 0, null);
            return new SessionStateLookup(reader.GetString(0), reader.GetInt32(1),
                reader.IsDBNull(2) ? null : reader.GetFieldValue<float[]>(2),
                reader.IsDBNull(3) ? null : reader.GetFieldValue<float[]>(3));
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            // The tables come with the first publish: before it, a read finds nothing published, not an error.
            return new SessionStateLookup(null, 0, null);
        }
    }

    public async Task<IReadOnlyDictionary<string, int>> ResolveItemIdsAsync(string version, IReadOnlyCollection<string> itemIds, CancellationToken ct = default) =>
        await ItemMapAsync<string, int>(version, itemIds, "item_id", "item_idx", NpgsqlDbType.Text, StringComparer.Ordinal, ct);

    public async Task<IReadOnlyDictionary<int, string>> GetItemIdsAsync(string version, IReadOnlyCollection<int> itemIdx, CancellationToken ct = default) =>
        await ItemMapAsync<int, string>(version, itemIdx, "item_idx", "item_id", NpgsqlDbType.Integer, null, ct);

    /// <summary>The item map of <paramref name="version"/> from column <paramref name="from"/> to <paramref name="to"/>, for the keys given.</summary>
    async Task<Dictionary<TFrom, TTo>> ItemMapAsync<TFrom, TTo>(string version, IReadOnlyCollection<TFrom> keys, string from, string to,
        NpgsqlDbType keyType, IEqualityComparer<TFrom>? comparer, CancellationToken ct) where TFrom : notnull
    {
        var found = new Dictionary<TFrom, TTo>(comparer);
        if (keys.Count == 0) return found;
        await using var conn = await OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand($"select {from}, {to} from published_items where version = $1 and {from} = any($2)", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = version, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = keys.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | keyType });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) found[reader.GetFieldValue<TFrom>(0)] = reader.GetFieldValue<TTo>(1);
        return found;
    }
}
