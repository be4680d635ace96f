using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Evaluation.Baselines;

/// <summary>
/// SR settings, named as in session-rec (baselines/sr.py; B and R from baselines/usr.py). The defaults are
/// session-rec's tuned lastfm SR_BR; <see cref="BaselineRankers"/> has the other presets.
/// </summary>
public sealed record SequentialRulesOptions
{
    /// <summary>steps: a rule a -> b is counted when b follows a at most this many events later in a session.</summary>
    public int Steps { get; init; } = 20;
    /// <summary>weighting: a rule's weight per occurrence by the distance between its items.</summary>
    public Weighting Weighting { get; init; } = Weighting.Quadratic;
    /// <summary>pruning: the strongest rules kept per item (0 = all); session-rec keeps 20.</summary>
    public int RulesPerItem { get; init; } = 20;
    /// <summary>B, boost_own_sessions: a rule the user has in their own training sessions scores * (1 + this); 0 = off.</summary>
    public double BoostOwnSessions { get; init; } = 3.1;
    /// <summary>R: hybrid reminders; SR has no session similarity, so only IRec (usr.py passes no SSim weight).</summary>
    public ReminderOptions? Reminders { get; init; } = new() { Sessions = 2, WeightBase = 8, WeightIRec = 1, WeightSSim = 0 };
    /// <summary>Ranks the last item of the prefix below every other item (session-rec leaves it where its rules put it).</summary>
    public bool ExcludeCurrentItem { get; init; }

    public void Validate(string model)
    {
        if (Steps < 1) throw new PipelineException($"{model}: steps {Steps} must be >= 1");
        if (!Enum.IsDefined(Weighting)) throw new PipelineException($"{model}: unknown weighting {Weighting}");
        if (RulesPerItem < 0) throw new PipelineException($"{model}: rules per item {RulesPerItem} must be >= 0 (0 = all)");
        if (!double.IsFinite(BoostOwnSessions) || BoostOwnSessions < 0)
            throw new PipelineException($"{model}: boost own sessions {BoostOwnSessions} must be a finite number >= 0 (0 = off)");
        if (Reminders is { } r)
        {
            r.Validate(model);
            if (r.WeightSSim != 0)
                throw new PipelineException($"{model}: reminder weight SSim {r.WeightSSim}: sequential rules have no session similarity; use 0");
        }
    }
}

/// <summary>
/// Sequential rules (Kamehkhosh et al. 2017; Ludewig and Jannach 2018) as session-rec defines them: every pair
/// a ... b inside a training session at most <see cref="SequentialRulesOptions.Steps"/> apart adds the distance
/// weight to the rule a -> b; each item keeps its <see cref="SequentialRulesOptions.RulesPerItem"/> strongest rules
/// (equal weights: the rule seen first, as Counter.most_common keeps); the last item of the prefix scores its rules'
/// targets, divided by the largest. B and R as usr.py. Items without a score rank below by popularity.
/// (usr.py's rule values are [weight, users] lists, so there equal weights are further ordered by Python's set
/// comparison of the user sets; first seen is kept for every variant here.)
/// </summary>
public sealed class SequentialRulesRanker : ScoringRanker
{
    PopularityTieBreak? _popularity;
    /// <summary>Rules of item a, strongest first: targets RuleItems[RuleStarts[a]..RuleStarts[a+1]) with their weights.</summary>
    int[] _ruleStarts = [];
    int[] _ruleItems = [];
    double[] _ruleWeights = [];

    public SequentialRulesRanker(string name, SequentialRulesOptions options)
    {
        options.Validate(name);
        Name = name;
        Options = options;
    }

    public override string Name { get; }
    public SequentialRulesOptions Options { get; }
    public override bool CanRankSessionStart => false;

    protected override void FitModel(SessionDataset train, int catalogueSize)
    {
        _popularity = new PopularityTieBreak(PopularityTieBreak.Count(train.Items, catalogueSize));
        var sets = SessionSets.Build(train, catalogueSize);
        var distanceWeight = new double[Options.Steps + 1];
        for (int d = 1; d <= Options.Steps; d++) distanceWeight[d] = Weightings.ByDistance(Options.Weighting, d);
        // Item by item through the inverted index: memory per worker is one catalogue-sized scratch, never a table
        // of every pair.
        var rules = new (int[] Items, double[] Weights)[catalogueSize + 1];
        Parallel.For(1, catalogueSize + 1,
            new ParallelOptions { MaxDegreeOfParallelism = MaxDegreeOfParallelism ?? Environment.ProcessorCount },
            () => new RuleScratch(catalogueSize),
            (a, _, scratch) =>
            {
                rules[a] = RulesOf(a, train, sets, distanceWeight, scratch);
                return scratch;
            },
            _ => { });

        _ruleStarts = new int[catalogueSize + 2];
        for (int a = 1; a <= catalogueSize; a++) _ruleStarts[a + 1] = _ruleStarts[a] + rules[a].Items.Length;
        _ruleItems = new int[_ruleStarts[^1]];
        _ruleWeights = new double[_ruleStarts[^1]];
        for (int a = 1; a <= catalogueSize; a++)
        {
            rules[a].Items.CopyTo(_ruleItems, _ruleStarts[a]);
            rules[a].Weights.CopyTo(_ruleWeights, _ruleStarts[a]);
        }
    }

    sealed class RuleScratch(int catalogueSize)
    {
        public readonly double[] Weight = new double[catalogueSize + 1];
        public readonly bool[] Seen = new bool[catalogueSize + 1];
        public readonly List<int> Targets = [];
    }

    /// <summary>
    /// The kept rules of item a, strongest first. Weights are summed in session-rec's order (sessions, then the
    /// later item's position, then the distance), so equal sums stay bit-equal; targets are listed in the order
    /// session-rec's dict first sees them, which a stable sort keeps on equal weights (Counter.most_common).
    /// </summary>
    (int[] Items, double[] Weights) RulesOf(int a, SessionDataset train, SessionSets sets, double[] distanceWeight, RuleScratch scratch)
    {
        var weight = scratch.Weight;
        var targets = scratch.Targets;
        targets.Clear();
        foreach (int s in sets.SessionsWith(a))
        {
            var items = train.SessionItems(s);
            for (int p = 1; p < items.Length; p++)
                for (int d = 1; d <= Math.Min(Options.Steps, p); d++)
                {
                    if (items[p - d] != a) continue;
                    int b = items[p];
                    if (!scratch.Seen[b])
                    {
                        scratch.Seen[b] = true;
                        targets.Add(b);
                    }
                    weight[b] += distanceWeight[d];
                }
        }
        var kept = targets.OrderByDescending(b => weight[b])
            .Take(Options.RulesPerItem > 0 ? Options.RulesPerItem : int.MaxValue).ToArray();
        var weights = kept.Select(b => weight[b]).ToArray();
        foreach (int b in targets)
        {
            weight[b] = 0;
            scratch.Seen[b] = false;
        }
        return (kept, weights);
    }

    protected override PrefixScorer CreateScorer() => new RulesScorer(this);

    sealed class RulesScorer : PrefixScorer
    {
        readonly SequentialRulesRanker _model;
        readonly SequentialRulesOptions _options;
        readonly UserReminders? _reminders;
        readonly SparseScores _scores;
        /// <summary>Rules (a, b) the user has in their own training sessions, as a * (N + 1) + b.</summary>
        readonly HashSet<long> _ownRules = [];
        ReadOnlyMemory<long> _times;

        public RulesScorer(SequentialRulesRanker model)
        {
            _model = model;
            _options = model.Options;
            int catalogue = model._ruleStarts.Length - 2;
            _scores = new SparseScores(catalogue);
            if (_options.Reminders is { } r) _reminders = new UserReminders(catalogue, r.Sessions);
        }

        long Key(int a, int b) => (long)a * (_model._ruleStarts.Length - 1) + b;

        public override void BeginUser(SessionDataset history, int block)
        {
            _ownRules.Clear();
            _reminders?.BeginUser(history, block);
            if (block < 0 || _options.BoostOwnSessions == 0) return;
            for (int s = history.UserStarts[block]; s < history.UserStarts[block + 1]; s++)
            {
                var items = history.SessionItems(s);
                for (int p = 1; p < items.Length; p++)
                    for (int d = 1; d <= Math.Min(_options.Steps, p); d++) _ownRules.Add(Key(items[p - d], items[p]));
            }
        }

        public override void BeginSession(ReadOnlyMemory<long> times) => _times = times;

        public override void BeginSession() => _times = default;

        public override void Score(ReadOnlySpan<int> prefix, Span<float> scores)
        {
            if (prefix.IsEmpty)
            {
                _model._popularity!.Levels.CopyTo(scores);
                return;
            }
            Compute(prefix);
            _scores.RankInto(_model._popularity!, scores);
            if (_options.ExcludeCurrentItem) scores[prefix[^1]] = float.NegativeInfinity;
            _scores.Clear();
        }

        internal override IReadOnlyDictionary<int, double> RawScores(ReadOnlySpan<int> prefix)
        {
            if (!prefix.IsEmpty) Compute(prefix);
            var raw = _scores.ToDictionary();
            _scores.Clear();
            return raw;
        }

        void Compute(ReadOnlySpan<int> prefix)
        {
            int last = prefix[^1];
            double boost = _options.BoostOwnSessions;
            for (int r = _model._ruleStarts[last]; r < _model._ruleStarts[last + 1]; r++)
            {
                int item = _model._ruleItems[r];
                if (_options.ExcludeCurrentItem && item == last) continue;
                double weight = _model._ruleWeights[r];
                _scores.Add(item, boost > 0 && _ownRules.Contains(Key(last, item)) ? weight + weight * boost : weight);
            }
            _scores.Normalise();
            if (_options.Reminders is not { } reminders) return;
            if (_times.Length < prefix.Length)
                throw new InvalidOperationException("reminders need the session's event times (BeginSession(times))");
            // usr.py normalises the rule scores, then the hybrid divides them by their maximum (now 1) again.
            _scores.Normalise();
            _scores.Scale(reminders.WeightBase);
            _reminders!.AddRecency(_times.Span[prefix.Length - 1], reminders.WeightIRec, _scores);
        }
    }
}
