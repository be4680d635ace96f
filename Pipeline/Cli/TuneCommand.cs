using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using HrnnPipeline.AppHost.Pipeline;
using HrnnPipeline.Evaluation.Tuning;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;

namespace HrnnPipeline.AppHost.Cli;

/// <summary>
/// `tune`: prepares the input as `evaluate` does, then runs a seeded random search over one model's settings on the
/// validation split only (fit on <c>fit</c>, score each user's <c>valid</c> session with the fit sessions as
/// history; the test split is never read), records every trial in FILE.trials.jsonl (a rerun continues after the
/// last finished one) and writes the best settings as a preset file that `--preset FILE` accepts.
/// </summary>
static class TuneCommand
{
    /// <summary>`--model default`: the model `run` trains with no options (Training:Model of the configuration).</summary>
    const string Default = "default";

    /// <summary>The Training options `tune` does not take: it has its own --model and --seed, and makes presets.</summary>
    static readonly string[] NotForTune = ["--model", "--seed", "--preset"];

    public static Command Build()
    {
        var model = new Option<string>("--model")
        {
            Description = $"Model to tune: {Default} (what `run` trains), {string.Join(", ", TunableModels.Rnns.Concat(TunableModels.Baselines))}",
            Required = true,
        };
        var trials = new Option<int>("--trials") { Description = "Number of trials (a rerun with more continues the search)", Required = true };
        var seed = new Option<int>("--seed") { Description = "Search seed: the same seed draws the same trials (and trains them with it)", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out")
        {
            Description = "Preset file for the best settings (JSON, for --preset FILE); the trials go to FILE.trials.jsonl beside it",
            Required = true,
        };
        var command = new Command("tune", "Seeded random search of one model's settings on the validation split (never the test split); writes the best as a preset file.")
        {
            model, trials, seed, output,
        };
        var training = CliOptions.Training().Where(o => !NotForTune.Contains(o.Option.Name)).ToArray();
        var options = CliOptions.Input().Concat(training).ToArray();
        CliOptions.AddTo(command, options);
        command.Options.Add(CliOptions.Work);
        command.SetAction((result, ct) => PipelineCli.Execute(result, options, ct, async (config, token) =>
        {
            // Every option is checked before the first stage.
            var name = result.GetValue(model)!;
            var tunable = name == Default
                ? new RnnTunable(config.Training.Model)
                : TunableModels.ByName(name, "--model");
            int trialCount = result.GetValue(trials), searchSeed = result.GetValue(seed);
            if (trialCount < 1) throw new PipelineException($"--trials {trialCount}: must be >= 1");
            var outPath = Path.GetFullPath(result.GetValue(output)!);
            var trialsFile = TrialsFile.For(outPath);
            // A Training option given on the command line (--session-hidden 64, --loss top1) pins that setting: the
            // search varies the others. Everything else fixed comes from the configuration (epochs, patience, ...).
            var pinned = CliOptions.Overrides(result, training).Keys.Select(k => k["Training:".Length..]).ToHashSet();
            SearchSpace space;
            if (tunable is RnnTunable rnn)
            {
                space = rnn.Space(RnnTunable.Of(config.Training with { Model = rnn.Kind, Seed = searchSeed }), pinned);
                TorchRuntime.Resolve(config.Training.Device);
            }
            else
            {
                if (pinned.Count > 0)
                    throw new PipelineException($"--model {tunable.Name} is a baseline: training options ({string.Join(", ", pinned)}) do not apply");
                space = tunable.Space();
            }
            var search = new RandomSearch(space, searchSeed, trialCount, trialsFile);
            _ = search.Recorded(); // a trials file of another search fails here, not after the preparation

            var stages = new PipelineStages(config);
            if (config.Ingest.Input.Length > 0) await stages.IngestAsync(token);
            await stages.PrepareAsync(token);
            var data = ValidationSplits(config.Work);
            var fingerprint = data.Fingerprint();
            Console.WriteLine($"tune {tunable.Name}: {trialCount} trials, seed {searchSeed}, on the validation split " +
                $"({data.Valid.UserCount:N0} users' last training sessions, {data.Fit.EventCount:N0} fit events) -> {trialsFile.Path}");

            var scorer = new TrialScorer(tunable, data, config.Work.Checkpoints, config.Training.Device);
            var records = search.Run(fingerprint, scorer.Score, Console.WriteLine, token);
            var best = RandomSearch.Best(records);
            TunedPreset.Write(outPath, tunable.Name, best.Settings, About(best, records.Count, searchSeed, trialsFile));
            Console.WriteLine($"best: trial {best.Trial}/{records.Count}, valid {best.Figures()} -> {outPath} " +
                $"(use: --preset {outPath}{(tunable is RnnTunable ? "" : $" with evaluate --models {tunable.Name}")})");
            return 0;
        }));
        return command;
    }

    /// <summary>The splits a search may read: fit, valid and the catalogue. The test split is not opened.</summary>
    static TuningData ValidationSplits(WorkDirectory work)
    {
        var fit = ArrowSessions.Read(work.PreparedFile(PreparedFiles.Fit));
        if (fit.EventCount == 0) throw new PipelineException($"{work.PreparedFile(PreparedFiles.Fit)}: no training sessions left after the filters");
        var valid = ArrowSessions.Read(work.PreparedFile(PreparedFiles.Valid));
        if (valid.UserCount == 0) throw new PipelineException($"{work.PreparedFile(PreparedFiles.Valid)}: no validation sessions to score trials on");
        return new TuningData(fit, valid, IdMap.Read(work.PreparedFile(PreparedFiles.Items)));
    }

    /// <summary>The preset file's record of the search (not read back).</summary>
    static JsonObject About(TrialRecord best, int trials, int seed, TrialsFile file)
    {
        var validation = new JsonObject();
        foreach (var (key, value) in best.Validation) validation[key] = value;
        return new JsonObject
        {
            ["trials_file"] = file.Path,
            ["seed"] = seed,
            ["trials"] = trials,
            ["best_trial"] = best.Trial,
            ["data"] = best.Data,
            ["validation"] = validation,
            ["protocol"] = "trained on the fit split; scored on the validation split (each user's last training session) " +
                "with the user's fit sessions as history, next-item predictions, ranked by MRR@20; the test split was not read",
            ["written"] = DateTimeOffset.UtcNow.ToString("u", CultureInfo.InvariantCulture),
        };
    }
}
