using HrnnPipeline.Features;
using HrnnPipeline.Training;
using TorchSharp;

namespace HrnnPipeline.Evaluation;

/// <summary>
/// The RNN family (hrnn-init, hrnn-all, rnn, rnn-concat) in the evaluation harness. It trains on the <c>fit</c> split
/// with early stopping on <c>valid</c> (never on the test split), then ranks each test session with the user's
/// whole training history run through the model first (Quadrana et al. 2017 sec. 4.3).
/// </summary>
public sealed class RnnRanker(HrnnSettings settings, SessionDataset fit, SessionDataset? valid, string checkpointDir,
    torch.Device device, string? name = null) : IRanker, IDisposable
{
    TrainedModel? _trained;
    int _catalogue;
    int[] _cold = [];

    /// <summary>The model's name, or the caller's (e.g. "default" for what `run` trains).</summary>
    public string Name => name ?? HrnnSettings.ModelName(settings.Model);

    /// <summary>HRNN predicts a session's first item from its initial state when trained for it; rnn-concat from the
    /// end of the previous session; a session-only rnn cannot.</summary>
    public bool CanRankSessionStart => RanksSessionStart(settings);

    internal static bool RanksSessionStart(HrnnSettings settings) =>
        settings.Model == ModelKind.RnnConcat || (settings.HasUserGru && settings.SessionStartWeight > 0);

    public TrainResult? Result { get; private set; }

    /// <summary>The prepared folder's metadata, which the model reads unless its settings turn it off.</summary>
    public MetadataSource? Metadata { get; init; }

    /// <summary>The trained model (null before <see cref="Fit"/>).</summary>
    public HrnnModel? Model => _trained?.Model;

    /// <summary>Trains once: early stopping on the fit/valid split given at construction (it never sees the sessions it
    /// is evaluated on), then, with <see cref="HrnnSettings.Refit"/>, again on <paramref name="train"/> (fit + valid),
    /// the data the baselines fit, for the chosen number of epochs.</summary>
    public void Fit(SessionDataset train, IdMap items)
    {
        if (_trained is not null) return;
        _catalogue = items.TableSize;
        _cold = Ranking.ColdItems(items.Counts);
        _trained = HrnnTrainer.TrainAndRefit(settings, items, fit, valid, items, train, device, checkpointDir, resume: false, metadata: Metadata);
        Result = _trained.Result;
    }

    public IEnumerable<Prediction> Rank(SessionDataset history, SessionDataset test, int topK, CancellationToken ct) =>
        RankWith(_trained?.Model ?? throw new InvalidOperationException("Fit must run before Rank"), device, history, test, topK,
            _catalogue, ct, MinOutcome, _cold);

    /// <summary>Binary and regression models: items predicted below this rank after all others (null: the mode's default).</summary>
    public double? MinOutcome { get; init; }

    /// <summary>Every test prediction of a trained model, each user's history run through it first, ranked among the
    /// evaluated catalogue's <paramref name="catalogue"/> table rows (as the baselines rank), not the items only
    /// metadata knows after them.</summary>
    internal static IEnumerable<Prediction> RankWith(HrnnModel model, torch.Device device, SessionDataset history, SessionDataset test,
        int topK, int catalogue, CancellationToken ct, double? minOutcome = null, int[]? cold = null)
    {
        var settings = model.Settings;
        var (data, evaluated) = UserHistories.Join(history, test);
        var predictions = new List<Prediction>();
        var isCold = new HashSet<int>(cold ?? []);
        bool starts = RanksSessionStart(settings);
        new HrnnInference(model, device).Run(
            new HrnnInference.Request(data, Math.Max(settings.BatchSize, 256), topK)
            {
                EvalSessions = evaluated, MinOutcome = OutcomeFilter.Threshold(settings, minOutcome), RankedItems = catalogue,
                ColdItems = cold,
            },
            rows =>
            {
                for (int i = 0; i < rows.Rank.Length; i++)
                {
                    if (rows.Position[i] == 0 && !starts) continue;
                    predictions.Add(new Prediction(data.Users[rows.UserBlock[i]], rows.Position[i], rows.Target[i],
                        (int)rows.Rank[i], rows.TopK.AsSpan(i * rows.K, rows.K).ToArray(), rows.NaNTarget[i],
                        Predicted: rows.Predicted?[i],
                        ColdRank: rows.RankAmongCold is { } among && isCold.Contains(rows.Target[i]) ? (int)among[i] : null));
                }
            }, null, ct);
        // The harness pairs predictions across models by (user, position): keep a stable order.
        return predictions.OrderBy(p => p.UserIdx).ThenBy(p => p.Position);
    }

    public void Dispose() => _trained?.Dispose();
}
