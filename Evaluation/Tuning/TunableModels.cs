using System.Text.Json.Nodes;
using HrnnPipeline.Evaluation.Baselines;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;

namespace HrnnPipeline.Evaluation.Tuning;

/// <summary>A model `tune` can search: its default settings, its search dimensions, and how settings are checked.</summary>
public abstract class TunableModel(string name)
{
    public string Name { get; } = name;

    /// <summary>The settings a trial starts from when nothing else fixes them (the model's own defaults).</summary>
    public abstract JsonObject Defaults { get; }

    public abstract IReadOnlyList<Dimension> Dimensions { get; }

    /// <summary>The search over <see cref="Dimensions"/> but the <paramref name="pinned"/> keys, everything else as
    /// <paramref name="fixedSettings"/> (default: <see cref="Defaults"/>).</summary>
    public SearchSpace Space(JsonObject? fixedSettings = null, IReadOnlySet<string>? pinned = null) => new(Name,
        fixedSettings ?? Defaults, Dimensions.Where(d => pinned is null || !pinned.Contains(d.Key)).ToList());

    /// <summary>Complete settings from a (possibly partial) settings object read from a file; a bad key or value fails
    /// with a <see cref="PipelineException"/> naming <paramref name="where"/> and the key.</summary>
    public abstract JsonObject Check(JsonObject settings, string where);
}

/// <summary>An HRNN-family model: settings are the Training keys (<see cref="HrnnSettings"/>).</summary>
public sealed class RnnTunable(ModelKind kind) : TunableModel(HrnnSettings.ModelName(kind))
{
    public ModelKind Kind { get; } = kind;

    public override JsonObject Defaults => Of(new HrnnSettings { Model = Kind });

    /// <summary>
    /// GRU4Rec's paramspace files (hidasib/GRU4Rec paramspaces/*_standard_parspace.json: hidden 64-512 step 32, batch
    /// 32-256 step 16, hidden dropout 0-0.7, momentum 0-0.9, sample_alpha 0-1, bpreg 0-2) with the learning rate
    /// log-uniform per optimiser, the three losses and n_sample of later GRU4Rec, logQ for sampled cross-entropy,
    /// and HGRU4Rec's user-level dropouts (session-rec's hgru4rec space searches the same three).
    /// </summary>
    public override IReadOnlyList<Dimension> Dimensions { get; } = Space(kind);

    /// <summary>Settings as a trial and a preset file hold them: every Training key but the device (the machine's
    /// choice, not a hyperparameter).</summary>
    public static JsonObject Of(HrnnSettings settings)
    {
        var json = SettingsJson.ToJson(settings);
        json.Remove(nameof(HrnnSettings.Device));
        return json;
    }

    public static HrnnSettings ToSettings(JsonObject settings) => SettingsJson.FromJson<HrnnSettings>(settings);

    public override JsonObject Check(JsonObject settings, string where)
    {
        if (settings[nameof(HrnnSettings.Model)] is { } model && SettingsJson.Show(model) != Name)
            throw new PipelineException($"{where}.Model: {SettingsJson.Show(model)} differs from the preset's model {Name}");
        return SettingsJson.Check<HrnnSettings>(Defaults, settings, where, s => s.Validate());
    }

    static List<Dimension> Space(ModelKind kind)
    {
        static bool Is(JsonObject s, string key, string value) => SearchSpace.Text(s, key) == value;
        bool user = kind is ModelKind.HrnnInit or ModelKind.HrnnAll;
        var dimensions = new List<Dimension>
        {
            new OneOf(nameof(HrnnSettings.Optimizer), "adagrad", "adam"),
            new LogUniform(nameof(HrnnSettings.LearningRate), 0.01, 0.25) { When = s => Is(s, nameof(HrnnSettings.Optimizer), "adagrad") },
            new LogUniform(nameof(HrnnSettings.LearningRate), 0.0005, 0.02) { When = s => Is(s, nameof(HrnnSettings.Optimizer), "adam") },
            new Grid(nameof(HrnnSettings.Momentum), 0, 0.9, 0.05) { When = s => Is(s, nameof(HrnnSettings.Optimizer), "adagrad") },
            new OneOf(nameof(HrnnSettings.Loss), "top1", "bpr-max", "cross-entropy"),
            new OneOf(nameof(HrnnSettings.NSample), 0, 512, 2048),
            new Grid(nameof(HrnnSettings.SampleAlpha), 0, 1, 0.1) { When = s => SearchSpace.Number(s, nameof(HrnnSettings.NSample)) > 0 },
            new Grid(nameof(HrnnSettings.BprReg), 0, 2, 0.05) { When = s => Is(s, nameof(HrnnSettings.Loss), "bpr-max") },
            new OneOf(nameof(HrnnSettings.LogQ), 0.0, 1.0)
            {
                When = s => Is(s, nameof(HrnnSettings.Loss), "cross-entropy") && SearchSpace.Number(s, nameof(HrnnSettings.NSample)) > 0,
            },
            new Grid(nameof(HrnnSettings.SessionHidden), 64, 512, 32),
        };
        if (user) dimensions.Add(new Grid(nameof(HrnnSettings.UserHidden), 64, 512, 32));
        dimensions.Add(new Grid(nameof(HrnnSettings.DropoutSession), 0, 0.7, 0.05));
        if (user)
        {
            dimensions.Add(new Grid(nameof(HrnnSettings.DropoutUser), 0, 0.5, 0.05));
            dimensions.Add(new Grid(nameof(HrnnSettings.DropoutInit), 0, 0.5, 0.05));
        }
        dimensions.Add(new Grid(nameof(HrnnSettings.BatchSize), 32, 256, 16));
        return dimensions;
    }
}

/// <summary>A baseline whose options record <typeparamref name="TOptions"/> the search varies.</summary>
public sealed class BaselineTunable<TOptions>(
    string name, TOptions defaults, IReadOnlyList<Dimension> dimensions, Func<string, TOptions, IRanker> create,
    Action<string, TOptions> validate) : BaselineTunable(name) where TOptions : class
{
    public override JsonObject Defaults => SettingsJson.ToJson(defaults);
    public override IReadOnlyList<Dimension> Dimensions { get; } = dimensions;

    public override IRanker CreateRanker(JsonObject settings)
    {
        var options = SettingsJson.FromJson<TOptions>(settings);
        validate(Name, options);
        return create(Name, options);
    }

    public override JsonObject Check(JsonObject settings, string where) =>
        SettingsJson.Check<TOptions>(Defaults, settings, where, o => validate(Name, o));
}

public abstract class BaselineTunable(string name) : TunableModel(name)
{
    public abstract IRanker CreateRanker(JsonObject settings);
}

/// <summary>Item-KNN's and SKNN's one setting: how many neighbours score.</summary>
public sealed record NeighbourOptions
{
    public int Neighbours { get; init; }

    public void Validate(string model)
    {
        if (Neighbours < 1) throw new PipelineException($"{model}: neighbours {Neighbours} must be >= 1");
    }
}

/// <summary>
/// Every model `tune` searches, by the names `evaluate --models` uses. The baselines' spaces are session-rec's
/// random-search lists for the session-aware algorithms (Latifi, Mauro and Jannach 2021: k, sample_size, the
/// weightings, idf, extend_session_length 1-25, boost_own_sessions 0.1-3.9, remind_sessions_num 1-10, the reminder
/// weights); a variant searches only the extensions it has, the others stay off as its preset has them.
/// pop and ppop have nothing to tune.
/// </summary>
public static class TunableModels
{
    public static IReadOnlyList<string> Rnns { get; } = ["rnn", "rnn-concat", "hrnn-init", "hrnn-all"];
    public static IReadOnlyList<string> Baselines { get; } = ["item-knn", "sknn", .. BaselineRankers.SessionAwareNames];
    public static IReadOnlyList<string> Untunable { get; } = ["pop", "ppop"];

    public static bool IsRnn(string name) => Rnns.Contains(name);

    public static RnnTunable Rnn(string name) => new(HrnnSettings.ParseModel(name));

    /// <summary>The named model (an RNN or a tunable baseline), or a one-line error for pop, ppop or an unknown name.</summary>
    public static TunableModel ByName(string name, string where) =>
        IsRnn(name) ? Rnn(name) : Baseline(name, where);

    public static BaselineTunable Baseline(string name, string where)
    {
        if (Untunable.Contains(name)) throw new PipelineException($"{where} {name}: has no settings to tune");
        if (!Baselines.Contains(name))
            throw new PipelineException($"{where} {name}: unknown model (tunable: {string.Join(", ", Rnns.Concat(Baselines))})");
        return name switch
        {
            "item-knn" => Neighbours(name, new ItemKnnRanker().Neighbours, [50, 100, 200, 300, 500, 1000], n => new ItemKnnRanker(n)),
            "sknn" => Neighbours(name, new SessionKnnRanker().Neighbours, [50, 100, 500, 1000, 1500], n => new SessionKnnRanker(n)),
            _ when name.StartsWith("v-sknn", StringComparison.Ordinal) => Vsknn(name),
            _ => Rules(name),
        };
    }

    static BaselineTunable Neighbours(string name, int defaults, object[] values, Func<int, IRanker> create) =>
        new BaselineTunable<NeighbourOptions>(name, new NeighbourOptions { Neighbours = defaults },
            [new OneOf(nameof(NeighbourOptions.Neighbours), values)], (_, o) => create(o.Neighbours), (n, o) => o.Validate(n));

    static readonly object[] Weightings = ["same", "div", "linear", "quadratic", "log"];

    static BaselineTunable Vsknn(string name)
    {
        var (e, b, r) = Extensions(name, "v-sknn");
        var dimensions = new List<Dimension>
        {
            new OneOf(nameof(VsknnOptions.Neighbours), 50, 100, 500, 1000, 1500),
            new OneOf(nameof(VsknnOptions.SampleSize), 500, 1000, 2500, 5000, 10000),
            new OneOf(nameof(VsknnOptions.Weighting), Weightings),
            new OneOf(nameof(VsknnOptions.ScoreWeighting), Weightings),
            new OneOf(nameof(VsknnOptions.IdfWeighting), 0, 1, 2, 5, 10),
        };
        if (e) dimensions.Add(new Grid(nameof(VsknnOptions.ExtendSessionLength), 1, 25, 1));
        if (b) dimensions.Add(BoostOwnSessions());
        if (r) dimensions.AddRange(Reminders(similarity: true));
        var defaults = ((VsknnRanker)BaselineRankers.ByName(name)!).Options;
        return new BaselineTunable<VsknnOptions>(name, defaults, dimensions, (n, o) => new VsknnRanker(n, o), (n, o) => o.Validate(n));
    }

    static BaselineTunable Rules(string name)
    {
        var (_, b, r) = Extensions(name, "sr");
        var dimensions = new List<Dimension>
        {
            new OneOf(nameof(SequentialRulesOptions.Steps), 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 20, 25, 30),
            new OneOf(nameof(SequentialRulesOptions.Weighting), "linear", "div", "quadratic", "log"),
        };
        if (b) dimensions.Add(BoostOwnSessions());
        if (r) dimensions.AddRange(Reminders(similarity: false));
        var defaults = ((SequentialRulesRanker)BaselineRankers.ByName(name)!).Options;
        return new BaselineTunable<SequentialRulesOptions>(name, defaults, dimensions,
            (n, o) => new SequentialRulesRanker(n, o), (n, o) => o.Validate(n));
    }

    /// <summary>Which of E, B and R a session-aware variant has, from its name (v-sknn-ebr, sr-br, ...).</summary>
    static (bool E, bool B, bool R) Extensions(string name, string family)
    {
        var suffix = name.Length > family.Length ? name[(family.Length + 1)..] : "";
        return (suffix.Contains('e'), suffix.Contains('b'), suffix.Contains('r'));
    }

    static Grid BoostOwnSessions() => new(nameof(VsknnOptions.BoostOwnSessions), 0.1, 3.9, 0.2);

    static IEnumerable<Dimension> Reminders(bool similarity)
    {
        const string r = nameof(VsknnOptions.Reminders);
        yield return new Grid($"{r}:{nameof(ReminderOptions.Sessions)}", 1, 10, 1);
        yield return new Grid($"{r}:{nameof(ReminderOptions.WeightBase)}", 1, 10, 1);
        yield return new Grid($"{r}:{nameof(ReminderOptions.WeightIRec)}", 0, 9, 1);
        if (similarity) yield return new Grid($"{r}:{nameof(ReminderOptions.WeightSSim)}", 0, 9, 1);
    }
}
