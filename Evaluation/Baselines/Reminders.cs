using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Evaluation.Baselines;

/// <summary>
/// session-rec's hybrid reminders (extensions/reminder.py; Latifi, Mauro and Jannach 2021), the R of V-SKNN_EBR
/// and SR_BR: final = w_base * base/max + w_IRec * IRec/max + w_SSim * SSim/max, where IRec(i) = now / (now - the
/// user's last training play of i) and SSim(i) sums the similarity of the user's last <see cref="Sessions"/>
/// training sessions that contain i. Each part is divided by its own maximum first, so the weights set the mix.
/// </summary>
public sealed record ReminderOptions
{
    /// <summary>remind_sessions_num: how many of the user's last training sessions SSim looks at.</summary>
    public int Sessions { get; init; } = 3;
    public double WeightBase { get; init; } = 7;
    public double WeightIRec { get; init; } = 1;
    public double WeightSSim { get; init; } = 1;

    public void Validate(string model)
    {
        if (Sessions < 1) throw new PipelineException($"{model}: remind sessions {Sessions} must be >= 1");
        foreach (var (name, w) in new[] { ("weight base", WeightBase), ("weight IRec", WeightIRec), ("weight SSim", WeightSSim) })
            if (!double.IsFinite(w) || w < 0) throw new PipelineException($"{model}: reminder {name} {w} must be a finite number >= 0");
    }
}

/// <summary>One user's reminder inputs, collected at the user's start; one per worker.</summary>
sealed class UserReminders(int catalogueSize, int sessions)
{
    readonly long[] _lastPlayed = new long[catalogueSize + 1];
    readonly bool[] _played = new bool[catalogueSize + 1];
    readonly List<int> _items = [];
    readonly List<long> _times = [];
    readonly List<int[]> _recentSessions = [];
    readonly SparseScores _similarity = new(catalogueSize);

    /// <summary>Item sets (first-play order) of the user's last training sessions, oldest first.</summary>
    public IReadOnlyList<int[]> RecentSessions => _recentSessions;

    public void BeginUser(SessionDataset history, int block)
    {
        _items.Clear();
        _times.Clear();
        _recentSessions.Clear();
        if (block < 0) return;
        int firstSession = history.UserStarts[block], endSession = history.UserStarts[block + 1];
        for (int e = history.SessionStarts[firstSession]; e < history.SessionStarts[endSession]; e++)
        {
            int item = history.Items[e];
            if ((uint)item >= (uint)_played.Length) continue; // history beyond the fitted catalogue cannot be scored
            if (!_played[item]) { _played[item] = true; _items.Add(item); }
            _lastPlayed[item] = history.Timestamps[e]; // the last row wins, as pandas' groupby().last()
        }
        foreach (int item in _items)
        {
            _times.Add(_lastPlayed[item]);
            _played[item] = false;
        }
        for (int s = Math.Max(firstSession, endSession - sessions); s < endSession; s++)
            _recentSessions.Add(history.SessionItems(s).ToArray().Where(i => (uint)i < (uint)_played.Length).Distinct().ToArray());
    }

    /// <summary>Adds weight * IRec(i)/max IRec for every item the user played in training.</summary>
    public void AddRecency(long now, double weight, SparseScores into)
    {
        if (weight == 0 || _items.Count == 0) return;
        var recency = new double[_items.Count];
        double max = 0;
        for (int i = 0; i < recency.Length; i++)
        {
            // A play at or after "now" cannot happen in the protocol; it counts as a millisecond ago, not a division by 0.
            recency[i] = (double)now / Math.Max(now - _times[i], 1);
            max = Math.Max(max, recency[i]);
        }
        if (max <= 0) return;
        for (int i = 0; i < recency.Length; i++) into.Add(_items[i], weight * (recency[i] / max));
    }

    /// <summary>
    /// Adds weight * SSim(i)/max SSim, given the similarity of each of <see cref="RecentSessions"/> to the current
    /// session (index into that list; only positive similarities count, as session-rec keeps only those).
    /// </summary>
    public void AddSimilarity(IReadOnlyList<(int Session, double Similarity)> similarities, double weight, SparseScores into)
    {
        if (weight == 0) return;
        // session-rec sums in order of similarity (a stable sort), which fixes the rounding of the sums.
        foreach (var (session, similarity) in similarities.Where(s => s.Similarity > 0).OrderByDescending(s => s.Similarity))
            foreach (int item in _recentSessions[session]) _similarity.Add(item, similarity);
        double max = _similarity.Max();
        if (max > 0)
            foreach (int item in _similarity.Items) into.Add(item, weight * (_similarity[item] / max));
        _similarity.Clear();
    }
}
