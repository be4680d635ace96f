namespace HrnnPipeline.Evaluation.Baselines;

/// <summary>
/// A score per catalogue item plus the list of items written, so that normalising, ranking and clearing cost what
/// was written, not the catalogue. One per worker: not thread-safe.
/// </summary>
sealed class SparseScores(int catalogueSize)
{
    readonly double[] _value = new double[catalogueSize + 1];
    readonly bool[] _written = new bool[catalogueSize + 1];
    readonly List<int> _items = [];

    public IReadOnlyList<int> Items => _items;
    public double this[int item] => _value[item];

    public void Add(int item, double value)
    {
        if (!_written[item]) { _written[item] = true; _items.Add(item); }
        _value[item] += value;
    }

    /// <summary>The largest score over the whole catalogue, unwritten items counting 0 (pandas' max over a full vector).</summary>
    public double Max()
    {
        double max = 0;
        foreach (int item in _items) max = Math.Max(max, _value[item]);
        return max;
    }

    /// <summary>Divides every score by the maximum when it is positive (session-rec's normalisation).</summary>
    public void Normalise()
    {
        double max = Max();
        if (max > 0)
            foreach (int item in _items) _value[item] /= max;
    }

    public void Scale(double factor)
    {
        foreach (int item in _items) _value[item] *= factor;
    }

    /// <summary>The ranking vector: written items by score, the rest (and zeros) by popularity.</summary>
    public void RankInto(PopularityTieBreak popularity, Span<float> scores)
    {
        var candidates = new Candidate[_items.Count];
        for (int c = 0; c < candidates.Length; c++) candidates[c] = new Candidate(_items[c], _value[_items[c]]);
        popularity.RankInto(candidates, scores);
    }

    public Dictionary<int, double> ToDictionary() => _items.ToDictionary(item => item, item => _value[item]);

    public void Clear()
    {
        foreach (int item in _items) { _value[item] = 0; _written[item] = false; }
        _items.Clear();
    }
}
