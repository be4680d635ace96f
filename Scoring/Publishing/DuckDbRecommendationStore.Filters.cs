using HrnnPipeline.Scoring.Filters;

namespace HrnnPipeline.Scoring.Publishing;

public sealed partial class DuckDbRecommendationStore : IFilteredListReader
{
    public Task<FilteredLookup> GetFilteredRecommendationsAsync(string userId, string filter, CancellationToken ct = default)
    {
        // One statement, one snapshot, as for the unfiltered lists.
        using var conn = Open();
        using var cmd = Command(conn, """
            select a.version,
                   exists (select 1 from user_states s where s.version = a.version and s.user_id = $user_id),
                   l.list_length, l.users, l.short_lists, r.rank, r.item_id, r.score
            from active_version a
            left join filtered_lists l on l.version = a.version and l.filter = $filter
            left join filtered_recommendations r on r.version = a.version and r.filter = $filter and r.user_id = $user_id
            order by r.rank
            """, ("user_id", userId), ("filter", filter));
        using var reader = cmd.ExecuteReader();
        return Task.FromResult(FilteredRows.Read(reader));
    }

    public Task<ItemFields> GetItemFieldsAsync(string version, IReadOnlyCollection<string> itemIds, CancellationToken ct = default)
    {
        if (itemIds.Count == 0) return Task.FromResult(ItemFields.Empty);
        using var conn = Open();
        using var cmd = Command(conn, "select item_id, field, value, numeric from published_item_fields where version = $version and list_contains($ids, item_id)",
            ("version", version), ("ids", itemIds.ToList()));
        using var reader = cmd.ExecuteReader();
        return Task.FromResult(FilteredRows.ItemFields(reader));
    }
}

/// <summary>The row shapes every filtered-list reader shares.</summary>
static class FilteredRows
{
    /// <summary>Rows of (version, known, list_length, users, short_lists, rank, item_id, score).</summary>
    public static FilteredLookup Read(System.Data.Common.DbDataReader reader)
    {
        string? version = null;
        bool known = false;
        FilteredListInfo? list = null;
        var items = new List<RecommendedItem>();
        while (reader.Read())
        {
            version = reader.GetString(0);
            known = reader.GetBoolean(1);
            if (!reader.IsDBNull(2)) list = new FilteredListInfo(reader.GetInt32(2), reader.GetInt64(3), reader.GetInt64(4));
            if (!reader.IsDBNull(5)) items.Add(new RecommendedItem(reader.GetString(6), reader.GetFloat(7), reader.GetInt32(5)));
        }
        return new FilteredLookup(version, known, list, items);
    }

    /// <summary>Rows of (item_id, field, value, numeric).</summary>
    public static ItemFields ItemFields(System.Data.Common.DbDataReader reader)
    {
        var rows = new List<(string, string, string, bool)>();
        while (reader.Read()) rows.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetBoolean(3)));
        return Filters.ItemFields.FromRows(rows);
    }
}
