using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;

namespace HrnnPipeline.Evaluation;

/// <summary>
/// A model version from the model store in the evaluation harness, exactly as `train` left it (its weights and its
/// reminder mix, no retraining): the figures are of the version itself, which is what publishing may attach to it.
/// The version must have been trained on the prepared data's item map.
/// </summary>
public sealed class StoredModelRanker : IRanker, IDisposable
{
    readonly ModelStore.LoadedModel _loaded;
    readonly int _catalogue;
    readonly int[] _cold;

    public StoredModelRanker(ModelStore.LoadedModel loaded, IdMap preparedItems)
    {
        // A model that reads metadata has the items only metadata knows after the prepared map's items.
        if (!loaded.Items.Ids.AsSpan().StartsWith(preparedItems.Ids))
            throw new PipelineException(
                $"model version {loaded.Version} was trained on another item map ({loaded.Items.Count:N0} items) than the prepared data ({preparedItems.Count:N0}); evaluate it on the data it was trained on");
        _loaded = loaded;
        _catalogue = preparedItems.TableSize;
        _cold = Ranking.ColdItems(preparedItems.Counts);
    }

    /// <summary>The version id: the report's row and the evaluation's <c>model_version</c>.</summary>
    public string Name => _loaded.Version;

    public HrnnModel Model => _loaded.Model;

    public bool CanRankSessionStart => RnnRanker.RanksSessionStart(_loaded.Model.Settings);

    /// <summary>Nothing to learn: the version is evaluated as stored.</summary>
    public void Fit(SessionDataset train, IdMap items)
    {
    }

    public IEnumerable<Prediction> Rank(SessionDataset history, SessionDataset test, int topK, CancellationToken ct) =>
        RnnRanker.RankWith(_loaded.Model, _loaded.Device, history, test, topK, _catalogue, ct, cold: _cold);

    public void Dispose() => _loaded.Dispose();
}
