using System.Diagnostics;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Evaluation;

/// <summary>
/// The protocol of Quadrana et al. 2017 sec. 4.2-4.3: run each model per seed (<see cref="Run"/>), then aggregate
/// the runs into metrics, breakdowns, session-start results and significance tests (<see cref="Summarise"/>).
/// </summary>
public static class Evaluator
{
    public const string HistoryLengthBreakdown = "history_length";
    public const string PositionBreakdown = "position";
    public const string ColdItemsBreakdown = "cold_items";

    /// <summary>
    /// Fits <paramref name="ranker"/> on <paramref name="train"/> and ranks every prediction of
    /// <paramref name="test"/>, using the users' training sessions as their history. The fit is timed unless the
    /// caller trained the model itself and passes <paramref name="trained"/> (e.g. an RNN: seconds over all epochs).
    /// </summary>
    public static ModelRun Run(
        IRanker ranker, int seed, SessionDataset train, SessionDataset test, IdMap items,
        EvaluationOptions options, CancellationToken ct, TrainingStats? trained = null, string? settings = null)
    {
        options.Validate();
        CheckTestSplit(test, items);
        var clock = Stopwatch.StartNew();
        ranker.Fit(train, items);
        double seconds = clock.Elapsed.TotalSeconds;
        var stats = trained ?? new TrainingStats(seconds, seconds > 0 ? train.EventCount / seconds : 0);

        long expected = 0;
        for (int s = 0; s < test.SessionCount; s++)
            expected += Math.Max(0, test.SessionLength(s) - 1) + (ranker.CanRankSessionStart ? 1 : 0);
        var progress = new ProgressReporter($"evaluate {ranker.Name} (seed {seed})", expected, "predictions");
        var predictions = new List<Prediction>((int)Math.Min(expected, int.MaxValue));
        foreach (var p in ranker.Rank(train, test, options.TopK, ct))
        {
            predictions.Add(p);
            progress.Report(predictions.Count);
        }
        progress.Done();
        OutcomeEvaluation.AttachOutcomes(predictions, test);
        int nan = predictions.Count(p => p.NaNScore);
        if (nan > 0)
            Console.Error.WriteLine($"warning: {ranker.Name} (seed {seed}) scored the target NaN in {nan:N0} of {predictions.Count:N0} predictions; they rank last ({items.TableSize - 1:N0})");
        return new ModelRun(ranker.Name, seed, predictions, stats.Seconds, stats.EventsPerSecond, settings)
        {
            OutcomeMode = OutcomeEvaluation.ModeOf(ranker),
        };
    }

    /// <summary>One session per user and every item inside the catalogue: what the protocol's pairing relies on.</summary>
    public static void CheckTestSplit(SessionDataset test, IdMap items)
    {
        int catalogue = items.TableSize - 1;
        for (int u = 0; u < test.UserCount; u++)
        {
            int sessions = test.UserStarts[u + 1] - test.UserStarts[u];
            if (sessions != 1)
                throw new PipelineException(
                    $"test split: user {test.Users[u]} has {sessions} sessions; the protocol evaluates exactly one (the user's last)");
        }
        for (int e = 0; e < test.EventCount; e++)
            if ((uint)(test.Items[e] - 1) >= (uint)catalogue)
                throw new PipelineException(
                    $"test split: event {e} has item index {test.Items[e]}, outside the catalogue 1..{catalogue}");
    }

    /// <summary>
    /// Aggregates <paramref name="runs"/> (several seeds per model allowed) into the report. Next-item metrics use
    /// positions &gt;= 1; position 0 (session start) is reported apart for the models that predicted it.
    /// <paramref name="history"/> gives each user's number of training sessions for the history breakdown;
    /// <paramref name="items"/> the catalogue and the popularity (training support) of recommended items.
    /// </summary>
    public static EvaluationReport Summarise(
        DatasetStats dataset, SessionDataset history, IdMap items, IReadOnlyList<ModelRun> runs, EvaluationOptions options)
    {
        options.Validate();
        var outcomes = OutcomeEvaluation.Summarise(runs, history);
        // A negative target (value 0: a dislike, a skip) is not a hit to predict: ranking metrics count positive ones.
        runs = OutcomeEvaluation.PositiveTargetsOnly(runs);
        var models = GroupByModel(runs, items.TableSize - 1);
        var popularity = items.Counts;
        var ks = options.Ks;

        var next = models.ToDictionary(m => m.Key,
            m => m.Value.Select(r => r.Predictions.Where(p => p.Position >= 1).ToList()).ToList());
        var sessionCounts = SessionsPerUser(history);

        var referenceRr = models.ContainsKey(options.ReferenceModel)
            ? SeedAveragedReciprocalRanks(next[options.ReferenceModel])
            : null;
        var results = new List<ModelResult>();
        foreach (var (model, modelRuns) in models)
        {
            var metrics = Aggregate(next[model], _ => true, ks, popularity, withCount: false);
            ReferenceComparison? comparison = null;
            if (referenceRr is not null && model != options.ReferenceModel)
                comparison = Compare(SeedAveragedReciprocalRanks(next[model]), referenceRr, model, options.ReferenceModel);
            results.Add(new ModelResult(model, modelRuns.Count, metrics, next[model][0].Count,
                modelRuns.Average(r => r.TrainSeconds), modelRuns.Average(r => r.EventsPerSecond), comparison,
                modelRuns.Select(r => r.Settings).OfType<string>().Distinct().ToList(),
                modelRuns.Sum(r => r.Predictions.LongCount(p => p.NaNScore))));
        }

        int threshold = options.HistoryThreshold;
        var historyBuckets = new (string, Func<Prediction, bool>)[]
        {
            ($"<={threshold}", p => SessionsOf(sessionCounts, p.UserIdx) <= threshold),
            ($">{threshold}", p => SessionsOf(sessionCounts, p.UserIdx) > threshold),
        };
        var positionBuckets = new (string, Func<Prediction, bool>)[]
        {
            ("1-2", p => p.Position <= 2),
            ("3-4", p => p.Position is 3 or 4),
            ("5+", p => p.Position >= 5),
        };
        var breakdowns = new List<Breakdown>
        {
            BreakdownOf(HistoryLengthBreakdown, historyBuckets),
            BreakdownOf(PositionBreakdown, positionBuckets),
        };
        // A cold-start split: targets no training event has, ranked in the whole catalogue and among the cold items
        // alone (how well a model orders new items, the list cold-item slots draw from), and the rest.
        var cold = Ranking.ColdItems(items.Counts);
        if (cold.Length > 0)
        {
            var isCold = new bool[items.TableSize];
            foreach (int i in cold) isCold[i] = true;
            var amongCold = next.ToDictionary(m => m.Key, m => m.Value
                .Select(run => run.Where(p => isCold[p.Target]).Select(p => p with { Rank = p.ColdRank ?? cold.Length }).ToList()).ToList());
            breakdowns.Add(new Breakdown(ColdItemsBreakdown,
            [
                ("cold, full ranking", Slices(next, p => isCold[p.Target])),
                ($"cold, among the {cold.Length:N0} cold items", Slices(amongCold, _ => true)),
                ("warm", Slices(next, p => !isCold[p.Target])),
            ]));
        }

        var sessionStart = new List<SliceMetrics>();
        foreach (var (model, modelRuns) in models)
        {
            var starts = modelRuns.Select(r => r.Predictions.Where(p => p.Position == 0).ToList()).ToList();
            if (starts.Any(s => s.Count > 0))
                sessionStart.Add(new SliceMetrics(model, Aggregate(starts, _ => true, ks, popularity, withCount: true)));
        }
        return new EvaluationReport(dataset, options, results, breakdowns, sessionStart) { Outcomes = outcomes };

        Breakdown BreakdownOf(string name, (string Label, Func<Prediction, bool> Filter)[] buckets) =>
            new(name, buckets.Select(b => (b.Label, Slices(next, b.Filter))).ToList());

        IReadOnlyList<SliceMetrics> Slices(Dictionary<string, List<List<Prediction>>> byModel, Func<Prediction, bool> filter) =>
            models.Keys.Select(m => new SliceMetrics(m, Aggregate(byModel[m], filter, ks, popularity, withCount: true))).ToList();
    }

    /// <summary>Runs per model in order of first appearance; a (model, seed) given twice is a caller error.</summary>
    static Dictionary<string, List<ModelRun>> GroupByModel(IReadOnlyList<ModelRun> runs, int catalogue)
    {
        if (runs.Count == 0) throw new PipelineException("evaluation: no model runs to summarise");
        var models = new Dictionary<string, List<ModelRun>>(StringComparer.Ordinal);
        foreach (var run in runs)
        {
            if (!models.TryGetValue(run.Model, out var list)) models[run.Model] = list = [];
            if (list.Any(r => r.Seed == run.Seed))
                throw new PipelineException($"evaluation: model {run.Model} has two runs with seed {run.Seed}");
            foreach (var p in run.Predictions)
                if (p.Rank < 1 || p.Rank > catalogue)
                    throw new PipelineException(
                        $"evaluation: model {run.Model} seed {run.Seed} ranked user {p.UserIdx} position {p.Position} at {p.Rank}, outside 1..{catalogue}");
            list.Add(run);
        }
        return models;
    }

    static Dictionary<string, double> Aggregate(
        List<List<Prediction>> perSeed, Func<Prediction, bool> filter, IReadOnlyList<int> ks, long[] popularity,
        bool withCount)
    {
        var slices = perSeed.Select(run => run.Where(filter).ToList()).ToList();
        var aggregated = Metrics.AggregateSeeds(
            slices.Select(s => (IReadOnlyDictionary<string, double>)Metrics.Compute(s, ks, popularity)).ToList());
        if (withCount) aggregated[Metrics.PredictionCount] = slices[0].Count;
        return aggregated;
    }

    static int[] SessionsPerUser(SessionDataset history)
    {
        int maxUser = history.UserCount == 0 ? -1 : history.Users.Max();
        var counts = new int[maxUser + 1];
        for (int b = 0; b < history.UserCount; b++)
            counts[history.Users[b]] = history.UserStarts[b + 1] - history.UserStarts[b];
        return counts;
    }

    static int SessionsOf(int[] counts, int user) => (uint)user < (uint)counts.Length ? counts[user] : 0;

    static long PairKey(Prediction p) => ((long)p.UserIdx << 32) | (uint)p.Position;

    /// <summary>Reciprocal rank per (user, position), averaged over the seeds that predicted it.</summary>
    static Dictionary<long, double> SeedAveragedReciprocalRanks(List<List<Prediction>> perSeed)
    {
        var sums = new Dictionary<long, (double Sum, int Count)>();
        foreach (var run in perSeed)
            foreach (var p in run)
            {
                var key = PairKey(p);
                sums.TryGetValue(key, out var acc);
                sums[key] = (acc.Sum + 1.0 / p.Rank, acc.Count + 1);
            }
        return sums.ToDictionary(kv => kv.Key, kv => kv.Value.Sum / kv.Value.Count);
    }

    static ReferenceComparison Compare(
        Dictionary<long, double> model, Dictionary<long, double> reference, string modelName, string referenceName)
    {
        var keys = model.Keys.Where(reference.ContainsKey).Order().ToArray();
        var x = keys.Select(k => model[k]).ToArray();
        var y = keys.Select(k => reference[k]).ToArray();
        var test = Wilcoxon.SignedRank(x, y);
        double meanX = x.Length == 0 ? 0 : x.Average(), meanY = y.Length == 0 ? 0 : y.Average();
        string better = meanX > meanY ? modelName : meanX < meanY ? referenceName : "tie";
        return new ReferenceComparison(referenceName, test, better, meanX, meanY);
    }
}
