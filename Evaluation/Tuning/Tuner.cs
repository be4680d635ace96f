using System.Globalization;
using System.Text.Json.Nodes;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;

namespace HrnnPipeline.Evaluation.Tuning;

/// <summary>
/// What `tune` runs: a seeded <see cref="RandomSearch"/> over one model's settings on the validation split only (fit on
/// <c>fit</c>, score each user's <c>valid</c> session with the fit sessions as history; the test split is never
/// read), every trial recorded in FILE.trials.jsonl (a rerun continues after the last finished one), the best settings
/// written as a preset file that `--preset FILE` accepts. The constructor checks everything it can (the search space,
/// the device, a trials file of another search) before the caller prepares the data. Pipeline/Cli/TuneCommand parses
/// the options.
/// </summary>
public sealed class Tuner
{
    readonly TunableModel _model;
    readonly int _seed;
    readonly int _trials;
    readonly string _device;
    readonly RandomSearch _search;

    /// <param name="model">The model to tune.</param>
    /// <param name="training">The configuration's Training settings: an RNN's fixed settings (epochs, patience, ...)
    /// and the device trials train on.</param>
    /// <param name="pinned">Training keys the command line sets (--session-hidden 64, --loss top1): the search varies
    /// the others. A baseline takes none.</param>
    /// <param name="seed">The search seed: the same seed draws the same trials (and trains them with it).</param>
    /// <param name="trials">How many trials.</param>
    /// <param name="presetPath">The preset file for the best settings; the trials go beside it.</param>
    public Tuner(TunableModel model, HrnnSettings training, IReadOnlySet<string> pinned, int seed, int trials, string presetPath)
    {
        _model = model;
        _seed = seed;
        _trials = trials;
        _device = training.Device;
        PresetPath = Path.GetFullPath(presetPath);
        Trials = TrialsFile.For(PresetPath);
        SearchSpace space;
        if (model is RnnTunable rnn)
        {
            space = rnn.Space(RnnTunable.Of(training with { Model = rnn.Kind, Seed = seed }), pinned);
            TorchRuntime.Resolve(training.Device);
        }
        else
        {
            if (pinned.Count > 0)
                throw new PipelineException($"--model {model.Name} is a baseline: training options ({string.Join(", ", pinned)}) do not apply");
            space = model.Space();
        }
        _search = new RandomSearch(space, seed, trials, Trials);
        _ = _search.Recorded(); // a trials file of another search fails here, not after the preparation
    }

    public string PresetPath { get; }

    public TrialsFile Trials { get; }

    /// <summary>Runs the search on <paramref name="work"/>'s prepared fit and valid splits, one line per trial to
    /// <paramref name="log"/>, and writes the best settings to <see cref="PresetPath"/>; returns the best trial and how
    /// many trials the search holds.</summary>
    public (TrialRecord Best, int Trials) Run(WorkDirectory work, Action<string> log, CancellationToken ct)
    {
        var data = ValidationSplits(work);
        var fingerprint = data.Fingerprint();
        log($"tune {_model.Name}: {_trials} trials, seed {_seed}, on the validation split " +
            $"({data.Valid.UserCount:N0} users' last training sessions, {data.Fit.EventCount:N0} fit events) -> {Trials.Path}");

        var scorer = new TrialScorer(_model, data, work.Checkpoints, _device);
        var records = _search.Run(fingerprint, scorer.Score, log, ct);
        var best = RandomSearch.Best(records);
        TunedPreset.Write(PresetPath, _model.Name, best.Settings, About(best, records.Count));
        return (best, records.Count);
    }

    /// <summary>The splits a search may read: fit, valid and the catalogue. The test split is not opened.</summary>
    static TuningData ValidationSplits(WorkDirectory work)
    {
        var fit = ArrowSessions.Read(work.PreparedFile(PreparedFiles.Fit));
        if (fit.EventCount == 0) throw new PipelineException($"{work.PreparedFile(PreparedFiles.Fit)}: no training sessions left after the filters");
        var valid = ArrowSessions.Read(work.PreparedFile(PreparedFiles.Valid));
        if (valid.UserCount == 0) throw new PipelineException($"{work.PreparedFile(PreparedFiles.Valid)}: no validation sessions to score trials on");
        return new TuningData(fit, valid, IdMap.Read(work.PreparedFile(PreparedFiles.Items))) { Metadata = MetadataSource.Read(work.Prepared) };
    }

    /// <summary>The preset file's record of the search (not read back).</summary>
    JsonObject About(TrialRecord best, int trials)
    {
        var validation = new JsonObject();
        foreach (var (key, value) in best.Validation) validation[key] = value;
        return new JsonObject
        {
            ["trials_file"] = Trials.Path,
            ["seed"] = _seed,
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
