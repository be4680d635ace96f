using HrnnPipeline.Scoring.Filters;

namespace HrnnPipeline.Scoring.Publishing;

/// <summary>What a version says of one filter's lists: their length, how many users, how many came out short.</summary>
public sealed record FilteredListInfo(int ListLength, long Users, long ShortLists);

/// <summary>
/// A read of a user's list under a filter in the active version, in one snapshot with the pointer:
/// <see cref="Version"/> null when nothing is published; <see cref="List"/> null when that version carries no list for
/// the filter (scored before it was configured); <see cref="UserKnown"/> whether the user is in the version at all.
/// </summary>
public sealed record FilteredLookup(string? Version, bool UserKnown, FilteredListInfo? List, IReadOnlyList<RecommendedItem> Items);

/// <summary>The filtered lists and item fields of the published versions (see <see cref="FilteredListTables"/>).</summary>
public interface IFilteredListReader
{
    Task<FilteredLookup> GetFilteredRecommendationsAsync(string userId, string filter, CancellationToken ct = default);

    /// <summary>The published metadata of <paramref name="itemIds"/> in <paramref name="version"/>.</summary>
    Task<ItemFields> GetItemFieldsAsync(string version, IReadOnlyCollection<string> itemIds, CancellationToken ct = default);
}
