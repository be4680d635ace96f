namespace HrnnPipeline.Scoring.Publishing;

/// <summary>
/// The published filtered lists, beside a version's unfiltered ones, in both stores and the Parquet export:
/// <c>filtered_recommendations</c> (version, filter, user_id, rank, item_id, score), <c>filtered_lists</c> (version,
/// filter, list_length, users, short_lists: which filters the version carries) and <c>published_item_fields</c>
/// (version, item_id, field, value: the item metadata the read API's per-request filter parameters are checked
/// against). Tables of their own, so the unfiltered tables (and their readers) are untouched; they follow the same
/// version rules (loaded beside the others, switched in the same transaction, pruned with the version). Their
/// columns are declared with the others in <see cref="StoreSchema"/>; this class names their export files (<see cref="ParquetExport"/>).
/// </summary>
public static class FilteredListTables
{
    public const string RecommendationsFile = "filtered_recommendations.parquet";
    public const string ListsFile = "filtered_lists.parquet";
    public const string ItemFieldsFile = "item_fields.parquet";

}
