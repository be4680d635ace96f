using HrnnPipeline.Features;

namespace HrnnPipeline.Evaluation;

/// <summary>Knobs of the protocol. Hyperparameters are tuned on the validation split only, never here.</summary>
public sealed record EvaluationOptions
{
    /// <summary>Cut-offs of Recall/MRR/Precision/NDCG; coverage and popularity use the largest.</summary>
    public IReadOnlyList<int> Ks { get; init; } = [5, 10, 20];
    /// <summary>Users with at most this many training sessions form the "short history" bucket (paper: 6).</summary>
    public int HistoryThreshold { get; init; } = 6;
    /// <summary>The model every other is tested against (Wilcoxon on reciprocal ranks).</summary>
    public string ReferenceModel { get; init; } = "rnn";

    /// <summary>Length of the top lists every model returns.</summary>
    public int TopK => Ks.Max();

    public void Validate()
    {
        if (Ks.Count == 0 || Ks.Any(k => k < 1))
            throw new ArgumentException("evaluation cut-offs must be a non-empty list of positive integers");
        if (HistoryThreshold < 0) throw new ArgumentException("history threshold must not be negative");
    }
}

/// <summary>How long a model took to train, as the caller measured it.</summary>
public readonly record struct TrainingStats(double Seconds, double EventsPerSecond);

/// <summary>One model trained with one seed: its predictions, how long training took, and where its settings came
/// from (shown in the report, so a figure is never read without the settings behind it).</summary>
public sealed record ModelRun(
    string Model, int Seed, IReadOnlyList<Prediction> Predictions, double TrainSeconds, double EventsPerSecond,
    string? Settings = null)
{
    /// <summary>The training mode of an RNN with outcome values (positive, binary, soft, regression); null for baselines.</summary>
    public string? OutcomeMode { get; init; }
}

/// <summary>Size of the evaluated split, as evaluation.json's "dataset" reports it.</summary>
public sealed record DatasetStats(
    int Users, int Items, int TrainSessions, long TrainEvents, int TestSessions, long TestEvents)
{
    public static DatasetStats Of(SessionDataset train, SessionDataset test, IdMap items) => new(
        train.Users.Concat(test.Users).Distinct().Count(), items.Count,
        train.SessionCount, train.EventCount, test.SessionCount, test.EventCount);
}

/// <summary>Outcome of the Wilcoxon test of a model against the reference model.</summary>
/// <param name="Better">The model with the higher mean reciprocal rank on the paired predictions, or "tie".</param>
public sealed record ReferenceComparison(
    string Reference, WilcoxonResult Test, string Better, double MeanReciprocalRank, double ReferenceMeanReciprocalRank);

/// <summary>A model's next-item metrics, aggregated over its seeds (mean and "_std"). <see cref="NaNTargets"/>: predictions
/// (all seeds, session starts included) whose target the model scored NaN; they count as ranked last.</summary>
public sealed record ModelResult(
    string Model, int Seeds, IReadOnlyDictionary<string, double> Metrics, int Predictions,
    double TrainSeconds, double EventsPerSecond, ReferenceComparison? VsReference, IReadOnlyList<string>? Settings = null,
    long NaNTargets = 0);

/// <summary>Metrics of one model on one slice of the predictions.</summary>
public sealed record SliceMetrics(string Model, IReadOnlyDictionary<string, double> Metrics);

/// <summary>One breakdown dimension: its buckets in order, each with the metrics per model.</summary>
public sealed record Breakdown(string Name, IReadOnlyList<(string Bucket, IReadOnlyList<SliceMetrics> Models)> Buckets);

/// <summary>Everything evaluation.json and report.md show. <see cref="ModelVersion"/>: the stored model version among
/// the results (evaluated as stored, not retrained), if any; publishing attaches the evaluation to that version only.</summary>
public sealed record EvaluationReport(
    DatasetStats Dataset,
    EvaluationOptions Options,
    IReadOnlyList<ModelResult> Results,
    IReadOnlyList<Breakdown> Breakdowns,
    IReadOnlyList<SliceMetrics> SessionStart)
{
    public string? ModelVersion { get; init; }
    /// <summary>How the test sessions were chosen (the paper's split, or a cold-start split by time).</summary>
    public string? Split { get; init; }
    /// <summary>Per model, when the test split has outcome values (<see cref="OutcomeEvaluation"/>); null otherwise.</summary>
    public IReadOnlyList<OutcomeResult>? Outcomes { get; init; }
}
