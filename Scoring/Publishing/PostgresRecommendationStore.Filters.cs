using HrnnPipeline.Scoring.Filters;
using Npgsql;
using NpgsqlTypes;

namespace HrnnPipeline.Scoring.Publishing;

public sealed partial class PostgresRecommendationStore : IFilteredListReader
{
    public async Task<FilteredLookup> GetFilteredRecommendationsAsync(string userId, string filter, CancellationToken ct = default)
    {
        try
        {
            // The version as a scalar subquery, as for the unfiltered lists, so the executor prunes to its partitions.
            await using var conn = await OpenConnectionAsync(ct);
            await using var cmd = new NpgsqlCommand("""
                select a.version,
                       exists (select 1 from user_states s where s.version = (select version from active_version) and s.user_id = $1),
                       l.list_length, l.users, l.short_lists, r.rank, r.item_id, r.score
                from active_version a
                left join filtered_lists l on l.version = (select version from active_version) and l.filter = $2
                left join filtered_recommendations r
                    on r.version = (select version from active_version) and r.filter = $2 and r.user_id = $1
                order by r.rank
                """, conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = userId, NpgsqlDbType = NpgsqlDbType.Text });
            cmd.Parameters.Add(new NpgsqlParameter { Value = filter, NpgsqlDbType = NpgsqlDbType.Text });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            return FilteredRows.Read(reader);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return new FilteredLookup(null, false, null, []);
        }
    }

    public async Task<ItemFields> GetItemFieldsAsync(string version, IReadOnlyCollection<string> itemIds, CancellationToken ct = default)
    {
        if (itemIds.Count == 0) return ItemFields.Empty;
        await using var conn = await OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(
            "select item_id, field, value, numeric from published_item_fields where version = $1 and item_id = any($2)", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = version, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = itemIds.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return FilteredRows.ItemFields(reader);
    }
}
