using HrnnPipeline.Features;

namespace HrnnPipeline.Scoring.Publishing;

/// <summary>
/// Where published recommendations live: PostgreSQL for serving, or the DuckDB warehouse as the embedded default.
/// Both keep the same tables — <c>model_versions</c>, <c>recommendations</c>, <c>user_states</c>, <c>published_items</c>
/// and the one-row <c>active_version</c> pointer — with the same guarantees: a version's rows are loaded while
/// readers keep reading the active one, the pointer moves in one transaction once everything is loaded, and every
/// read takes the pointer and the rows from one snapshot, so no reader sees two versions mixed or a known user
/// without recommendations.
/// </summary>
public interface IRecommendationStore : IRecommendationReader
{
    /// <summary>Human-readable name for logs ("postgres", "duckdb").</summary>
    string Kind { get; }

    /// <summary>Creates the tables and indexes if they are missing (safe to call from several processes).</summary>
    Task EnsureSchemaAsync(CancellationToken ct = default);

    /// <summary>
    /// Loads a scored version and makes it the active one, then keeps only the newest
    /// <see cref="VersionToPublish.KeepVersions"/> versions' rows. Publishing a version again replaces its rows.
    /// </summary>
    Task<LoadCounts> PublishVersionAsync(VersionToPublish version, CancellationToken ct = default);

    /// <summary>Points back to the previous ready version and retires the current one; returns the version now active.</summary>
    Task<string> RollbackAsync(CancellationToken ct = default);

    /// <summary>All versions the store knows, newest first.</summary>
    Task<IReadOnlyList<ModelVersionRecord>> ListVersionsAsync(CancellationToken ct = default);
}

/// <summary>
/// What the read API needs: the active version's lists, stored states and item map, each read in one snapshot with
/// the active pointer. The stores implement it, and so does <see cref="ExportedVersionReader"/> (the Parquet exports).
/// </summary>
public interface IRecommendationReader : IAsyncDisposable
{
    Task<string?> GetActiveVersionAsync(CancellationToken ct = default);

    /// <summary>The user's top <paramref name="k"/> in the active version, read in one snapshot with the pointer.</summary>
    Task<RecommendationLookup> GetRecommendationsAsync(string userId, int k, CancellationToken ct = default);

    /// <summary>The user's stored session state s_0 in the active version, read in one snapshot with the pointer.</summary>
    Task<SessionStateLookup> GetSessionStateAsync(string userId, CancellationToken ct = default);

    /// <summary>Dense item index of each known item id in <paramref name="version"/>'s item map (unknown ids are absent).</summary>
    Task<IReadOnlyDictionary<string, int>> ResolveItemIdsAsync(string version, IReadOnlyCollection<string> itemIds, CancellationToken ct = default);

    /// <summary>Item id of each known dense index in <paramref name="version"/>'s item map (unknown indexes are absent).</summary>
    Task<IReadOnlyDictionary<int, string>> GetItemIdsAsync(string version, IReadOnlyCollection<int> itemIdx, CancellationToken ct = default);
}

/// <summary>A scored version ready to load: its complete shards and the item map it was scored with.</summary>
public sealed record VersionToPublish(
    string Version,
    ScoreShardReader Shards,
    IdMap Items,
    string TrainingSummaryJson,
    string? EvaluationSummaryJson,
    int KeepVersions = 3);

public sealed record LoadCounts(long Rows, long Users, int ListLength);

public static class ModelVersionStatus
{
    public const string Loading = "loading";
    public const string Ready = "ready";
    public const string Active = "active";
    public const string Retired = "retired";
    public const string Failed = "failed";
}

public sealed record ModelVersionRecord(
    string Version,
    string Status,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ActivatedAt,
    string TrainingSummaryJson,
    string? EvaluationSummaryJson,
    int ListLength,
    long Users,
    long Rows,
    string ScoringMode);

/// <summary>One listed item; <see cref="PredictedValue"/>: the outcome the model predicts for it (binary and
/// regression models, see Training:Outcome), null otherwise and for cold items placed by their metadata.</summary>
public sealed record RecommendedItem(string ItemId, float Score, int Rank, float? PredictedValue = null)
{
    /// <summary>The stored predicted value at <paramref name="ordinal"/>: null when absent (NULL, or NaN for an item
    /// the model gave none).</summary>
    public static float? PredictedValueAt(System.Data.Common.DbDataReader reader, int ordinal)
    {
        if (reader.IsDBNull(ordinal)) return null;
        float value = reader.GetFloat(ordinal);
        return float.IsNaN(value) ? null : value;
    }
}

/// <summary>
/// A read of the active version: <see cref="Version"/> is null when nothing is published yet; <see cref="Items"/>
/// is empty when the user is unknown in that version; <see cref="ListLength"/> is how many items each user has.
/// </summary>
public sealed record RecommendationLookup(string? Version, int ListLength, IReadOnlyList<RecommendedItem> Items);

/// <summary>
/// <see cref="Version"/> is null when nothing is published; <see cref="SessionState"/> is null for an unknown user.
/// </summary>
public sealed record SessionStateLookup(string? Version, int ListLength, float[]? SessionState, float[]? UserState = null);

/// <summary>The opening step both stores' <c>OpenAsync</c> share.</summary>
static class OpenedStore
{
    /// <summary>Hands out <paramref name="store"/> once its tables exist; one that cannot get them is disposed.</summary>
    public static async Task<T> EnsureSchemaAsync<T>(T store, CancellationToken ct) where T : IRecommendationStore
    {
        try
        {
            await store.EnsureSchemaAsync(ct);
            return store;
        }
        catch
        {
            await store.DisposeAsync();
            throw;
        }
    }
}
