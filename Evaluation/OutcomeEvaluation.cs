using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using HrnnPipeline.Features;
using HrnnPipeline.Training;

namespace HrnnPipeline.Evaluation;

/// <summary>A model's outcome figures over its seeds (mean and "_std"): <c>rmse</c>, <c>mae</c> (regression), <c>auc</c>
/// (a value head: P(value &gt; 0) or the predicted value against liked/disliked), and the baseline of predicting each
/// user's mean training value (<c>user_mean_rmse</c>, <c>user_mean_mae</c>). <see cref="ByValue"/>: per distinct
/// target value (logs with at most 12), the targets' mean rank and Recall@20, negative targets included.</summary>
public sealed record OutcomeResult(string Model, string? Mode, int Seeds, IReadOnlyDictionary<string, double> Metrics,
    IReadOnlyList<OutcomeSlice> ByValue);

public sealed record OutcomeSlice(double Value, IReadOnlyDictionary<string, double> Metrics);

/// <summary>
/// Evaluation that fits each outcome mode, on the next-item predictions (positions &gt;= 1) of the test sessions:
/// ranking metrics elsewhere count positive targets only (value &gt; 0); here every target counts, split by its value
/// (the mean rank of the disliked items, the Recall@20 of purchases), with RMSE/MAE of a regression head against
/// the users' mean values and the AUC of a value head.
/// </summary>
public static class OutcomeEvaluation
{
    public const string MeanRank = "mean_rank";
    public const string Targets = "targets";
    const int MaxSlices = 12;
    const int RecallCutoff = 20;

    /// <summary>Sets each prediction's <see cref="Prediction.Outcome"/>: the value of the test event it predicts.</summary>
    public static void AttachOutcomes(List<Prediction> predictions, SessionDataset test)
    {
        if (test.Values is null) return;
        var block = new Dictionary<int, int>(test.UserCount);
        for (int b = 0; b < test.UserCount; b++) block[test.Users[b]] = b;
        for (int i = 0; i < predictions.Count; i++)
        {
            var p = predictions[i];
            int e = test.SessionStarts[test.UserStarts[block[p.UserIdx]]] + p.Position;
            predictions[i] = p with { Outcome = test.Values[e] };
        }
    }

    public static string? ModeOf(IRanker ranker) => ranker switch
    {
        RnnRanker { Model: { } m } => OutcomeTraining.Name(m.Settings.Outcome),
        StoredModelRanker s => OutcomeTraining.Name(s.Model.Settings.Outcome),
        _ => null,
    };

    /// <summary>The runs with negative targets (value &lt;= 0) left out; unchanged when the test split has no values.</summary>
    public static IReadOnlyList<ModelRun> PositiveTargetsOnly(IReadOnlyList<ModelRun> runs) =>
        runs.Any(r => r.Predictions.Any(p => p.Outcome is not null))
            ? runs.Select(r => r with { Predictions = r.Predictions.Where(p => p.Outcome is null or > 0).ToList() }).ToList()
            : runs;

    /// <summary>The outcome figures per model; null when the test split has no values.</summary>
    public static IReadOnlyList<OutcomeResult>? Summarise(IReadOnlyList<ModelRun> runs, SessionDataset history)
    {
        if (!runs.Any(r => r.Predictions.Any(p => p.Outcome is not null))) return null;
        var userMean = UserMeans(history, out double globalMean);
        var values = runs.SelectMany(r => r.Predictions).Where(p => p.Position >= 1 && p.Outcome is not null)
            .Select(p => (double)p.Outcome!.Value).Distinct().Order().ToList();
        bool sliced = values.Count <= MaxSlices;
        var results = new List<OutcomeResult>();
        foreach (var group in runs.GroupBy(r => r.Model))
        {
            var perSeed = new List<IReadOnlyDictionary<string, double>>();
            var slicesPerSeed = values.ToDictionary(v => v, _ => new List<IReadOnlyDictionary<string, double>>());
            foreach (var run in group)
            {
                var next = run.Predictions.Where(p => p.Position >= 1 && p.Outcome is not null).ToList();
                var m = new Dictionary<string, double>();
                var baseline = next.Select(p => (Truth: (double)p.Outcome!.Value,
                    Guess: userMean.TryGetValue(p.UserIdx, out var mean) ? mean : globalMean)).ToList();
                m["user_mean_rmse"] = Rmse(baseline);
                m["user_mean_mae"] = Mae(baseline);
                var predicted = next.Where(p => p.Predicted is { } v && float.IsFinite(v))
                    .Select(p => (Truth: (double)p.Outcome!.Value, Guess: (double)p.Predicted!.Value)).ToList();
                if (predicted.Count > 0 && run.OutcomeMode == "regression")
                {
                    m["rmse"] = Rmse(predicted);
                    m["mae"] = Mae(predicted);
                }
                if (predicted.Count > 0 && Auc(predicted) is { } auc) m["auc"] = auc;
                perSeed.Add(m);
                if (!sliced) continue;
                foreach (var v in values)
                {
                    var ranks = next.Where(p => p.Outcome!.Value == v).Select(p => p.Rank).ToList();
                    slicesPerSeed[v].Add(new Dictionary<string, double>
                    {
                        [Targets] = ranks.Count,
                        [MeanRank] = ranks.Count == 0 ? 0 : ranks.Average(),
                        [Metrics.Recall(RecallCutoff)] = ranks.Count == 0 ? 0 : ranks.Count(r => r <= RecallCutoff) / (double)ranks.Count,
                    });
                }
            }
            var slices = sliced
                ? values.Select(v => new OutcomeSlice(v, Metrics.AggregateSeeds(slicesPerSeed[v]))).ToList()
                : [];
            results.Add(new OutcomeResult(group.Key, group.First().OutcomeMode, group.Count(), Metrics.AggregateSeeds(perSeed), slices));
        }
        return results;
    }

    /// <summary>Each user's mean value over their training events, and the mean over all (for users without one).</summary>
    static Dictionary<int, double> UserMeans(SessionDataset history, out double globalMean)
    {
        var means = new Dictionary<int, double>();
        double total = 0;
        long count = 0;
        for (int b = 0; b < history.UserCount; b++)
        {
            int first = history.SessionStarts[history.UserStarts[b]], end = history.SessionStarts[history.UserStarts[b + 1]];
            if (end == first) continue;
            double sum = 0;
            for (int e = first; e < end; e++) sum += history.ValueOf(e);
            means[history.Users[b]] = sum / (end - first);
            total += sum;
            count += end - first;
        }
        globalMean = count == 0 ? 1 : total / count;
        return means;
    }

    static double Rmse(List<(double Truth, double Guess)> pairs) =>
        pairs.Count == 0 ? 0 : Math.Sqrt(pairs.Average(p => (p.Truth - p.Guess) * (p.Truth - p.Guess)));

    static double Mae(List<(double Truth, double Guess)> pairs) =>
        pairs.Count == 0 ? 0 : pairs.Average(p => Math.Abs(p.Truth - p.Guess));

    /// <summary>AUC of the guesses separating liked (value &gt; 0) from disliked targets: the Mann-Whitney statistic
    /// with ties counted half; null when one class is missing.</summary>
    public static double? Auc(IReadOnlyList<(double Truth, double Guess)> pairs)
    {
        var sorted = pairs.OrderBy(p => p.Guess).ToList();
        long positives = sorted.Count(p => p.Truth > 0), negatives = sorted.Count - positives;
        if (positives == 0 || negatives == 0) return null;
        double rankSum = 0;
        for (int i = 0; i < sorted.Count;)
        {
            int j = i;
            while (j < sorted.Count && sorted[j].Guess == sorted[i].Guess) j++;
            double midRank = (i + 1 + j) / 2.0; // 1-based ranks i+1..j share their mean
            for (int t = i; t < j; t++) if (sorted[t].Truth > 0) rankSum += midRank;
            i = j;
        }
        return (rankSum - positives * (positives + 1) / 2.0) / ((double)positives * negatives);
    }

    public static JsonArray ToJson(IReadOnlyList<OutcomeResult> outcomes)
    {
        var array = new JsonArray();
        foreach (var o in outcomes)
        {
            var node = new JsonObject { ["model"] = o.Model, ["mode"] = o.Mode, ["seeds"] = o.Seeds };
            foreach (var (key, value) in o.Metrics) node[key] = value;
            var slices = new JsonArray();
            foreach (var slice in o.ByValue)
            {
                var s = new JsonObject { ["value"] = slice.Value };
                foreach (var (key, value) in slice.Metrics) s[key] = value;
                slices.Add(s);
            }
            node["by_value"] = slices;
            array.Add(node);
        }
        return array;
    }

    public static void AppendMarkdown(StringBuilder md, IReadOnlyList<OutcomeResult> outcomes)
    {
        md.AppendLine("## Outcomes (next-item targets by value; ranking metrics above count value > 0 only)").AppendLine();
        md.AppendLine("| model | mode | RMSE | MAE | user-mean RMSE | user-mean MAE | AUC |");
        md.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (var o in outcomes)
            md.AppendLine($"| {o.Model} | {o.Mode ?? "-"} | {Cell(o, "rmse")} | {Cell(o, "mae")} | {Cell(o, "user_mean_rmse")} | {Cell(o, "user_mean_mae")} | {Cell(o, "auc")} |");
        md.AppendLine();
        if (outcomes.All(o => o.ByValue.Count == 0)) return;
        md.AppendLine($"| model | value | targets | mean rank | Recall@{RecallCutoff} |");
        md.AppendLine("| --- | ---: | ---: | ---: | ---: |");
        foreach (var o in outcomes)
            foreach (var s in o.ByValue)
                md.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {o.Model} | {s.Value:0.###} | {s.Metrics.GetValueOrDefault(Targets):0} | {s.Metrics.GetValueOrDefault(MeanRank):F1} ± {s.Metrics.GetValueOrDefault(MeanRank + Metrics.StdSuffix):F1} | {s.Metrics.GetValueOrDefault(Metrics.Recall(RecallCutoff)):F4} ± {s.Metrics.GetValueOrDefault(Metrics.Recall(RecallCutoff) + Metrics.StdSuffix):F4} |"));
        md.AppendLine();
    }

    static string Cell(OutcomeResult o, string key) => o.Metrics.TryGetValue(key, out var v)
        ? string.Create(CultureInfo.InvariantCulture, $"{v:F4} ± {o.Metrics.GetValueOrDefault(key + Metrics.StdSuffix):F4}")
        : "-";
}
