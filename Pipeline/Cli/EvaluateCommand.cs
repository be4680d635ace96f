using System.CommandLine;
using HrnnPipeline.AppHost.Pipeline;
using HrnnPipeline.Evaluation;
using HrnnPipeline.Evaluation.Baselines;
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
    /// <summary>Exactly what `run` trains when given no options: the configuration files and environment, no command line.</summary>
    const string Default = "default";

    public static Command Build()
    {
        var models = new Option<string>("--models")
        {
            Description = $"Comma-separated models: {Default} (what `run` trains with no options), {string.Join(",", ModelComparison.AllBaselines.Concat(ModelComparison.Rnns))} (the session-aware and metadata baselines only on request)",
            DefaultValueFactory = _ => string.Join(",", ModelComparison.PaperBaselines.Concat(ModelComparison.Rnns)),
        };
        var seeds = new Option<int>("--seeds") { Description = "Seeds per trained model (mean and std reported)", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out") { Description = "Folder for evaluation.json, report.md and charts", Required = true };
        var version = new Option<string>("--version")
        {
            Description = "Also evaluate this trained model version (or latest) as stored, without retraining; its evaluation is kept in its model folder, and publish attaches it to that version. With --version, --models defaults to the paper's baselines",
        };
        var coldStart = new Option<string?>("--cold-start")
        {
            Description = $"Split by time instead: sessions before the cut-off (ISO 8601, UTC; no value: when 80% of the events had happened) train, each user's first session after it is tested, and items first played after it are cold; reports them apart, ranked in the catalogue and among the cold items, and adds {MetadataPopRanker.ModelName} when there is item metadata",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var command = new Command("evaluate", "Compare HRNN with session-only RNNs and simple baselines on the input (paper protocol, full ranking).")
        {
            models, seeds, output, version, coldStart,
        };
        var options = CliOptions.Input().Concat(CliOptions.Training()).ToArray();
        CliOptions.AddTo(command, options);
        command.Options.Add(CliOptions.Work);
        command.SetAction((result, ct) => PipelineCli.Execute(result, options, ct, async (config, token) =>
        {
            var evaluated = ModelComparison.StoredVersion(config.Work, result.GetValue(version));
            var listed = evaluated is not null && result.GetResult(models) is not { Implicit: false }
                ? string.Join(",", ModelComparison.PaperBaselines)
                : result.GetValue(models)!;
            var names = listed.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var n in names)
                if (!ModelComparison.AllBaselines.Contains(n) && !ModelComparison.Rnns.Contains(n) && n != Default)
                    throw new PipelineException($"--models: unknown model '{n}' (known: {Default}, {string.Join(", ", ModelComparison.AllBaselines.Concat(ModelComparison.Rnns))})");
            bool coldSplit = result.GetResult(coldStart) is not null;
            var cutoff = coldSplit ? ColdStartCutoff(result.GetValue(coldStart)) : null;
            if (coldSplit && evaluated is not null)
                throw new PipelineException("--cold-start with --version: a stored version learned from the whole log, the cold-start test period included; evaluate it without --cold-start");
            if (config.Tuned is { } tuned && !names.Contains(tuned.Model))
                throw new PipelineException($"--preset {tuned.Path}: tuned for {tuned.Model}, which --models does not name");
            if (names.Length == 0 && evaluated is null) throw new PipelineException("--models: no model to evaluate");
            int seedCount = result.GetValue(seeds);
            if (seedCount < 1) throw new PipelineException("--seeds must be >= 1");
            var stages = new PipelineStages(config);
            if (config.Ingest.Input.Length > 0) await stages.IngestAsync(token);
            await stages.PrepareAsync(token);
            var splits = coldSplit ? EvaluationSplits.ColdStart(config.Work, cutoff) : null;
            if (coldSplit && !names.Contains(MetadataPopRanker.ModelName) && MetadataSource.Read(config.Work.Prepared)?.Items is not null)
                names = [MetadataPopRanker.ModelName, .. names];
            if (splits is not null) Console.Error.WriteLine($"evaluate: {splits.Description}");
            var report = ModelComparison.Run(config.Work, names, config.Tuned, Trained(config, names), seedCount, evaluated,
                config.Training.Device, config.Scoring.MinOutcome, token, splits);
            var outDir = Path.GetFullPath(result.GetValue(output)!);
            ModelComparison.Write(outDir, report, config.Work);
            Console.WriteLine(File.ReadAllText(Path.Combine(outDir, EvaluationWriter.ReportFile)).Split("\n\n").Take(3).Aggregate((a, b) => a + "\n\n" + b));
            Console.WriteLine($"-> {Path.Combine(outDir, EvaluationWriter.JsonFile)}, {Path.Combine(outDir, EvaluationWriter.ReportFile)}");
            return 0;
        }, acceptsBaselinePreset: true));
        return command;
    }

    /// <summary>The --cold-start value: a UTC time (ISO 8601), or null (the default cut-off) when none is given.</summary>
    static DateTimeOffset? ColdStartCutoff(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        if (!DateTimeOffset.TryParse(value, System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.AssumeUniversal, out var cutoff))
            throw new PipelineException($"--cold-start {value}: not a date and time (ISO 8601, e.g. 2024-01-31 or 2024-01-31T12:00:00Z)");
        return cutoff;
    }

    /// <summary>The RNNs among <paramref name="names"/> with their settings: `default` first, then the named ones.</summary>
    static List<ModelComparison.TrainedModel> Trained(PipelineConfiguration config, string[] names)
    {
        var trained = new List<ModelComparison.TrainedModel>();
        if (names.Contains(Default))
            trained.Add(new(Default, ShippedTraining(config.Work), "what `run` trains with no options (defaults, configuration files, environment)"));
        foreach (var name in ModelComparison.Rnns.Where(names.Contains))
            trained.Add(new(name, config.TrainingFor(HrnnSettings.ParseModel(name)), SourceOf(config, name)));
        return trained;
    }

    /// <summary>The Training section as `run` binds it with no command line: appsettings.json and the environment.</summary>
    static HrnnSettings ShippedTraining(WorkDirectory work) =>
        new PipelineConfiguration(PipelineConfiguration.Sources(new Dictionary<string, string?>()).Build(), work.Root).Training;

    /// <summary>A preset file applies to the model it was tuned for only (<see cref="PipelineConfiguration.TrainingFor"/>).</summary>
    static string SourceOf(PipelineConfiguration config, string name) =>
        config.Tuned is { Model: var tunedFor } tuned && tunedFor == name ? $"{tuned.Describe()} with the command line and configuration on top"
        : config.Tuned is null && config.Configuration["Training:Preset"] is { Length: > 0 } preset ? $"preset {preset} with the command line and configuration on top"
        : "defaults with the command line and configuration on top";
}
