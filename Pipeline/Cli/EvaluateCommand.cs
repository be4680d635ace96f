using System.CommandLine;
using System.Text.Json;
using HrnnPipeline.AppHost.Pipeline;
using HrnnPipeline.Evaluation.Baselines;
using HrnnPipeline.Evaluation;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;

namespace HrnnPipeline.AppHost.Cli;

/// <summary>
/// `evaluate`: prepares the input, then runs every requested model through the paper's protocol (train on fit,
/// early-stop on valid, full-ranking next-item evaluation of each user's last session after bootstrapping their
/// history) for several seeds, and writes evaluation.json, report.md and its charts. With --version it also evaluates a
/// stored model version as trained (no retraining) and keeps that evaluation in the version's model folder: the only
/// evaluation `publish` attaches to a version.
/// </summary>
static class EvaluateCommand
{
    static readonly string[] PaperBaselines = ["pop", "ppop", "item-knn", "sknn"];
    /// <summary>The paper's baselines and, on request only, the session-aware ones (V-SKNN and SR families).</summary>
    static readonly string[] Baselines = [.. PaperBaselines, .. BaselineRankers.SessionAwareNames];
    static readonly string[] Rnns = ["rnn", "rnn-concat", "hrnn-init", "hrnn-all"];
    /// <summary>Exactly what `run` trains when given no options: the configuration files and environment, no command line.</summary>
    const string Default = "default";

    public static Command Build()
    {
        var models = new Option<string>("--models")
        {
            Description = $"Comma-separated models: {Default} (what `run` trains with no options), {string.Join(",", Baselines.Concat(Rnns))} (the session-aware baselines only on request)",
            DefaultValueFactory = _ => string.Join(",", PaperBaselines.Concat(Rnns)),
        };
        var seeds = new Option<int>("--seeds") { Description = "Seeds per trained model (mean and std reported)", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out") { Description = "Folder for evaluation.json, report.md and charts", Required = true };
        var version = new Option<string>("--version")
        {
            Description = "Also evaluate this trained model version (or latest) as stored, without retraining; its evaluation is kept in its model folder, and publish attaches it to that version. With --version, --models defaults to the paper's baselines",
        };
        var command = new Command("evaluate", "Compare HRNN with session-only RNNs and simple baselines on the input (paper protocol, full ranking).")
        {
            models, seeds, output, version,
        };
        var options = CliOptions.Input().Concat(CliOptions.Training()).ToArray();
        CliOptions.AddTo(command, options);
        command.Options.Add(CliOptions.Work);
        command.SetAction((result, ct) => PipelineCli.Execute(result, options, ct, async (config, token) =>
        {
            var evaluated = StoredVersion(config.Work, result.GetValue(version));
            var listed = evaluated is not null && result.GetResult(models) is not { Implicit: false }
                ? string.Join(",", PaperBaselines)
                : result.GetValue(models)!;
            var names = listed.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var n in names)
                if (!Baselines.Contains(n) && !Rnns.Contains(n) && n != Default)
                    throw new PipelineException($"--models: unknown model '{n}' (known: {Default}, {string.Join(", ", Baselines.Concat(Rnns))})");
            if (config.Tuned is { } tuned && !names.Contains(tuned.Model))
                throw new PipelineException($"--preset {tuned.Path}: tuned for {tuned.Model}, which --models does not name");
            if (names.Length == 0 && evaluated is null) throw new PipelineException("--models: no model to evaluate");
            int seedCount = result.GetValue(seeds);
            if (seedCount < 1) throw new PipelineException("--seeds must be >= 1");
            var stages = new PipelineStages(config);
            if (config.Ingest.Input.Length > 0) await stages.IngestAsync(token);
            await stages.PrepareAsync(token);
            var report = Evaluate(config, names, seedCount, evaluated, token);
            var outDir = Path.GetFullPath(result.GetValue(output)!);
            EvaluationWriter.Write(outDir, report);
            File.Copy(Path.Combine(outDir, EvaluationWriter.JsonFile), config.Work.SummaryFile("evaluate"), overwrite: true);
            if (evaluated is not null)
            {
                // Into the version's own folder, whole or not at all: what publish attaches to this version.
                var kept = Path.Combine(config.Work.Models, evaluated, ModelStore.EvaluationFile);
                File.Copy(Path.Combine(outDir, EvaluationWriter.JsonFile), kept + ".tmp", overwrite: true);
                File.Move(kept + ".tmp", kept, overwrite: true);
            }
            Console.WriteLine(File.ReadAllText(Path.Combine(outDir, EvaluationWriter.ReportFile)).Split("\n\n").Take(3).Aggregate((a, b) => a + "\n\n" + b));
            Console.WriteLine($"-> {Path.Combine(outDir, EvaluationWriter.JsonFile)}, {Path.Combine(outDir, EvaluationWriter.ReportFile)}");
            return 0;
        }, acceptsBaselinePreset: true));
        return command;
    }

    /// <summary>The version --version names (latest: the newest trained), checked before any stage runs; null without it.</summary>
    static string? StoredVersion(WorkDirectory work, string? version)
    {
        if (version is null) return null;
        var id = version == "latest" ? ModelStore.LatestVersion(work.Models) : version;
        if (id.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || id is "." or ".."
            || !File.Exists(Path.Combine(work.Models, id, ModelStore.ModelFile)))
            throw new PipelineException($"--version {version}: no such trained model version in {work.Models}");
        return id;
    }

    static EvaluationReport Evaluate(PipelineConfiguration config, string[] names, int seeds, string? version, CancellationToken ct)
    {
        var work = config.Work;
        var items = IdMap.Read(work.PreparedFile(PreparedFiles.Items));
        var train = ArrowSessions.Read(work.PreparedFile(PreparedFiles.Train));
        var fit = ArrowSessions.Read(work.PreparedFile(PreparedFiles.Fit));
        var valid = ArrowSessions.Read(work.PreparedFile(PreparedFiles.Valid));
        var test = ArrowSessions.Read(work.PreparedFile(PreparedFiles.Test));
        var runs = new List<ModelRun>();
        foreach (var name in Baselines.Where(names.Contains))
            runs.Add(config.Tuned is { IsRnn: false } tuned && tuned.Model == name
                ? Evaluator.Run(tuned.Baseline(), 1, train, test, items, Protocol, ct, settings: tuned.Describe())
                : Evaluator.Run(BaselineRankers.ByName(name)!, 1, train, test, items, Protocol, ct,
                    settings: $"{BaselineRankers.SettingsOf(name)}, fixed (not tuned here)"));
        var trained = new List<(string Name, HrnnSettings Settings, string Source)>();
        if (names.Contains(Default))
            trained.Add((Default, ShippedTraining(work), "what `run` trains with no options (defaults, configuration files, environment)"));
        foreach (var name in Rnns.Where(names.Contains))
            trained.Add((name, config.TrainingFor(HrnnSettings.ParseModel(name)), SourceOf(config, name)));
        foreach (var (name, baseSettings, source) in trained)
        {
            for (int seed = 1; seed <= seeds; seed++)
            {
                var settings = baseSettings with { Seed = baseSettings.Seed + seed - 1 };
                var device = TorchRuntime.Resolve(settings.Device);
                using var ranker = new RnnRanker(settings, fit, valid, Path.Combine(work.Checkpoints, $"evaluate-{name}-{settings.Seed}"), device, name)
                {
                    MinOutcome = config.Scoring.MinOutcome,
                };
                ranker.Fit(train, items);
                var stats = new TrainingStats(ranker.Result!.TrainSeconds, ranker.Result.EventsPerSecond);
                var described = $"{HrnnSettings.ModelName(settings.Model)}, {source}; {settings.Epochs} epochs max, best {ranker.Result.BestEpoch}; " +
                    $"reminders chosen on validation: {ranker.Result.Reminders}";
                runs.Add(Evaluator.Run(ranker, settings.Seed, train, test, items, Protocol, ct, stats, described));
            }
        }
        if (version is not null) runs.Add(EvaluateStored(config, version, train, test, items, ct));
        // Every model is tested against the strongest baseline that ran (by next-item MRR@5), else against rnn.
        var options = Protocol with { ReferenceModel = BestBaseline(runs) ?? Protocol.ReferenceModel };
        return Evaluator.Summarise(DatasetStats.Of(train, test, items), train, items, runs, options) with { ModelVersion = version };
    }

    /// <summary>The stored version on the test split, as trained: its training time and speed from its train summary.</summary>
    static ModelRun EvaluateStored(PipelineConfiguration config, string version, SessionDataset train, SessionDataset test, IdMap items,
        CancellationToken ct)
    {
        var loaded = ModelStore.Load(config.Work.Models, version, config.Training.Device);
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
            using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(config.Work.Models, version, ModelStore.SummaryFile)));
            double Number(string key) => summary.RootElement.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : 0;
            var settings = ranker.Model.Settings;
            var described = $"{HrnnSettings.ModelName(settings.Model)}, model version {version} as stored (not retrained); " +
                $"best epoch {Number("best_epoch"):0}; reminders chosen on validation: {ranker.Model.Reminders}";
            return Evaluator.Run(ranker, settings.Seed, train, test, items, Protocol, ct,
                new TrainingStats(Number("train_seconds"), Number("events_per_second")), described);
        }
    }

    static readonly EvaluationOptions Protocol = new();

    /// <summary>The Training section as `run` binds it with no command line: appsettings.json and the environment.</summary>
    static HrnnSettings ShippedTraining(WorkDirectory work) =>
        new PipelineConfiguration(PipelineConfiguration.Sources(new Dictionary<string, string?>()).Build(), work.Root).Training;

    /// <summary>A preset file applies to the model it was tuned for only (<see cref="PipelineConfiguration.TrainingFor"/>).</summary>
    static string SourceOf(PipelineConfiguration config, string name) =>
        config.Tuned is { Model: var tunedFor } tuned && tunedFor == name ? $"{tuned.Describe()} with the command line and configuration on top"
        : config.Tuned is null && config.Configuration["Training:Preset"] is { Length: > 0 } preset ? $"preset {preset} with the command line and configuration on top"
        : "defaults with the command line and configuration on top";

    static string? BestBaseline(IReadOnlyList<ModelRun> runs) => runs
        .Where(r => Baselines.Contains(r.Model))
        .Select(r => (r.Model, Mrr5: r.Predictions.Where(p => p.Position >= 1).Select(p => p.Rank <= 5 ? 1.0 / p.Rank : 0).DefaultIfEmpty().Average()))
        .OrderByDescending(x => x.Mrr5).Select(x => x.Model).FirstOrDefault();
}
