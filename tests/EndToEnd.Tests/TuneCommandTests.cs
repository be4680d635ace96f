using System.Text.Json;
using System.Text.Json.Nodes;
using HrnnPipeline.Evaluation;
using HrnnPipeline.Evaluation.Tuning;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;

namespace HrnnPipeline.Tests.EndToEnd;

/// <summary>`tune` on a small generated log: the search, its trials file, resuming, the test split left unread, and the
/// preset file it writes as train, evaluate and run read it.</summary>
public sealed class TuneCommandTests : IAsyncLifetime
{
    readonly string _dir = Cli.TempDir("tune");
    string Log => Path.Combine(_dir, "log.csv");

    /// <summary>Small HRNN trials: the pinned sizes and one epoch keep each to seconds.</summary>
    static readonly string[] SmallRnn =
        ["--epochs", "1", "--session-hidden", "16", "--user-hidden", "16", "--batch-size", "16", "--n-sample", "0", "--reminders", "false"];

    public async Task InitializeAsync()
    {
        var generated = await Cli.RunAsync("generate", "--users", "60", "--items", "150", "--seed", "3", "--out", Log);
        Assert.True(generated.ExitCode == 0, generated.Error);
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    static Task<Cli.Outcome> Tune(string input, string work, string model, int trials, string output, params string[] more) =>
        Cli.RunAsync(["tune", "--input", input, "--work", work, "--model", model, "--trials", trials.ToString(), "--out", output, .. more]);

    static List<JsonObject> Trials(string preset) =>
        File.ReadAllLines(TrialsFile.For(preset).Path).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();

    static JsonObject Preset(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    [Fact]
    public async Task Tune_prints_a_line_per_trial_records_each_and_writes_the_best_as_a_preset_evaluate_applies()
    {
        var work = Path.Combine(_dir, "work");
        var preset = Path.Combine(_dir, "srbr.json");
        var tune = await Tune(Log, work, "sr-br", 4, preset);
        Assert.True(tune.ExitCode == 0, tune.Error);
        var lines = tune.Out.Split('\n').Where(l => l.StartsWith("trial ", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, lines.Count);
        for (int i = 0; i < 4; i++) Assert.Matches($@"^trial {i + 1}/4  Steps=\d+ Weighting=\w+ .*\| valid MRR@20 0\.\d{{4}}, R@5 .*\| best MRR@20 .* s$", lines[i].TrimEnd());

        var trials = Trials(preset);
        Assert.Equal([1, 2, 3, 4], trials.Select(t => t["trial"]!.GetValue<int>()));
        var best = trials.MaxBy(t => t["validation"]!["mrr@20"]!.GetValue<double>())!;
        var written = Preset(preset);
        Assert.Equal("sr-br", written["model"]!.GetValue<string>());
        Assert.Equal(SettingsJson.Canonical(best["settings"]), SettingsJson.Canonical(written["settings"]));
        Assert.Equal(best["trial"]!.GetValue<int>(), written["tuned"]!["best_trial"]!.GetValue<int>());
        Assert.Contains($"best: trial {best["trial"]}/4", tune.Out);

        // evaluate applies the preset to the baseline it names: the report says so, and its figures are exactly those
        // of the best trial's settings on the test split.
        var evaluateOut = Path.Combine(_dir, "evaluation");
        var evaluate = await Cli.RunAsync("evaluate", "--work", work, "--models", "sr,sr-br", "--preset", preset, "--out", evaluateOut);
        Assert.True(evaluate.ExitCode == 0, evaluate.Error);
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(evaluateOut, "evaluation.json")))!["results"]!.AsArray();
        var srbr = results.Single(r => r!["model"]!.GetValue<string>() == "sr-br")!;
        var settings = srbr["settings"]![0]!.GetValue<string>();
        Assert.StartsWith($"tuned: {preset} (Steps={best["settings"]!["Steps"]}, ", settings);
        Assert.Contains("fixed (not tuned here)", results.Single(r => r!["model"]!.GetValue<string>() == "sr")!["settings"]![0]!.GetValue<string>());

        var prepared = new WorkDirectory(work);
        var train = ArrowSessions.Read(prepared.PreparedFile(PreparedFiles.Train));
        var test = ArrowSessions.Read(prepared.PreparedFile(PreparedFiles.Test));
        var items = IdMap.Read(prepared.PreparedFile(PreparedFiles.Items));
        var ranker = TunableModels.Baseline("sr-br", "--model").CreateRanker(best["settings"]!.AsObject());
        var expected = Evaluator.Run(ranker, 1, train, test, items, new EvaluationOptions(), CancellationToken.None);
        var mrr = Metrics.Compute(expected.Predictions.Where(p => p.Position >= 1).ToList(), [20], items.Counts)[Metrics.Mrr(20)];
        Assert.Equal(mrr, srbr["mrr@20"]!.GetValue<double>(), 12);
    }

    [Fact]
    public async Task Rerunning_the_command_skips_the_finished_trials_and_another_search_is_refused()
    {
        var work = Path.Combine(_dir, "work");
        var preset = Path.Combine(_dir, "sr.json");
        var first = await Tune(Log, work, "sr", 2, preset);
        Assert.True(first.ExitCode == 0, first.Error);
        var recorded = File.ReadAllLines(TrialsFile.For(preset).Path);

        var again = await Tune(Log, work, "sr", 4, preset);
        Assert.True(again.ExitCode == 0, again.Error);
        var lines = again.Out.Split('\n').Where(l => l.StartsWith("trial ", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, lines.Count);
        Assert.All(lines.Take(2), l => Assert.Contains("recorded earlier", l));
        Assert.All(lines.Skip(2), l => Assert.DoesNotContain("recorded earlier", l));
        var now = File.ReadAllLines(TrialsFile.For(preset).Path);
        Assert.Equal(4, now.Length);
        Assert.Equal(recorded, now.Take(2));

        // The same file with another seed or model: refused in one line, the file untouched.
        var seed = await Tune(Log, work, "sr", 4, preset, "--seed", "2");
        Assert.Equal(1, seed.ExitCode);
        Assert.Matches(@"^error: .*sr\.trials\.jsonl: trial 1 was drawn with --seed 1, not 2; .*\n$", seed.Error.ReplaceLineEndings("\n"));
        var model = await Tune(Log, work, "sr-b", 4, preset);
        Assert.Equal(1, model.ExitCode);
        Assert.Contains("trial 1 tuned sr, not sr-b", model.Error);
        Assert.Equal(now, File.ReadAllLines(TrialsFile.For(preset).Path));
    }

    /// <summary>The log with every user's last session played backwards: same items, sessions, users and filters, so
    /// fit and valid come out the same, and only the test split (each user's last session) differs.</summary>
    string WithTestSessionsReversed()
    {
        var rows = File.ReadAllLines(Log);
        var byUser = rows.Skip(1).Select(r => r.Split(',')).GroupBy(f => f[0]);
        var output = new List<string> { rows[0] };
        foreach (var user in byUser)
        {
            var events = user.OrderBy(f => long.Parse(f[2])).ToList();
            int last = events.Count - 1;
            while (last > 0 && long.Parse(events[last][2]) - long.Parse(events[last - 1][2]) <= 1800) last--;
            var reversed = events.Skip(last).Select(f => f[1]).Reverse().ToList();
            for (int i = last; i < events.Count; i++) events[i] = [events[i][0], reversed[i - last], events[i][2]];
            output.AddRange(events.Select(f => string.Join(',', f)));
        }
        var path = Path.Combine(_dir, "reversed.csv");
        File.WriteAllLines(path, output);
        return path;
    }

    [Fact]
    public async Task The_test_split_is_never_read_a_log_whose_test_sessions_differ_tunes_the_same()
    {
        var (workA, workB) = (Path.Combine(_dir, "a"), Path.Combine(_dir, "b"));
        var (presetA, presetB) = (Path.Combine(_dir, "a.json"), Path.Combine(_dir, "b.json"));
        var a = await Tune(Log, workA, "v-sknn-ebr", 3, presetA);
        Assert.True(a.ExitCode == 0, a.Error);
        var b = await Tune(WithTestSessionsReversed(), workB, "v-sknn-ebr", 3, presetB);
        Assert.True(b.ExitCode == 0, b.Error);

        // The precondition: the test splits differ, the splits a search may read do not.
        static byte[] Bytes(string work, string file) => File.ReadAllBytes(new WorkDirectory(work).PreparedFile(file));
        Assert.NotEqual(Bytes(workA, PreparedFiles.Test), Bytes(workB, PreparedFiles.Test));
        foreach (var file in new[] { PreparedFiles.Fit, PreparedFiles.Valid, PreparedFiles.Items })
            Assert.Equal(Bytes(workA, file), Bytes(workB, file));

        static IEnumerable<string> WithoutSeconds(string preset) => Trials(preset).Select(t =>
        {
            t.Remove("seconds");
            return SettingsJson.Canonical(t);
        });
        Assert.Equal(WithoutSeconds(presetA), WithoutSeconds(presetB));
    }

    [Fact]
    public async Task An_hrnn_preset_trains_the_best_trial_settings_and_evaluate_applies_it_to_its_model_only()
    {
        var work = Path.Combine(_dir, "work");
        var preset = Path.Combine(_dir, "hrnn.json");
        var tune = await Tune(Log, work, "hrnn-init", 2, preset, SmallRnn);
        Assert.True(tune.ExitCode == 0, tune.Error);
        var trials = Trials(preset);
        Assert.Equal(2, trials.Count);
        // Pinned on the command line, so not drawn: every trial has them.
        Assert.All(trials, t => Assert.Equal(16, t["settings"]!["SessionHidden"]!.GetValue<int>()));
        Assert.All(trials, t => Assert.Equal(1, t["settings"]!["Epochs"]!.GetValue<int>()));
        var best = trials.MaxBy(t => t["validation"]!["mrr@20"]!.GetValue<double>())!;

        var train = await Cli.RunAsync("train", "--work", work, "--preset", preset);
        Assert.True(train.ExitCode == 0, train.Error);
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(work, "train-summary.json")))!;
        var trained = summary["settings"].Deserialize<HrnnSettings>(Json.Options)!;
        Assert.Equal(RnnTunable.ToSettings(best["settings"]!.AsObject()), trained);

        // Also with --model naming the tuned model; another model is a mismatch.
        var mismatch = await Cli.RunAsync("train", "--work", work, "--preset", preset, "--model", "rnn");
        Assert.Equal(1, mismatch.ExitCode);
        Assert.Contains($"{preset}: model: tuned for hrnn-init, but Training:Model (--model) is rnn", mismatch.Error);

        var evaluateOut = Path.Combine(_dir, "evaluation");
        var evaluate = await Cli.RunAsync(["evaluate", "--work", work, "--models", "hrnn-init,rnn", "--preset", preset, "--out", evaluateOut,
            "--epochs", "1", "--session-hidden", "16", "--user-hidden", "16"]);
        Assert.True(evaluate.ExitCode == 0, evaluate.Error);
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(evaluateOut, "evaluation.json")))!["results"]!.AsArray();
        string SettingsOf(string model) => results.Single(r => r!["model"]!.GetValue<string>() == model)!["settings"]![0]!.GetValue<string>();
        Assert.Contains($"tuned: {preset} with the command line", SettingsOf("hrnn-init"));
        Assert.Contains("rnn, defaults with the command line", SettingsOf("rnn"));
    }

    [Fact]
    public async Task Bad_presets_fail_in_one_line_naming_the_file_and_the_key_before_any_stage()
    {
        var work = Path.Combine(_dir, "work");
        async Task<string> Fails(params string[] args)
        {
            var outcome = await Cli.RunAsync(args);
            Assert.True(outcome.ExitCode == 1, $"{string.Join(' ', args)}: exit {outcome.ExitCode}, {outcome.Error}");
            var error = outcome.Error.ReplaceLineEndings("\n");
            Assert.Single(error.TrimEnd('\n').Split('\n'));
            return error;
        }
        string Write(string name, string content)
        {
            var path = Path.Combine(_dir, name);
            File.WriteAllText(path, content);
            return path;
        }

        var unknown = Write("unknown.json", """{ "model": "hrnn-init", "settings": { "LearningRates": 0.1 } }""");
        Assert.Contains($"{unknown}: settings.LearningRates: unknown key", await Fails("run", "--input", Log, "--work", work, "--preset", unknown));
        Assert.False(File.Exists(Path.Combine(work, "warehouse.duckdb")), "run started a stage before refusing the preset");
        var range = Write("range.json", """{ "model": "hrnn-all", "settings": { "BatchSize": 0 } }""");
        Assert.Contains($"{range}: settings.BatchSize: batch size 0: must be >= 1", await Fails("train", "--work", work, "--preset", range));
        var text = Write("text.json", "model: sr");
        Assert.Contains($"{text}: not a JSON preset file", await Fails("train", "--work", work, "--preset", text));
        var missing = Path.Combine(_dir, "missing.json");
        Assert.Contains($"--preset {missing}: no such preset file", await Fails("train", "--work", work, "--preset", missing));
        var baseline = Write("baseline.json", """{ "model": "sr-br", "settings": { "Steps": 4 } }""");
        Assert.Contains($"{baseline}: holds sr-br's settings, a baseline's; train and run take HRNN presets",
            await Fails("train", "--work", work, "--preset", baseline));
        Assert.Contains($"--preset {baseline}: tuned for sr-br, which --models does not name",
            await Fails("evaluate", "--input", Log, "--work", work, "--models", "sr,pop", "--preset", baseline, "--out", Path.Combine(_dir, "e")));
        var badBaseline = Write("bad-baseline.json", """{ "model": "v-sknn", "settings": { "Weighting": "cubic" } }""");
        Assert.Contains($"{badBaseline}: settings.Weighting: \"cubic\" is not one of",
            await Fails("evaluate", "--input", Log, "--work", work, "--models", "v-sknn", "--preset", badBaseline, "--out", Path.Combine(_dir, "e")));
    }

    [Theory]
    [InlineData("pop", "--model pop: has no settings to tune")]
    [InlineData("gru4rec", "--model gru4rec: unknown model (tunable: rnn, rnn-concat, hrnn-init, hrnn-all, item-knn")]
    public async Task Tune_refuses_a_model_with_nothing_to_tune_before_any_stage(string model, string message)
    {
        var work = Path.Combine(_dir, "work");
        var tune = await Tune(Log, work, model, 3, Path.Combine(_dir, "p.json"));
        Assert.Equal(1, tune.ExitCode);
        Assert.Contains(message, tune.Error);
        Assert.False(File.Exists(Path.Combine(work, "warehouse.duckdb")));
    }

    [Fact]
    public async Task Tune_refuses_training_options_for_a_baseline_and_a_trial_count_below_one()
    {
        var work = Path.Combine(_dir, "work");
        var epochs = await Tune(Log, work, "sr", 3, Path.Combine(_dir, "p.json"), "--epochs", "2");
        Assert.Equal(1, epochs.ExitCode);
        Assert.Contains("--model sr is a baseline: training options (Epochs) do not apply", epochs.Error);
        var zero = await Tune(Log, work, "sr", 0, Path.Combine(_dir, "p.json"));
        Assert.Equal(1, zero.ExitCode);
        Assert.Contains("--trials 0: must be >= 1", zero.Error);
    }
}
