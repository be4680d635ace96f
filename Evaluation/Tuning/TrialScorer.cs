using HrnnPipeline.Training;

namespace HrnnPipeline.Evaluation.Tuning;

/// <summary>
/// Scores one trial's settings on the validation split: the model fits on <c>fit</c> (an RNN also early-stops on
/// <c>valid</c>, as GRU4Rec's and session-rec's searches do), then every user's validation session is ranked with
/// the user's fit sessions as history, through the same <see cref="Evaluator.Run"/> as `evaluate`. Next-item
/// predictions only (position >= 1), so the session-start ability of some models does not change the score.
/// </summary>
public sealed class TrialScorer(TunableModel model, TuningData data, string checkpoints, string device)
{
    static readonly EvaluationOptions Protocol = new() { Ks = [5, 20] };

    public IReadOnlyDictionary<string, double> Score(TrialSettings trial, CancellationToken ct)
    {
        if (model is BaselineTunable baseline)
            return Figures(baseline.CreateRanker(trial.Settings), 1, ct);
        // No refit: a trial is scored on the validation split, and its training data (fit) is all it may learn from.
        var settings = RnnTunable.ToSettings(trial.Settings) with { Device = device, Refit = false };
        var dir = Path.Combine(checkpoints, $"tune-{model.Name}-{settings.Seed}-trial-{trial.Trial}");
        try
        {
            using var ranker = new RnnRanker(settings, data.Fit, data.Valid, dir, TorchRuntime.Resolve(device), model.Name)
            {
                Metadata = data.Metadata,
            };
            return Figures(ranker, settings.Seed, ct);
        }
        finally
        {
            // A trial's checkpoints are of no use once it is scored (the preset reproduces the best one).
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    Dictionary<string, double> Figures(IRanker ranker, int seed, CancellationToken ct)
    {
        var run = Evaluator.Run(ranker, seed, data.Fit, data.Valid, data.Items, Protocol, ct);
        var next = run.Predictions.Where(p => p.Position >= 1).ToList();
        var metrics = Metrics.Compute(next, Protocol.Ks, data.Items.Counts);
        var figures = TrialRecord.FigureKeys.ToDictionary(k => k, k => Math.Round(metrics[k], 6));
        figures[Metrics.PredictionCount] = next.Count;
        return figures;
    }
}
