using System.Text.Json.Nodes;
using HrnnPipeline.Evaluation;
using HrnnPipeline.Evaluation.Baselines;
using HrnnPipeline.Evaluation.Tuning;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;

namespace HrnnPipeline.Tests.Evaluation;

/// <summary>The random search of `tune`: what it draws, how it records and resumes, and the preset files it writes.</summary>
public sealed class TuningTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("tuning").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> Models() => [.. TunableModels.Rnns.Concat(TunableModels.Baselines)];

    [Theory]
    [MemberData(nameof(Models))]
    public void The_same_seed_draws_the_same_trials_and_another_seed_others(string model)
    {
        var space = TunableModels.ByName(model, "--model").Space();
        var first = Enumerable.Range(1, 8).Select(t => SettingsJson.Canonical(space.Sample(7, t).Settings)).ToList();
        // Drawn again in another order: trial t depends on the seed and t only, not on the trials drawn before it.
        var again = Enumerable.Range(1, 8).Reverse().Select(t => SettingsJson.Canonical(space.Sample(7, t).Settings)).Reverse().ToList();
        var other = Enumerable.Range(1, 8).Select(t => SettingsJson.Canonical(space.Sample(8, t).Settings)).ToList();
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        Assert.True(first.Distinct().Count() > 1, $"{model}: every trial drew the same settings");
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Every_drawn_trial_is_a_valid_setting_of_its_model(string model)
    {
        var tunable = TunableModels.ByName(model, "--model");
        var space = tunable.Space();
        for (int t = 1; t <= 200; t++)
        {
            var trial = space.Sample(3, t);
            // A drawn trial passes the same checks as a preset file, and builds its ranker or Training settings.
            var settings = tunable.Check(trial.Settings, $"trial {t}");
            Assert.Equal(SettingsJson.Canonical(trial.Settings), SettingsJson.Canonical(settings));
            if (tunable is BaselineTunable baseline) Assert.Equal(model, baseline.CreateRanker(settings).Name);
            else RnnTunable.ToSettings(settings).Validate();
        }
    }

    [Fact]
    public void Hrnn_trials_draw_each_setting_only_where_it_applies_and_inside_its_range()
    {
        var space = TunableModels.Rnn("hrnn-all").Space();
        var trials = Enumerable.Range(1, 400).Select(t => space.Sample(1, t)).ToList();
        var defaults = new HrnnSettings();
        foreach (var trial in trials)
        {
            var s = RnnTunable.ToSettings(trial.Settings);
            var drawn = trial.Drawn.Select(d => d.Key).ToList();
            Assert.Equal(ModelKind.HrnnAll, s.Model);
            Assert.InRange(s.LearningRate, s.Optimizer == OptimizerKind.Adagrad ? 0.01 : 0.0005, s.Optimizer == OptimizerKind.Adagrad ? 0.25 : 0.02);
            Assert.Equal(s.Optimizer == OptimizerKind.Adagrad, drawn.Contains(nameof(HrnnSettings.Momentum)));
            Assert.Equal(s.NSample > 0, drawn.Contains(nameof(HrnnSettings.SampleAlpha)));
            Assert.Equal(s.Loss == LossKind.BprMax, drawn.Contains(nameof(HrnnSettings.BprReg)));
            Assert.Equal(s.Loss == LossKind.CrossEntropy && s.NSample > 0, drawn.Contains(nameof(HrnnSettings.LogQ)));
            if (!drawn.Contains(nameof(HrnnSettings.BprReg))) Assert.Equal(defaults.BprReg, s.BprReg);
            Assert.Contains(s.NSample, new[] { 0, 512, 2048 });
            Assert.InRange(s.SessionHidden, 64, 512);
            Assert.InRange(s.UserHidden, 64, 512);
            Assert.InRange(s.BatchSize, 32, 256);
            Assert.InRange(s.DropoutSession, 0, 0.7);
            Assert.Equal(s.Epochs, defaults.Epochs); // not searched
        }
        // Every loss and optimiser comes up, and the learning rate spreads over its log range.
        Assert.Equal(3, trials.Select(t => RnnTunable.ToSettings(t.Settings).Loss).Distinct().Count());
        Assert.Equal(2, trials.Select(t => RnnTunable.ToSettings(t.Settings).Optimizer).Distinct().Count());
        var adagrad = trials.Select(t => RnnTunable.ToSettings(t.Settings)).Where(s => s.Optimizer == OptimizerKind.Adagrad).ToList();
        Assert.Contains(adagrad, s => s.LearningRate < 0.03);
        Assert.Contains(adagrad, s => s.LearningRate > 0.1);
    }

    [Fact]
    public void Session_only_rnns_do_not_search_the_user_gru_and_pinned_settings_stay_fixed()
    {
        var rnn = TunableModels.Rnn("rnn");
        Assert.DoesNotContain(rnn.Dimensions, d => d.Key is nameof(HrnnSettings.UserHidden) or nameof(HrnnSettings.DropoutUser) or nameof(HrnnSettings.DropoutInit));
        var fixedSettings = RnnTunable.Of(new HrnnSettings { Model = ModelKind.Rnn, SessionHidden = 16, Epochs = 2 });
        var space = rnn.Space(fixedSettings, new HashSet<string> { nameof(HrnnSettings.SessionHidden) });
        for (int t = 1; t <= 20; t++)
        {
            var s = RnnTunable.ToSettings(space.Sample(1, t).Settings);
            Assert.Equal(16, s.SessionHidden);
            Assert.Equal(2, s.Epochs);
        }
    }

    [Fact]
    public void Variants_search_only_the_extensions_they_have()
    {
        static HashSet<string> Keys(string model) => TunableModels.Baseline(model, "--model").Dimensions.Select(d => d.Key).ToHashSet();
        Assert.DoesNotContain(nameof(VsknnOptions.ExtendSessionLength), Keys("v-sknn"));
        Assert.DoesNotContain(nameof(VsknnOptions.BoostOwnSessions), Keys("v-sknn"));
        Assert.Contains(nameof(VsknnOptions.ExtendSessionLength), Keys("v-sknn-e"));
        Assert.DoesNotContain(nameof(VsknnOptions.BoostOwnSessions), Keys("v-sknn-e"));
        Assert.Contains("Reminders:WeightSSim", Keys("v-sknn-ebr"));
        Assert.Contains("Reminders:WeightIRec", Keys("sr-br"));
        Assert.DoesNotContain("Reminders:WeightSSim", Keys("sr-br")); // SR has no session similarity
        Assert.DoesNotContain("Reminders:Sessions", Keys("sr-b"));
        // A variant without R keeps reminders off in every trial.
        var space = TunableModels.Baseline("v-sknn-e", "--model").Space();
        Assert.All(Enumerable.Range(1, 20), t => Assert.Null(space.Sample(1, t).Settings[nameof(VsknnOptions.Reminders)]));
    }

    [Theory]
    [InlineData("pop", "has no settings to tune")]
    [InlineData("ppop", "has no settings to tune")]
    [InlineData("gru", "unknown model")]
    public void Models_without_settings_or_unknown_are_refused_by_name(string model, string message)
    {
        var e = Assert.Throws<PipelineException>(() => TunableModels.ByName(model, "--model"));
        Assert.Contains($"--model {model}", e.Message);
        Assert.Contains(message, e.Message);
    }

    /// <summary>A scorer that needs no data: MRR@20 is a function of the settings, and every call is counted.</summary>
    sealed class FakeScorer
    {
        public List<int> Scored { get; } = [];

        public IReadOnlyDictionary<string, double> Score(TrialSettings trial, CancellationToken ct)
        {
            Scored.Add(trial.Trial);
            double steps = SearchSpace.Number(trial.Settings, nameof(SequentialRulesOptions.Steps));
            return new Dictionary<string, double>
            {
                [Metrics.Mrr(20)] = steps / 100, [Metrics.Recall(5)] = 0.5, [Metrics.Mrr(5)] = 0.25, [Metrics.Recall(20)] = 0.75,
            };
        }
    }

    RandomSearch Search(int seed, int trials, out TrialsFile file, string model = "sr")
    {
        file = TrialsFile.For(Path.Combine(_dir, "best.json"));
        return new RandomSearch(TunableModels.Baseline(model, "--model").Space(), seed, trials, file);
    }

    [Fact]
    public void A_rerun_skips_the_recorded_trials_and_continues_after_them()
    {
        var scorer = new FakeScorer();
        var lines = new List<string>();
        var first = Search(5, 3, out var file).Run("data", scorer.Score, lines.Add, CancellationToken.None);
        Assert.Equal([1, 2, 3], scorer.Scored);
        var recorded = File.ReadAllLines(file.Path);
        Assert.Equal(3, recorded.Length);

        scorer.Scored.Clear();
        lines.Clear();
        var second = Search(5, 5, out _).Run("data", scorer.Score, lines.Add, CancellationToken.None);
        Assert.Equal([4, 5], scorer.Scored);
        Assert.Equal(5, second.Count);
        Assert.Equal(recorded, File.ReadAllLines(file.Path).Take(3));
        Assert.Equal(first.Select(r => SettingsJson.Canonical(r.ToJson())), second.Take(3).Select(r => SettingsJson.Canonical(r.ToJson())));
        Assert.Equal(5, lines.Count);
        Assert.All(lines.Take(3), l => Assert.Contains("recorded earlier", l));
        Assert.StartsWith("trial 4/5", lines[3]);

        // Asked for fewer than recorded: nothing runs, the best is of the trials asked for.
        scorer.Scored.Clear();
        var fewer = Search(5, 2, out _).Run("data", scorer.Score, _ => { }, CancellationToken.None);
        Assert.Empty(scorer.Scored);
        Assert.Equal(2, fewer.Count);
    }

    [Fact]
    public void Progress_lines_show_the_trial_its_settings_its_figures_the_best_so_far_and_seconds()
    {
        var lines = new List<string>();
        var records = Search(2, 4, out _).Run("data", new FakeScorer().Score, lines.Add, CancellationToken.None);
        var best = RandomSearch.Best(records);
        Assert.Equal(records.Max(r => r.Score), best.Score);
        Assert.Equal(records.First(r => r.Score == best.Score).Trial, best.Trial); // earliest on ties
        for (int i = 0; i < lines.Count; i++)
        {
            Assert.StartsWith($"trial {i + 1}/4  Steps=", lines[i]);
            Assert.Contains("valid MRR@20 ", lines[i]);
            Assert.Contains("R@5 0.5000, MRR@5 0.2500, R@20 0.7500", lines[i]);
            var bestSoFar = RandomSearch.Best(records.Take(i + 1).ToList());
            Assert.Contains($"best MRR@20 {bestSoFar.Score:F4} (trial {bestSoFar.Trial})", lines[i]);
            Assert.EndsWith(" s", lines[i]);
        }
    }

    [Fact]
    public void A_trials_file_of_another_search_is_refused_naming_the_difference()
    {
        Search(5, 2, out var file).Run("data", new FakeScorer().Score, _ => { }, CancellationToken.None);
        var noRun = new FakeScorer();
        var seed = Assert.Throws<PipelineException>(() => Search(6, 3, out _).Run("data", noRun.Score, _ => { }, CancellationToken.None));
        Assert.Contains("--seed 5, not 6", seed.Message);
        var model = Assert.Throws<PipelineException>(() => Search(5, 3, out _, "sr-b").Run("data", noRun.Score, _ => { }, CancellationToken.None));
        Assert.Contains("tuned sr, not sr-b", model.Message);
        var data = Assert.Throws<PipelineException>(() => Search(5, 3, out _).Run("other", noRun.Score, _ => { }, CancellationToken.None));
        Assert.Contains("ran on other data", data.Message);
        Assert.Empty(noRun.Scored);

        // A recorded trial whose settings the seed no longer draws (edited, or the space changed).
        var lines = File.ReadAllLines(file.Path);
        var edited = JsonNode.Parse(lines[1])!.AsObject();
        edited["settings"]![nameof(SequentialRulesOptions.Steps)] = 99;
        File.WriteAllLines(file.Path, [lines[0], SettingsJson.Canonical(edited)]);
        var settings = Assert.Throws<PipelineException>(() => Search(5, 3, out _).Run("data", noRun.Score, _ => { }, CancellationToken.None));
        Assert.Contains($"{file.Path}: trial 2 has other settings", settings.Message);
        Assert.Contains("Steps 99 recorded", settings.Message);
        Assert.Empty(noRun.Scored);
    }

    [Fact]
    public void An_unfinished_last_line_is_dropped_and_its_trial_run_again()
    {
        var scorer = new FakeScorer();
        Search(5, 2, out var file).Run("data", scorer.Score, _ => { }, CancellationToken.None);
        File.AppendAllText(file.Path, "{\"trial\":3,\"model\":\"sr\",\"se"); // killed while writing trial 3
        scorer.Scored.Clear();
        var records = Search(5, 3, out _).Run("data", scorer.Score, _ => { }, CancellationToken.None);
        Assert.Equal([3], scorer.Scored);
        Assert.Equal([1, 2, 3], records.Select(r => r.Trial));
        Assert.Equal(3, File.ReadAllLines(file.Path).Length);
    }

    [Fact]
    public void A_written_preset_reads_back_as_the_settings_it_holds()
    {
        var tunable = TunableModels.Baseline("v-sknn-ebr", "--model");
        var trial = tunable.Space().Sample(4, 2);
        var path = Path.Combine(_dir, "v.json");
        TunedPreset.Write(path, tunable.Name, trial.Settings, new JsonObject { ["best_trial"] = 2 });
        var preset = TunedPreset.Read(path);
        Assert.Equal("v-sknn-ebr", preset.Model);
        Assert.False(preset.IsRnn);
        var ranker = Assert.IsType<VsknnRanker>(preset.Baseline());
        Assert.Equal(SettingsJson.FromJson<VsknnOptions>(trial.Settings), ranker.Options);
        Assert.StartsWith($"tuned: {path} (Neighbours=", preset.Describe());

        var rnn = TunableModels.Rnn("hrnn-init");
        var rnnTrial = rnn.Space().Sample(4, 2);
        TunedPreset.Write(path, rnn.Name, rnnTrial.Settings, new JsonObject());
        var rnnPreset = TunedPreset.Read(path);
        Assert.Equal(RnnTunable.ToSettings(rnnTrial.Settings), rnnPreset.Training);
        Assert.Equal($"tuned: {path}", rnnPreset.Describe());
    }

    [Fact]
    public void A_partial_preset_keeps_the_model_defaults_for_the_keys_it_leaves_out()
    {
        var path = Path.Combine(_dir, "partial.json");
        File.WriteAllText(path, """{ "model": "sr-br", "settings": { "Steps": 3, "Reminders": { "WeightIRec": 4 } } }""");
        var ranker = Assert.IsType<SequentialRulesRanker>(TunedPreset.Read(path).Baseline());
        var defaults = ((SequentialRulesRanker)BaselineRankers.ByName("sr-br")!).Options;
        Assert.Equal(defaults with { Steps = 3, Reminders = defaults.Reminders! with { WeightIRec = 4 } }, ranker.Options);
    }

    [Theory]
    [InlineData("not json {", "not a JSON preset file (line 1: ")]
    [InlineData("{\n  \"model\": \"sr\",\n  oops\n}", "not a JSON preset file (line 3: ")]
    [InlineData("[1, 2]", "not a preset file")]
    [InlineData("""{ "settings": {} }""", "model: missing")]
    [InlineData("""{ "model": "sr", "settings": 3 }""", "settings: missing or not an object")]
    [InlineData("""{ "model": "sr", "settings": {}, "extra": 1 }""", "unknown key 'extra'")]
    [InlineData("""{ "model": "gru", "settings": {} }""", "model gru: unknown model")]
    [InlineData("""{ "model": "pop", "settings": {} }""", "model pop: has no settings to tune")]
    [InlineData("""{ "model": "sr", "settings": { "Stepz": 3 } }""", "settings.Stepz: unknown key (known: Steps,")]
    [InlineData("""{ "model": "sr", "settings": { "steps": 3 } }""", "settings.steps: unknown key (did you mean Steps?)")]
    [InlineData("""{ "model": "sr", "settings": { "Steps": 0 } }""", "settings.Steps: sr: steps 0 must be >= 1")]
    [InlineData("""{ "model": "sr", "settings": { "Steps": "many" } }""", "settings.Steps: \"many\" is not an integer")]
    [InlineData("""{ "model": "sr", "settings": { "Weighting": "cubic" } }""", "settings.Weighting: \"cubic\" is not one of same, div, linear, quadratic, log")]
    [InlineData("""{ "model": "sr-br", "settings": { "Reminders": { "Sessions": 0 } } }""", "settings.Reminders.Sessions: sr-br: remind sessions 0 must be >= 1")]
    [InlineData("""{ "model": "sr-br", "settings": { "Reminders": { "WeightSSim": 2 } } }""", "settings.Reminders.WeightSSim: sr-br: reminder weight SSim 2")]
    [InlineData("""{ "model": "sr-br", "settings": { "Reminders": { "Often": 2 } } }""", "settings.Reminders.Often: unknown key")]
    [InlineData("""{ "model": "hrnn-init", "settings": { "DropoutSession": 1.5 } }""", "settings.DropoutSession: dropout-session 1.5: must be in [0, 1)")]
    [InlineData("""{ "model": "hrnn-init", "settings": { "Loss": "hinge" } }""", "settings.Loss: \"hinge\" is not one of top1, bpr, cross-entropy, bpr-max")]
    [InlineData("""{ "model": "hrnn-init", "settings": { "Model": "rnn" } }""", "settings.Model: rnn differs from the preset's model hrnn-init")]
    [InlineData("""{ "model": "hrnn-init", "settings": { "HasUserGru": false } }""", "settings.HasUserGru: unknown key")]
    public void A_bad_preset_file_fails_in_one_line_naming_the_file_and_the_key(string content, string message)
    {
        var path = Path.Combine(_dir, "bad.json");
        File.WriteAllText(path, content);
        var e = Assert.Throws<PipelineException>(() => TunedPreset.Read(path));
        Assert.StartsWith(path, e.Message);
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_missing_preset_file_is_named()
    {
        var e = Assert.Throws<PipelineException>(() => TunedPreset.Read(Path.Combine(_dir, "missing.json")));
        Assert.Contains("missing.json: no such preset file", e.Message);
        Assert.True(TunedPreset.IsFile("missing.json"));
        Assert.False(TunedPreset.IsFile("paper-small-init"));
    }

    [Fact]
    public void A_trial_is_scored_on_the_validation_split_with_the_fit_sessions_as_history()
    {
        // Validation targets that only the fit history predicts: user 0 always goes 1 -> 2, user 1 always 3 -> 4.
        var fit = TestData.Sessions(0, (0, [1, 2, 5]), (0, [1, 2, 6]), (1, [3, 4, 5]), (1, [3, 4, 6]));
        var valid = TestData.Sessions(10, (0, [1, 2]), (1, [3, 4]));
        var data = new TuningData(fit, valid, TestData.ItemsOf(fit, 6));
        var sr = TunableModels.Baseline("sr", "--model");
        var scorer = new TrialScorer(sr, data, _dir, "cpu");
        var figures = scorer.Score(sr.Space().Sample(1, 1), CancellationToken.None);
        Assert.Equal(2, figures[Metrics.PredictionCount]); // one next-item prediction per validation session
        Assert.Equal(1.0, figures[Metrics.Mrr(20)]);
        Assert.Equal(1.0, figures[Metrics.Recall(5)]);

        // The fingerprint is of the splits' contents: other validation sessions give another one.
        var other = new TuningData(fit, TestData.Sessions(10, (0, [1, 5]), (1, [3, 4])), data.Items);
        Assert.Equal(data.Fingerprint(), new TuningData(fit, valid, data.Items).Fingerprint());
        Assert.NotEqual(data.Fingerprint(), other.Fingerprint());
    }
}
