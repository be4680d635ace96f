namespace HrnnPipeline.Evaluation;

/// <summary>
/// Accuracy and beyond-accuracy metrics of one run's predictions, keyed exactly as evaluation.json names them
/// ("recall@5", "mrr@5", ...). Every prediction has one target, so Recall@k is the hit rate and Precision@k = hit/k.
/// </summary>
public static class Metrics
{
    public static string Recall(int k) => $"recall@{k}";
    public static string Mrr(int k) => $"mrr@{k}";
    public static string Precision(int k) => $"precision@{k}";
    public static string Ndcg(int k) => $"ndcg@{k}";
    public static string Coverage(int k) => $"coverage@{k}";
    public static string MeanPopularity(int k) => $"mean_popularity@{k}";
    public static string MeanPopularityNormalised(int k) => $"mean_popularity_norm@{k}";
    public const string PredictionCount = "predictions";
    public const string StdSuffix = "_std";

    /// <summary>
    /// Metrics of <paramref name="predictions"/> at each cut-off in <paramref name="ks"/>; coverage and popularity
    /// are measured on the top lists cut at the largest k. <paramref name="popularity"/> is the training support
    /// per item (IdMap.Counts, slot 0 padding), its length - 1 the catalogue size N.
    /// </summary>
    public static Dictionary<string, double> Compute(
        IReadOnlyCollection<Prediction> predictions, IReadOnlyList<int> ks, ReadOnlySpan<long> popularity)
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        int n = predictions.Count;
        foreach (int k in ks)
        {
            long hits = 0;
            double rr = 0, gain = 0;
            foreach (var p in predictions)
            {
                if (p.Rank < 1 || p.Rank > k) continue; // MRR and NDCG give nothing beyond the cut-off
                hits++;
                rr += 1.0 / p.Rank;
                gain += 1.0 / Math.Log2(p.Rank + 1);
            }
            result[Recall(k)] = n == 0 ? 0 : (double)hits / n;
            result[Mrr(k)] = n == 0 ? 0 : rr / n;
            result[Precision(k)] = n == 0 ? 0 : (double)hits / n / k;
            result[Ndcg(k)] = n == 0 ? 0 : gain / n; // one relevant item: the ideal DCG is 1
        }
        int listK = ks.Max();
        int catalogue = popularity.Length - 1;
        long maxPopularity = 0;
        foreach (long c in popularity) maxPopularity = Math.Max(maxPopularity, c);
        var recommended = new bool[popularity.Length];
        int distinct = 0;
        long listed = 0;
        double popularitySum = 0;
        foreach (var p in predictions)
        {
            int length = Math.Min(listK, p.TopK.Length);
            for (int r = 0; r < length; r++)
            {
                int item = p.TopK[r];
                if ((uint)item >= (uint)popularity.Length) continue;
                if (!recommended[item]) { recommended[item] = true; distinct++; }
                popularitySum += popularity[item];
                listed++;
            }
        }
        double meanPopularity = listed == 0 ? 0 : popularitySum / listed;
        result[Coverage(listK)] = catalogue <= 0 ? 0 : (double)distinct / catalogue;
        result[MeanPopularity(listK)] = meanPopularity;
        result[MeanPopularityNormalised(listK)] = maxPopularity == 0 ? 0 : meanPopularity / maxPopularity;
        return result;
    }

    /// <summary>
    /// Mean of each metric over seeds, plus its sample standard deviation as "&lt;key&gt;_std" (0 for one seed).
    /// Keys keep the order of the first run.
    /// </summary>
    public static Dictionary<string, double> AggregateSeeds(IReadOnlyList<IReadOnlyDictionary<string, double>> runs)
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        if (runs.Count == 0) return result;
        var keys = runs[0].Keys.ToList();
        foreach (var key in keys)
            result[key] = runs.Average(r => r.TryGetValue(key, out var v) ? v : 0);
        foreach (var key in keys)
        {
            double mean = result[key];
            double sumSq = runs.Sum(r => Math.Pow((r.TryGetValue(key, out var v) ? v : 0) - mean, 2));
            result[key + StdSuffix] = runs.Count > 1 ? Math.Sqrt(sumSq / (runs.Count - 1)) : 0;
        }
        return result;
    }
}
