namespace HrnnPipeline.Evaluation.Baselines;

/// <summary>The paper's baselines with its settings, in the order the report lists them, and the session-aware ones.</summary>
public static class BaselineRankers
{
    public static IReadOnlyList<IRanker> All(int itemKnnNeighbours = 300, int sessionKnnNeighbours = 100) =>
    [
        new PopRanker(),
        new PersonalPopRanker(),
        new ItemKnnRanker(itemKnnNeighbours),
        new SessionKnnRanker(sessionKnnNeighbours),
    ];

    /// <summary>Names of <see cref="SessionAware"/>, in its order.</summary>
    public static IReadOnlyList<string> SessionAwareNames { get; } =
        ["v-sknn", "v-sknn-e", "v-sknn-b", "v-sknn-r", "v-sknn-ebr", "sr", "sr-b", "sr-r", "sr-br"];

    /// <summary>
    /// The session-aware baselines of Latifi, Mauro and Jannach 2021 with session-rec's tuned lastfm settings
    /// (conf/save/lastfm/session_aware/window/exp/): V-SKNN, its extensions E, B, R and EBR, SR, SR with B, R and BR.
    /// The single-extension presets are session-rec's own tuned ones, not EBR's values with the rest switched off.
    /// </summary>
    public static IReadOnlyList<IRanker> SessionAware() => SessionAwareNames.Select(n => ByName(n)!).ToList();

    /// <summary>Where a baseline's default settings come from, for the report.</summary>
    public static string SettingsOf(string name) => SessionAwareNames.Contains(name)
        ? "session-rec's tuned lastfm settings"
        : "the paper's settings";

    /// <summary>A paper or session-aware baseline by its name with its default settings, or null.</summary>
    public static IRanker? ByName(string name)
    {
        var plainKnn = new VsknnOptions { ExtendSessionLength = 0, BoostOwnSessions = 0, Reminders = null };
        var plainRules = new SequentialRulesOptions { BoostOwnSessions = 0, Reminders = null };
        return name switch
        {
            "v-sknn" => new VsknnRanker(name, plainKnn with { IdfWeighting = 5 }),
            "v-sknn-e" => new VsknnRanker(name, plainKnn with { Neighbours = 1000, IdfWeighting = 2, ExtendSessionLength = 3 }),
            "v-sknn-b" => new VsknnRanker(name, plainKnn with { SampleSize = 2500, IdfWeighting = 2, BoostOwnSessions = 2.9 }),
            "v-sknn-r" => new VsknnRanker(name, plainKnn with
            {
                IdfWeighting = 5,
                Reminders = new ReminderOptions { Sessions = 3, WeightBase = 8, WeightIRec = 1, WeightSSim = 3 },
            }),
            "v-sknn-ebr" => new VsknnRanker(name, new VsknnOptions()),
            "sr" => new SequentialRulesRanker(name, plainRules with { Steps = 8 }),
            "sr-b" => new SequentialRulesRanker(name, plainRules with { BoostOwnSessions = 3.1 }),
            "sr-r" => new SequentialRulesRanker(name, plainRules with
            {
                Steps = 8,
                Reminders = new ReminderOptions { Sessions = 2, WeightBase = 9, WeightIRec = 2, WeightSSim = 0 },
            }),
            "sr-br" => new SequentialRulesRanker(name, new SequentialRulesOptions()),
            _ => All().FirstOrDefault(r => r.Name == name),
        };
    }
}
