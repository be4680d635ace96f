using HrnnPipeline.Features;

namespace HrnnPipeline.Scoring.Filters;

/// <summary>
/// Exploration of cold items (<see cref="ScoringOptions.ExplorationWeight"/>, as Personalize's explorationWeight): an
/// item with metadata is cold when the scored history has fewer than <see cref="ScoringOptions.ColdItemMaxInteractions"/>
/// events of it (never seen at all included) or its first event is within <see cref="ScoringOptions.ColdItemMaxAge"/>
/// of the newest one. The last round(weight x k) ranks of each unfiltered list go to the cold items the user has not
/// consumed with the best metadata score: the share of the user's events on items sharing a categorical value with the
/// cold item (averaged over the item's values), so a user gets new items of the categories they play. Equal scores
/// (every cold item of a category, or a user with no metadata overlap) are ordered at random, seeded by
/// <see cref="ScoringOptions.Seed"/> and the user, so a version is reproducible and another seed explores other items.
/// A listed cold item's score is its metadata score times the last model score above it, so scores still fall by rank.
/// </summary>
public sealed class ColdItemExploration
{
    readonly int _slots;
    readonly int _seed;
    readonly SessionDataset _history;
    readonly IdMap _items;
    readonly string[] _cold;
    readonly string[][] _coldValues;
    readonly string[]?[] _itemValues; // per dense item: its "field=value" keys

    public ColdItemExploration(ScoringOptions options, ItemFields fields, IdMap items, SessionDataset history)
    {
        _slots = (int)Math.Round(options.ExplorationWeight * options.K);
        _seed = options.Seed;
        _history = history;
        _items = items;
        var categorical = fields.NumericFields.Where(f => !f.Value).Select(f => f.Key).ToList();
        string[] Keys(string itemId) => categorical.SelectMany(f => fields.Values(itemId, f).Select(v => $"{f}={v}")).ToArray();

        var events = new long[items.Ids.Length];
        var first = Enumerable.Repeat(long.MaxValue, items.Ids.Length).ToArray();
        for (int e = 0; e < history.Items.Length; e++)
        {
            events[history.Items[e]]++;
            first[history.Items[e]] = Math.Min(first[history.Items[e]], history.Timestamps[e]);
        }
        long now = history.Timestamps.Length == 0 ? 0 : history.Timestamps.Max();
        long maxAge = (long)options.ColdItemMaxAge.TotalMilliseconds;
        bool IsCold(string itemId) => !items.TryGetIndex(itemId, out var i)
            || events[i] < options.ColdItemMaxInteractions || (maxAge > 0 && first[i] >= now - maxAge);
        _cold = _slots == 0 ? [] : fields.ItemIds.Where(IsCold).Order(StringComparer.Ordinal).ToArray();
        _coldValues = _cold.Select(Keys).ToArray();
        _itemValues = new string[]?[items.Ids.Length];
        if (_cold.Length > 0)
            for (int i = items.FirstIndex; i < items.Ids.Length; i++) _itemValues[i] = Keys(items.Ids[i]);
    }

    /// <summary>How many items count as cold.</summary>
    public int ColdItems => _cold.Length;
    public bool IsOff => _slots == 0 || _cold.Length == 0;

    /// <summary>Gives the last ranks of one user's list (ids and scores, best first) to cold items; returns how many.</summary>
    public int Apply(int block, string userId, List<string> ids, List<float> scores)
    {
        if (IsOff) return 0;
        var affinity = new Dictionary<string, int>(StringComparer.Ordinal);
        var consumed = new HashSet<string>(StringComparer.Ordinal);
        int total = 0;
        int firstEvent = _history.SessionStarts[_history.UserStarts[block]], end = _history.SessionStarts[_history.UserStarts[block + 1]];
        for (int e = firstEvent; e < end; e++)
        {
            int item = _history.Items[e];
            consumed.Add(_items.Ids[item]);
            total++;
            foreach (var key in _itemValues[item] ?? []) affinity[key] = affinity.GetValueOrDefault(key) + 1;
        }
        int n = Math.Min(_slots, ids.Count);
        var listed = ids.Take(ids.Count - n).ToHashSet(StringComparer.Ordinal);
        var rng = new Random(unchecked(_seed * 1_000_003 + StableHash(userId)));
        var drawn = new List<(double Score, double TieBreak, string Id)>();
        for (int c = 0; c < _cold.Length; c++)
        {
            double u = rng.NextDouble();
            if (listed.Contains(_cold[c]) || consumed.Contains(_cold[c])) continue;
            var values = _coldValues[c];
            double score = values.Length == 0 || total == 0 ? 0 : values.Average(v => affinity.GetValueOrDefault(v)) / total;
            drawn.Add((score, u, _cold[c]));
        }
        var chosen = drawn.OrderByDescending(d => d.Score).ThenBy(d => d.TieBreak).Take(n).ToList();
        if (chosen.Count == 0) return 0;
        int keep = ids.Count - chosen.Count;
        float floor = keep > 0 ? scores[keep - 1] : 1f;
        ids.RemoveRange(keep, ids.Count - keep);
        scores.RemoveRange(keep, scores.Count - keep);
        foreach (var (score, _, id) in chosen)
        {
            ids.Add(id);
            scores.Add((float)(floor * score));
        }
        return chosen.Count;
    }

    /// <summary>FNV-1a: string.GetHashCode is randomised per process, and the draw must be the same in every run.</summary>
    static int StableHash(string text)
    {
        uint hash = 2166136261;
        foreach (var c in text) hash = (hash ^ c) * 16777619;
        return unchecked((int)hash);
    }
}
