using HrnnPipeline.Training;

namespace HrnnPipeline.Scoring;

/// <summary>
/// The last step of <see cref="TiledTopK"/>: each row's list from its candidates (best first by score, or in any
/// order with the approximate mode's exact rescoring) and its sparse entries (seen items first, then the history's),
/// written where the dense path writes: the mix (1 - w) softmax + w h of the candidates and history items, the unseen
/// candidates first with seen items excluded, and the best seen items as the fill of a row with fewer than k unseen.
/// </summary>
sealed class RowLists(int k, int candidates, int[] candidateItems, float[] candidateScores, List<long> entryRows,
    List<long> entryItems, float[] entryScores, int seenEntries, float[] historyWeight)
{
    /// <param name="weights">Each row's mix weight; null: ranked by the scores themselves.</param>
    public void Write(HrnnInference.CaptureBlock block, int start, int n, int[]? seenCount, float[]? weights, double[]? rowMax, double[]? rowZ)
    {
        var seenOf = new List<(int Item, float Score)>[n];
        // A row's history items: their weight h and score.
        var historyOf = new Dictionary<int, (float H, float Score)>[n];
        for (int i = 0; i < entryRows.Count; i++)
        {
            int r = (int)entryRows[i], item = (int)entryItems[i];
            if (i < seenEntries) (seenOf[r] ??= []).Add((item, entryScores[i]));
            else (historyOf[r] ??= [])[item] = (historyWeight[i - seenEntries], entryScores[i]);
        }
        var list = new List<(int Item, float Value)>(candidates);
        var seenItems = new HashSet<int>();
        int catalogue = block.Width - 1;
        for (int r = 0; r < n; r++)
        {
            float Ranked(float score, float h) => weights is null || float.IsNegativeInfinity(score)
                ? score : (float)(Math.Exp(score - rowMax![r]) / rowZ![r]) * (1f - weights[r]) + h * weights[r];
            var history = historyOf[r];
            list.Clear();
            seenItems.Clear();
            if (seenCount is not null) foreach (var (item, _) in seenOf[r] ?? []) seenItems.Add(item);
            for (int j = 0; j < candidates; j++)
            {
                int item = candidateItems[r * candidates + j];
                // The padding and seen items never rank among the unseen (the approximate mode's groups hold them
                // with their exact scores; exact candidates hold them only at -inf, where a row has fewer than k).
                if ((uint)(item - 1) >= (uint)catalogue || seenItems.Contains(item)) continue;
                list.Add((item, Ranked(candidateScores[r * candidates + j], H(history, item))));
            }
            if (history is not null && seenCount is null)
            {
                // The history items the candidates lack (with seen items excluded they are all seen: fill only).
                var listed = list.Select(e => e.Item).ToHashSet();
                foreach (var (item, (h, score)) in history)
                    if (!listed.Contains(item)) list.Add((item, Ranked(score, h)));
            }
            Sort(list);
            int row = (start + r) * k;
            for (int j = 0; j < k; j++)
            {
                // Fewer listed than k: a row with fewer unseen items, whose fill follows, or (approximate only) one
                // whose candidates missed some of its few unseen items: those slots stay empty (item 0).
                var (item, value) = j < list.Count ? list[j] : (0, float.NegativeInfinity);
                block.TopK[row + j] = item;
                block.TopScores[row + j] = value;
            }
            if (seenCount is null) continue;
            int unseen = catalogue - seenCount[r];
            if (unseen >= k) continue;
            // Fewer unseen items than k: the list goes on with the best-scored seen items, so nobody's list is short.
            var fill = (seenOf[r] ?? []).Select(e => (e.Item, Value: Ranked(e.Score, H(history, e.Item)))).ToList();
            Sort(fill);
            block.SeenFill[start + r] = k - unseen;
            for (int j = unseen; j < k; j++)
            {
                block.TopK[row + j] = fill[j - unseen].Item;
                block.TopScores[row + j] = fill[j - unseen].Value;
            }
        }
    }

    static float H(Dictionary<int, (float H, float Score)>? history, int item) =>
        history is not null && history.TryGetValue(item, out var e) ? e.H : 0;

    /// <summary>Best first; NaN lowest (it never beats a number, as in topk's order it is last here).</summary>
    static void Sort(List<(int Item, float Value)> list) =>
        list.Sort((a, b) => float.IsNaN(a.Value) || float.IsNaN(b.Value) ? float.IsNaN(a.Value).CompareTo(float.IsNaN(b.Value)) : b.Value.CompareTo(a.Value));
}
