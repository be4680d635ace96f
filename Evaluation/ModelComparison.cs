using System.Text.Json;
using HrnnPipeline.Evaluation.Baselines;
using HrnnPipeline.Evaluation.Tuning;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;

namespace HrnnPipeline.Evaluation;

/// <summary>
/// What `evaluate` runs (the harness's entry point; Evaluation/README.md maps the rest): every requested model through
/// the paper's protocol (train on fit, early-stop on valid, full-ranking next-item evaluation of each user's last
/// session after bootstrapping their history) on a work folder's prepared splits, for several seeds, and optionally a
/// stored model version as trained (no retraining). Pipeline/Cli/EvaluateCommand parses the options and says which
/// models, with which settings.
/// </summary>
public static class ModelComparison
{
    /// <summary>The paper's baselines, in the report's order.</summary>
    public static IReadOnlyList<string> PaperBaselines { get; } = ["pop", "ppop", "item-knn", "sknn"];

    /// <summary>The paper's baselines and, on request only, the session-aware ones (V-SKNN and SR families).</summary>
    public static IReadOnlyList<string> Baselines { get; } = [.. PaperBaselines, .. BaselineRankers.SessionAwareNames];

    /// <summary>Every baseline a run may name: the above and, with item metadata, the metadata popularity one.</summary>
    public static IReadOnlyList<string> AllBaselines { get; } = [.. Baselines, MetadataPopRanker.ModelName];

    /// <summary>The RNN family, trained once per seed.</summary>
    public static IReadOnlyList<string> Rnns { get; } = ["rnn", "rnn-concat", "hrnn-init", "hrnn-all"];

    /// <summary>An RNN to train: its row in the report, its settings (the first seed's) and where they come from.</summary>
    public sealed record TrainedModel(string Name, HrnnSettings Settings, string Source);

    static readonly EvaluationOptions Protocol = new();

    /// <summary>
    /// Runs the baselines among <paramref name="names"/> (a <paramref name="tuned"/> baseline preset's settings for the
    /// baseline it was tuned for, else the fixed defaults), trains each of <paramref name="trained"/> once per seed,
    /// adds the stored <paramref name="version"/> if given (loaded on <paramref name="device"/>), and summarises:
    /// every model is tested against the strongest baseline that ran (by next-item MRR@5), else against rnn.
    /// </summary>
    public static EvaluationReport Run(WorkDirectory work, IReadOnlyCollection<string> names, TunedPreset? tuned,
        IReadOnlyList<TrainedModel> trained, int seeds, string? version, string device, double? minOutcome, CancellationToken ct,
        EvaluationSplits? splits = null)
    {
        splits ??= EvaluationSplits.Prepared(work);
        var (items, train, fit, valid, test) = (splits.Items, splits.Train, splits.Fit, splits.Valid, splits.Test);
        var runs = new List<ModelRun>();
        var metadata = MetadataSource.Read(work.Prepared);
        if (names.Contains(MetadataPopRanker.ModelName))
        {
            if (metadata?.Items is not { } itemMetadata)
                throw new PipelineException($"--models {MetadataPopRanker.ModelName}: the prepared data has no item metadata (give --items FILE)");
            runs.Add(Evaluator.Run(new MetadataPopRanker(itemMetadata), 1, train, test, items, Protocol, ct,
                settings: "categorical item metadata, the user's history and session so far"));
        }
        foreach (var name in Baselines.Where(names.Contains))
            runs.Add(tuned is { IsRnn: false } && tuned.Model == name
                ? Evaluator.Run(tuned.Baseline(), 1, train, test, items, Protocol, ct, settings: tuned.Describe())
                : Evaluator.Run(BaselineRankers.ByName(name)!, 1, train, test, items, Protocol, ct,
                    settings: $"{BaselineRankers.SettingsOf(name)}, fixed (not tuned here)"));
        foreach (var (name, baseSettings, source) in trained)
        {
            for (int seed = 1; seed <= seeds; seed++)
            {
                var settings = baseSettings with { Seed = baseSettings.Seed + seed - 1 };
                using var ranker = new RnnRanker(settings, fit, valid, Path.Combine(work.Checkpoints, $"evaluate-{name}-{settings.Seed}"),
                    TorchRuntime.Resolve(settings.Device), name)
                {
                    MinOutcome = minOutcome,
                    Metadata = metadata,
                };
                ranker.Fit(train, items);
                var stats = new TrainingStats(ranker.Result!.TrainSeconds, ranker.Result.EventsPerSecond);
                var described = $"{HrnnSettings.ModelName(settings.Model)}, {source}; {settings.Epochs} epochs max, best {ranker.Result.BestEpoch}; " +
                    $"reminders chosen on validation: {ranker.Result.Reminders}";
                runs.Add(Evaluator.Run(ranker, settings.Seed, train, test, items, Protocol, ct, stats, described));
            }
        }
        if (version is not null) runs.Add(EvaluateStored(work, version, device, train, test, items, ct));
        var options = Protocol with { ReferenceModel = BestBaseline(runs) ?? Protocol.ReferenceModel };
        return Evaluator.Summarise(DatasetStats.Of(train, test, items), train, items, runs, options) with
        {
            ModelVersion = version, Split = splits.Description,
        };
    }

    /// <summary>The version <paramref name="version"/> names (latest: the newest trained), checked before any stage
    /// runs; null without one.</summary>
    public static string? StoredVersion(WorkDirectory work, string? version)
    {
        if (version is null) return null;
        var id = version == "latest" ? ModelStore.LatestVersion(work.Models) : version;
        if (id.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || id is "." or ".."
            || !File.Exists(Path.Combine(work.Models, id, ModelStore.ModelFile)))
            throw new PipelineException($"--version {version}: no such trained model version in {work.Models}");
        return id;
    }

    /// <summary>
    /// Writes evaluation.json, report.md and its charts to <paramref name="directory"/>, keeps the JSON as the work
    /// folder's evaluate summary and, for a stored version, in that version's model folder (whole or not at all): the
    /// only evaluation `publish` attaches to a version.
    /// </summary>
    public static void Write(string directory, EvaluationReport report, WorkDirectory work)
    {
        EvaluationWriter.Write(directory, report);
        var json = Path.Combine(directory, EvaluationWriter.JsonFile);
        File.Copy(json, work.SummaryFile("evaluate"), overwrite: true);
        if (report.ModelVersion is { } evaluated)
        {
            var kept = Path.Combine(work.Models, evaluated, ModelStore.EvaluationFile);
            File.Copy(json, kept + ".tmp", overwrite: true);
            File.Move(kept + ".tmp", kept, overwrite: true);
        }
    }

    /// <summary>The stored version on the test split, as trained: its training time and speed from its train summary.</summary>
    static ModelRun EvaluateStored(WorkDirectory work, string version, string device, SessionDataset train, SessionDataset test,
        IdMap items, CancellationToken ct)
    {
        // A refit version learned from the test sessions too: its held-out model is the one its test figures can judge.
        var loaded = ModelStore.Load(work.Models, version, device, heldOut: true);
        StoredModelRanker ranker;
        try
        {
            ranker = new StoredModelRanker(loaded, items);
        }
        catch
        {
            loaded.Dispose();
            throw;
        }
        using (ranker)
        {
            using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(work.Models, version, ModelStore.SummaryFile)));
            double Number(string key) => summary.RootElement.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : 0;
            var settings = ranker.Model.Settings;
            var described = $"{HrnnSettings.ModelName(settings.Model)}, model version {version} as stored (not retrained); " +
                $"best epoch {Number("best_epoch"):0}; reminders chosen on validation: {ranker.Model.Reminders}";
            return Evaluator.Run(ranker, settings.Seed, train, test, items, Protocol, ct,
                new TrainingStats(Number("train_seconds"), Number("events_per_second")), described);
        }
    }

    static string? BestBaseline(IReadOnlyList<ModelRun> runs) => runs
        .Where(r => AllBaselines.Contains(r.Model))
        .Select(r => (r.Model, Mrr5: r.Predictions.Where(p => p.Position >= 1).Select(p => p.Rank <= 5 ? 1.0 / p.Rank : 0).DefaultIfEmpty().Average()))
        .OrderByDescending(x => x.Mrr5).Select(x => x.Model).FirstOrDefault();
}
