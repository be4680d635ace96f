using System.CommandLine;
using HrnnPipeline.AppHost.Pipeline;
using HrnnPipeline.Evaluation.Tuning;
using HrnnPipeline.ServiceDefaults;

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
            // A Training option given on the command line (--session-hidden 64, --loss top1) pins that setting: the
            // search varies the others. Everything else fixed comes from the configuration (epochs, patience, ...).
            var pinned = CliOptions.Overrides(result, training).Keys.Select(k => k["Training:".Length..]).ToHashSet();
            var tuner = new Tuner(tunable, config.Training, pinned, searchSeed, trialCount, result.GetValue(output)!);

            var stages = new PipelineStages(config);
            if (config.Ingest.Input.Length > 0) await stages.IngestAsync(token);
            await stages.PrepareAsync(token);
            var (best, recorded) = tuner.Run(config.Work, Console.WriteLine, token);
            Console.WriteLine($"best: trial {best.Trial}/{recorded}, valid {best.Figures()} -> {tuner.PresetPath} " +
                $"(use: --preset {tuner.PresetPath}{(tunable is RnnTunable ? "" : $" with evaluate --models {tunable.Name}")})");
            return 0;
        }));
        return command;
    }
}
