using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Evaluation;

/// <summary>
/// Writes DIR/evaluation.json (the keys checks rely on: "recall@5", "recall@5_std", "wilcoxon_vs_rnn", ...),
/// DIR/report.md (the paper's table shape, breakdowns, protocol notes) and the PNG charts it embeds. Every file
/// is written to a temporary name and renamed, so an earlier report stays whole until the new one is complete.
/// </summary>
public static class EvaluationWriter
{
    public const string JsonFile = "evaluation.json";
    public const string ReportFile = "report.md";
    public const string MetricsChart = "metrics.png";
    public const string HistoryChart = "history_length.png";
    public const string PositionChart = "position.png";

    public static void Write(string directory, EvaluationReport report)
    {
        try
        {
            Directory.CreateDirectory(directory);
            Json.Write(Path.Combine(directory, JsonFile), ToJson(report));
            EvaluationCharts.WriteMetrics(Path.Combine(directory, MetricsChart), report);
            foreach (var breakdown in report.Breakdowns)
                EvaluationCharts.WriteBreakdown(Path.Combine(directory, ChartFile(breakdown)), breakdown, report.Options);
            WriteAtomically(Path.Combine(directory, ReportFile), ToMarkdown(report));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PipelineException($"{directory}: cannot write the evaluation report: {e.Message}", inner: e);
        }
    }

    static string ChartFile(Breakdown breakdown) => breakdown.Name switch
    {
        Evaluator.HistoryLengthBreakdown => HistoryChart,
        Evaluator.PositionBreakdown => PositionChart,
        var other => other + ".png",
    };

    public static JsonObject ToJson(EvaluationReport report)
    {
        var d = report.Dataset;
        var root = new JsonObject
        {
            ["dataset"] = new JsonObject
            {
                ["users"] = d.Users, ["items"] = d.Items,
                ["train_sessions"] = d.TrainSessions, ["train_events"] = d.TrainEvents,
                ["test_sessions"] = d.TestSessions, ["test_events"] = d.TestEvents,
            },
            ["protocol"] = new JsonObject
            {
                ["ranking"] = "full catalogue",
                ["ties"] = "conservative",
                ["ks"] = new JsonArray(report.Options.Ks.Select(k => (JsonNode?)k).ToArray()),
                ["history_threshold"] = report.Options.HistoryThreshold,
                ["reference_model"] = report.Options.ReferenceModel,
            },
        };
        if (report.Split is { } split) root["protocol"]!["split"] = split;
        if (report.ModelVersion is { } version) root["model_version"] = version;
        var results = new JsonArray();
        foreach (var r in report.Results)
        {
            var node = new JsonObject { ["model"] = r.Model, ["seeds"] = r.Seeds };
            foreach (var (key, value) in r.Metrics) node[key] = value;
            node["predictions"] = r.Predictions;
            node["nan_targets"] = r.NaNTargets;
            node["train_seconds"] = r.TrainSeconds;
            node["events_per_second"] = r.EventsPerSecond;
            if (r.Settings is { Count: > 0 } used) node["settings"] = new JsonArray(used.Select(u => (JsonNode?)u).ToArray());
            if (r.VsReference is { } c)
                node[$"wilcoxon_vs_{c.Reference}"] = new JsonObject
                {
                    ["p_value"] = c.Test.PValue,
                    ["better"] = c.Better,
                    ["statistic"] = c.Test.Statistic,
                    ["z"] = c.Test.Z,
                    ["pairs"] = c.Test.Pairs,
                    ["non_zero_pairs"] = c.Test.NonZero,
                    ["exact"] = c.Test.Exact,
                    ["mean_rr"] = c.MeanReciprocalRank,
                    ["mean_rr_reference"] = c.ReferenceMeanReciprocalRank,
                };
            results.Add(node);
        }
        root["results"] = results;
        var breakdowns = new JsonObject();
        foreach (var breakdown in report.Breakdowns)
        {
            var buckets = new JsonObject();
            foreach (var (bucket, models) in breakdown.Buckets) buckets[bucket] = ModelsJson(models);
            breakdowns[breakdown.Name] = buckets;
        }
        root["breakdowns"] = breakdowns;
        root["session_start"] = ModelsJson(report.SessionStart);
        if (report.Outcomes is { } outcomes) root["outcomes"] = OutcomeEvaluation.ToJson(outcomes);
        return root;

        static JsonObject ModelsJson(IReadOnlyList<SliceMetrics> models)
        {
            var node = new JsonObject();
            foreach (var m in models)
            {
                var metrics = new JsonObject();
                foreach (var (key, value) in m.Metrics) metrics[key] = value;
                node[m.Model] = metrics;
            }
            return node;
        }
    }

    public static string ToMarkdown(EvaluationReport report)
    {
        var md = new StringBuilder();
        var options = report.Options;
        var ks = options.Ks;
        int listK = options.TopK;
        var d = report.Dataset;
        bool anySeeds = report.Results.Any(r => r.Seeds > 1);
        bool anyReference = report.Results.Any(r => r.VsReference is not null);

        md.AppendLine("# Evaluation").AppendLine();
        if (report.ModelVersion is { } version)
            md.AppendLine($"Model version `{version}` is evaluated as stored (its weights and reminder mix, not retrained).").AppendLine();
        md.AppendLine("## Dataset").AppendLine();
        if (report.Split is { } split) md.AppendLine($"Test sessions: {split}.").AppendLine();
        md.AppendLine("| users | items | train sessions | train events | test sessions | test events |");
        md.AppendLine("| ---: | ---: | ---: | ---: | ---: | ---: |");
        md.AppendLine(Inv($"| {d.Users:N0} | {d.Items:N0} | {d.TrainSessions:N0} | {d.TrainEvents:N0} | {d.TestSessions:N0} | {d.TestEvents:N0} |"));
        md.AppendLine();

        md.AppendLine("## Next-item prediction").AppendLine();
        if (anySeeds) md.AppendLine("Cells are mean ± standard deviation over seeds.").AppendLine();
        var header = new List<string> { "model" };
        foreach (int k in ks) { header.Add($"Recall@{k}"); header.Add($"MRR@{k}"); }
        if (anyReference) header.Add($"p vs {options.ReferenceModel} (better)");
        header.Add("seeds");
        Table(md, header, report.Results.Select(r =>
        {
            var row = new List<string> { r.Model };
            foreach (int k in ks)
            {
                row.Add(Cell(r.Metrics, Metrics.Recall(k), r.Seeds));
                row.Add(Cell(r.Metrics, Metrics.Mrr(k), r.Seeds));
            }
            if (anyReference)
                row.Add(r.VsReference is { } c ? $"{PValue(c.Test.PValue)} ({c.Better})" : "—");
            row.Add(r.Seeds.ToString(CultureInfo.InvariantCulture));
            return row;
        }));
        if (report.Results.Any(r => r.NaNTargets > 0))
        {
            md.AppendLine(Inv($"**Warning**: targets scored NaN, ranked last ({d.Items:N0}) and kept in the metrics:")).AppendLine();
            foreach (var r in report.Results.Where(r => r.NaNTargets > 0))
                md.AppendLine(Inv($"- **{r.Model}**: {r.NaNTargets:N0} predictions over {r.Seeds} seed(s)"));
            md.AppendLine();
        }
        md.AppendLine($"![Metrics per model]({MetricsChart})").AppendLine();
        if (report.Results.Any(r => r.Settings is { Count: > 0 }))
        {
            md.AppendLine("Where each model's settings came from:").AppendLine();
            foreach (var r in report.Results.Where(r => r.Settings is { Count: > 0 }))
                md.AppendLine($"- **{r.Model}**: {string.Join("; ", r.Settings!)}");
            md.AppendLine();
        }

        md.AppendLine("### Precision, NDCG and beyond accuracy").AppendLine();
        header = ["model"];
        foreach (int k in ks) { header.Add($"Precision@{k}"); header.Add($"NDCG@{k}"); }
        header.AddRange([$"Coverage@{listK}", $"Mean popularity@{listK}", "(÷ max)", "predictions", "train s", "events/s"]);
        Table(md, header, report.Results.Select(r =>
        {
            var row = new List<string> { r.Model };
            foreach (int k in ks)
            {
                row.Add(Cell(r.Metrics, Metrics.Precision(k), r.Seeds));
                row.Add(Cell(r.Metrics, Metrics.Ndcg(k), r.Seeds));
            }
            row.Add(Cell(r.Metrics, Metrics.Coverage(listK), r.Seeds));
            row.Add(Inv($"{Get(r.Metrics, Metrics.MeanPopularity(listK)):N1}"));
            row.Add(Cell(r.Metrics, Metrics.MeanPopularityNormalised(listK), r.Seeds));
            row.Add(Inv($"{r.Predictions:N0}"));
            row.Add(Inv($"{r.TrainSeconds:N3}"));
            row.Add(Inv($"{r.EventsPerSecond:N0}"));
            return row;
        }));

        foreach (var breakdown in report.Breakdowns)
        {
            md.AppendLine(breakdown.Name == Evaluator.HistoryLengthBreakdown
                ? $"## By user history length (training sessions, threshold {options.HistoryThreshold})"
                : breakdown.Name == Evaluator.PositionBreakdown
                    ? "## By position in the session"
                    : breakdown.Name == Evaluator.ColdItemsBreakdown
                        ? "## Cold items (targets no training event has)"
                        : $"## By {breakdown.Name}").AppendLine();
            header = ["model", "bucket", "predictions"];
            foreach (int k in ks) { header.Add($"Recall@{k}"); header.Add($"MRR@{k}"); }
            var seedsOf = report.Results.ToDictionary(r => r.Model, r => r.Seeds);
            Table(md, header, breakdown.Buckets
                .SelectMany(b => b.Models.Select(m => (b.Bucket, m)))
                .OrderBy(x => Order(report, x.m.Model))
                .Select(x =>
                {
                    int seeds = seedsOf.GetValueOrDefault(x.m.Model, 1);
                    var row = new List<string> { x.m.Model, x.Bucket, Inv($"{Get(x.m.Metrics, Metrics.PredictionCount):N0}") };
                    foreach (int k in ks)
                    {
                        row.Add(Cell(x.m.Metrics, Metrics.Recall(k), seeds));
                        row.Add(Cell(x.m.Metrics, Metrics.Mrr(k), seeds));
                    }
                    return row;
                }));
            md.AppendLine($"![{breakdown.Name}]({ChartFile(breakdown)})").AppendLine();
        }

        md.AppendLine("## Session start (first item, from the user's history alone)").AppendLine();
        if (report.SessionStart.Count == 0)
            md.AppendLine("No model ranked session starts.").AppendLine();
        else
        {
            header = ["model", "predictions"];
            foreach (int k in ks) { header.Add($"Recall@{k}"); header.Add($"MRR@{k}"); }
            var seedsOf = report.Results.ToDictionary(r => r.Model, r => r.Seeds);
            Table(md, header, report.SessionStart.Select(m =>
            {
                int seeds = seedsOf.GetValueOrDefault(m.Model, 1);
                var row = new List<string> { m.Model, Inv($"{Get(m.Metrics, Metrics.PredictionCount):N0}") };
                foreach (int k in ks)
                {
                    row.Add(Cell(m.Metrics, Metrics.Recall(k), seeds));
                    row.Add(Cell(m.Metrics, Metrics.Mrr(k), seeds));
                }
                return row;
            }));
        }

        if (report.Outcomes is { } outcomes) OutcomeEvaluation.AppendMarkdown(md, outcomes);

        md.AppendLine("## Protocol").AppendLine();
        md.AppendLine("- Split (Quadrana et al. 2017 sec. 4.1): each user's last session is the test session, the others train; "
                      + "hyperparameters and early stopping use a validation split carved from train the same way, never the test split.");
        md.AppendLine("- Next-item task: in each test session i1..in, after seeing i1..it predict i(t+1), t = 1..n-1. "
                      + "Session start (position 0): predict i1 from the user's history alone, for models that can.");
        md.AppendLine(Inv($"- Full ranking over all {d.Items:N0} catalogue items, never a sample of negatives."));
        md.AppendLine("- Conservative ties: the rank of the target is the number of items scoring at least as high as it, "
                      + "so a constant scorer ranks every target last.");
        md.AppendLine("- Recall@k is the hit rate; MRR@k counts 1/rank within k and 0 beyond; Precision@k = hit/k; "
                      + "NDCG@k = 1/log2(rank+1) within k.");
        md.AppendLine(Inv($"- Coverage@{listK}: distinct items in all top-{listK} lists / catalogue size; mean popularity@{listK}: mean training support of the listed items, also divided by the largest support."));
        if (anySeeds) md.AppendLine("- Several seeds per model: mean and sample standard deviation.");
        md.AppendLine($"- Significance: two-sided Wilcoxon signed-rank test against `{options.ReferenceModel}` on per-prediction "
                      + "reciprocal ranks (full rank, averaged over seeds), paired by (user, position); zero differences dropped, "
                      + "tied magnitudes share average ranks; exact null distribution up to 50 pairs without ties, else the normal "
                      + "approximation with tie correction.");
        md.AppendLine("- Baselines: pop; ppop (the user's own play counts, ties by popularity); item-knn (cosine on session "
                      + "co-occurrence from the last item); sknn (cosine between the prefix and training sessions as item sets).");
        if (report.Results.Any(r => Baselines.BaselineRankers.SessionAwareNames.Contains(r.Model)))
            md.AppendLine("- Session-aware baselines (Latifi, Mauro and Jannach 2021), as the session-rec framework defines them, "
                          + "with its tuned lastfm settings: v-sknn (the most similar of the 500 most recent sessions sharing an "
                          + "item, similarity by the position of the shared items, scores decayed by how far back the last shared "
                          + "item sits, idf-weighted); its user extensions e (the user's last items prepended to a short session), "
                          + "b (the user's own past sessions boosted) and r (hybrid reminders: recency of the user's last play of "
                          + "the item and presence in the user's last sessions similar to this one), and all three, ebr; "
                          + "sr (sequential rules from the last item, weighted by distance, 20 rules per item) with b and r, and "
                          + "br. Items without a score rank below by popularity; as in session-rec, v-sknn keeps the current "
                          + "item in the list.");
        return md.ToString();
    }

    static int Order(EvaluationReport report, string model)
    {
        for (int i = 0; i < report.Results.Count; i++)
            if (report.Results[i].Model == model) return i;
        return int.MaxValue;
    }

    static void Table(StringBuilder md, List<string> header, IEnumerable<List<string>> rows)
    {
        md.AppendLine("| " + string.Join(" | ", header) + " |");
        md.AppendLine("| " + string.Join(" | ", header.Select((_, i) => i == 0 ? "---" : "---:")) + " |");
        foreach (var row in rows) md.AppendLine("| " + string.Join(" | ", row) + " |");
        md.AppendLine();
    }

    static double Get(IReadOnlyDictionary<string, double> metrics, string key) => metrics.GetValueOrDefault(key);

    static string Cell(IReadOnlyDictionary<string, double> metrics, string key, int seeds) => seeds > 1
        ? Inv($"{Get(metrics, key):F4} ± {Get(metrics, key + Metrics.StdSuffix):F4}")
        : Inv($"{Get(metrics, key):F4}");

    static string PValue(double p) => p >= 1e-4 ? Inv($"{p:F4}") : p.ToString("0.0e+0", CultureInfo.InvariantCulture);

    static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    static void WriteAtomically(string path, string text)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }
}
