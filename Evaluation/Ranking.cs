using System.Numerics;
using System.Runtime.InteropServices;

namespace HrnnPipeline.Evaluation;

/// <summary>
/// The full-ranking rules every model shares, on score vectors indexed by item (slot 0 = padding, ignored).
/// NaN scores count as the lowest possible, so a diverged model ranks its targets last instead of first.
/// </summary>
public static class Ranking
{
    /// <summary>
    /// Conservative rank of <paramref name="target"/>: the number of items 1..N whose score is &gt;= the
    /// target's, the target included. A model that scores everything alike ranks the target N, never 1.
    /// </summary>
    public static int ConservativeRank(ReadOnlySpan<float> scores, int target)
    {
        int n = scores.Length - 1;
        if ((uint)(target - 1) >= (uint)n)
            throw new ArgumentOutOfRangeException(nameof(target), target, $"target must be an item in 1..{n}");
        float t = scores[target];
        if (float.IsNaN(t)) return n;
        var items = scores[1..];
        int count = 0, i = 0;
        if (Vector.IsHardwareAccelerated && items.Length >= Vector<float>.Count)
        {
            var threshold = new Vector<float>(t);
            var acc = Vector<int>.Zero;
            var vectors = MemoryMarshal.Cast<float, Vector<float>>(items);
            // Comparison lanes are -1 where true, so subtracting them counts.
            foreach (var v in vectors) acc -= Vector.GreaterThanOrEqual(v, threshold);
            count = Vector.Sum(acc);
            i = vectors.Length * Vector<float>.Count;
        }
        for (; i < items.Length; i++)
            if (items[i] >= t) count++;
        return count;
    }

    /// <summary>The items of a catalogue with no training event (<c>IdMap.Counts</c> 0), the cold items of a
    /// cold-start split; empty in the standard protocol, whose catalogue is the training items.</summary>
    public static int[] ColdItems(ReadOnlySpan<long> counts)
    {
        var cold = new List<int>();
        for (int i = 1; i < counts.Length; i++)
            if (counts[i] == 0) cold.Add(i);
        return [.. cold];
    }

    /// <summary>The conservative rank of <paramref name="target"/> among <paramref name="among"/> only (NaN lowest, as
    /// in <see cref="ConservativeRank"/>).</summary>
    public static int ConservativeRankAmong(ReadOnlySpan<float> scores, int target, ReadOnlySpan<int> among)
    {
        float t = scores[target];
        if (float.IsNaN(t)) return among.Length;
        int count = 0;
        foreach (int item in among)
            if (scores[item] >= t) count++;
        return count;
    }

    /// <summary>The <paramref name="k"/> best items, best first; equal scores go to the lower item index.</summary>
    public static int[] TopK(ReadOnlySpan<float> scores, int k)
    {
        int n = scores.Length - 1;
        k = Math.Min(k, Math.Max(n, 0));
        if (k <= 0) return [];
        // Min-heap of the k best so far; its root is the worst of them, the one a better item evicts.
        var heap = new int[k];
        int size = 0;
        for (int item = 1; item <= n; item++)
        {
            if (size < k)
            {
                heap[size] = item;
                SiftUp(heap, size++, scores);
            }
            else if (Better(scores, item, heap[0]))
            {
                heap[0] = item;
                SiftDown(heap, size, scores);
            }
        }
        // Pop worst-first into the tail so the array ends up best-first.
        for (int end = size - 1; end > 0; end--)
        {
            (heap[0], heap[end]) = (heap[end], heap[0]);
            SiftDown(heap, end, scores);
        }
        return heap;
    }

    /// <summary>Whether item a ranks above item b: higher score, then lower index.</summary>
    static bool Better(ReadOnlySpan<float> scores, int a, int b)
    {
        float sa = Order(scores[a]), sb = Order(scores[b]);
        return sa > sb || (sa == sb && a < b);
    }

    static float Order(float score) => float.IsNaN(score) ? float.NegativeInfinity : score;

    static void SiftUp(int[] heap, int i, ReadOnlySpan<float> scores)
    {
        while (i > 0)
        {
            int parent = (i - 1) / 2;
            if (!Better(scores, heap[parent], heap[i])) break;
            (heap[parent], heap[i]) = (heap[i], heap[parent]);
            i = parent;
        }
    }

    static void SiftDown(int[] heap, int size, ReadOnlySpan<float> scores)
    {
        int i = 0;
        while (true)
        {
            int worst = i, l = 2 * i + 1, r = l + 1;
            if (l < size && Better(scores, heap[worst], heap[l])) worst = l;
            if (r < size && Better(scores, heap[worst], heap[r])) worst = r;
            if (worst == i) return;
            (heap[worst], heap[i]) = (heap[i], heap[worst]);
            i = worst;
        }
    }
}
