using HrnnPipeline.Features;
using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>
/// What an <see cref="HrnnModel"/> is built with when there is metadata: how to make its item metadata embedding (one
/// row per row of the model's item map) and its user metadata embedding (one row per user of users.arrow), and from
/// which items' id rows are never trained (<see cref="ColdRows"/>: items only metadata knows, and items no training event
/// has, as the cold items of a cold-start split).
/// </summary>
public sealed record ModelMetadata(MetadataEmbedding.Factory? Items, MetadataEmbedding.Factory? Users, int[]? ColdRows = null)
{
    public const string ItemPrefix = "metadata.items";
    public const string UserPrefix = "metadata.users";

    /// <summary>The metadata a model over <paramref name="items"/> (the map from <see cref="MetadataSource.ExtendItems"/>)
    /// trains with; null when <see cref="HrnnSettings.Metadata"/> is off or there is none.</summary>
    public static ModelMetadata? For(HrnnSettings settings, MetadataSource? source, IdMap items)
    {
        if (!settings.Metadata || source is null) return null;
        MetadataEmbedding.Factory? itemFactory = source.Items is { } table
            ? width => MetadataEmbedding.Build("item_metadata", table, items.Ids, width)
            : null;
        MetadataEmbedding.Factory? userFactory = source.Users is { } users && source.UserMap is { } map && settings.HasUserGru
            ? width => MetadataEmbedding.Build("user_metadata", users, map.Ids, width)
            : null;
        return itemFactory is null && userFactory is null ? null : new ModelMetadata(itemFactory, userFactory,
            Enumerable.Range(items.FirstIndex, items.Count).Where(i => items.Counts[i] == 0).ToArray());
    }

    /// <summary>The metadata a saved model was trained with (its feature tensors); null for a model without.</summary>
    public static ModelMetadata? Load(IReadOnlyDictionary<string, Tensor> tensors)
    {
        bool items = tensors.ContainsKey($"{ItemPrefix}.vocab"), users = tensors.ContainsKey($"{UserPrefix}.vocab");
        if (!items && !users) return null;
        return new ModelMetadata(
            items ? width => MetadataEmbedding.Load("item_metadata", ItemPrefix, tensors, width)! : null,
            users ? width => MetadataEmbedding.Load("user_metadata", UserPrefix, tensors, width)! : null);
    }
}
