using HrnnPipeline.Features;

namespace HrnnPipeline.Evaluation;

/// <summary>
/// A model under evaluation: baselines learn in <see cref="Fit"/>, RNN adapters may arrive already trained and
/// make it a no-op. <see cref="Rank"/> ranks ALL catalogue items 1..N for every prediction of the protocol
/// (Quadrana et al. 2017 sec. 4.2): next item at positions 1..n-1 of each test session and, when
/// <see cref="CanRankSessionStart"/>, the first item (position 0) from the user's history alone.
/// </summary>
public interface IRanker
{
    string Name { get; }
    bool CanRankSessionStart { get; }
    void Fit(SessionDataset train, IdMap items);
    IEnumerable<Prediction> Rank(SessionDataset history, SessionDataset test, int topK, CancellationToken ct);
}

/// <summary>
/// One ranked prediction: the user (dense index), the position in the test session (0 = session start, t = after
/// seeing t items), the target item, its conservative rank among all N items and the top-K list (best first).
/// <see cref="NaNScore"/>: the model scored the target NaN, so it ranks last (N); the evaluation counts these.
/// <see cref="Outcome"/>: the target event's value when the test split has values (set by the evaluator);
/// <see cref="Predicted"/>: a value head's prediction for the target (binary, regression models).
/// <see cref="ColdRank"/>: where the target is a cold item (no training event: <c>IdMap.Counts</c> 0, as in
/// <c>evaluate --cold-start</c>), its conservative rank among the cold items alone, the list a cold-item slot draws from.
/// </summary>
public readonly record struct Prediction(int UserIdx, int Position, int Target, int Rank, int[] TopK, bool NaNScore = false,
    float? Outcome = null, float? Predicted = null, int? ColdRank = null);
