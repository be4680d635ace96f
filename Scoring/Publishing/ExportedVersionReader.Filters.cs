using HrnnPipeline.Scoring.Filters;

namespace HrnnPipeline.Scoring.Publishing;

public sealed partial class ExportedVersionReader : IFilteredListReader
{
    public Task<FilteredLookup> GetFilteredRecommendationsAsync(string userId, string filter, CancellationToken ct = default)
    {
        if (ExportPointer.Read(exportsRoot) is not { } active) return Task.FromResult(new FilteredLookup(null, false, null, []));
        bool known = false;
        Query(active.Version, ParquetExport.UserStatesFile, "select count(*) from {0} where user_id = $user_id",
            [("user_id", userId)], r => known = r.GetInt64(0) > 0);
        // An export of a version scored before filters existed has no filtered files: it carries no filtered list.
        if (!File.Exists(Path.Combine(Path.GetFullPath(exportsRoot), active.Version, FilteredListTables.ListsFile)))
            return Task.FromResult(new FilteredLookup(active.Version, known, null, []));
        FilteredListInfo? list = null;
        Query(active.Version, FilteredListTables.ListsFile, "select list_length, users, short_lists from {0} where filter = $filter",
            [("filter", filter)], r => list = new FilteredListInfo(r.GetInt32(0), r.GetInt64(1), r.GetInt64(2)));
        var items = new List<RecommendedItem>();
        if (list is not null)
            Query(active.Version, FilteredListTables.RecommendationsFile,
                "select rank, item_id, score from {0} where filter = $filter and user_id = $user_id order by rank",
                [("filter", filter), ("user_id", userId)],
                r => items.Add(new RecommendedItem(r.GetString(1), r.GetFloat(2), r.GetInt32(0))));
        return Task.FromResult(new FilteredLookup(active.Version, known, list, items));
    }

    public Task<ItemFields> GetItemFieldsAsync(string version, IReadOnlyCollection<string> itemIds, CancellationToken ct = default)
    {
        var rows = new List<(string, string, string, bool)>();
        if (itemIds.Count > 0 && File.Exists(Path.Combine(Path.GetFullPath(exportsRoot), version, FilteredListTables.ItemFieldsFile)))
            Query(version, FilteredListTables.ItemFieldsFile, "select item_id, field, value, numeric from {0} where list_contains($ids, item_id)",
                [("ids", itemIds.ToList())], r => rows.Add((r.GetString(0), r.GetString(1), r.GetString(2), r.GetBoolean(3))));
        return Task.FromResult(ItemFields.FromRows(rows));
    }
}
