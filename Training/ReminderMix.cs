using HrnnPipeline.Features;
using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>
/// The user's own history as a second distribution next to the model's softmax: p(i) = (1 - w) softmax(scores)_i +
/// w h_u(i), where h_u weighs each past event of the user by decay^(events since), normalised to sum 1 (decay 1:
/// how often, as PPOP; below 1: how recently, as session-rec's reminders). A softmax over item ids cannot say "this
/// user comes back to what they had", which is what wins on logs with repeat consumption (Ren et al., RepeatNet,
/// AAAI 2019, mix a repeat and an explore distribution the same way). For next-item rows a third distribution
/// f_u follows: what this user played shortly after the current item before (each later event of the same session
/// within <see cref="ReminderMixer.FollowWindow"/> steps, weighted 1/distance^2, as session-rec's SR rules boosted to
/// the user's own sessions), mixed in as (1 - v) p + v f_u. The weights and decay are chosen per task
/// (session start, next item) on the validation split after training (<see cref="ReminderFit"/>); w = 0 is the
/// model alone.
/// </summary>
public sealed record ReminderMix(float StartWeight, float StartDecay, float NextWeight, float NextDecay, float FollowWeight = 0)
{
    public static ReminderMix None { get; } = new(0, 1, 0, 1);

    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsNone => StartWeight == 0 && NextWeight == 0 && FollowWeight == 0;

    public (float Weight, float Decay) For(bool start) => start ? (StartWeight, StartDecay) : (NextWeight, NextDecay);

    public override string ToString() =>
        FormattableString.Invariant($"start w={StartWeight:0.##} decay={StartDecay:0.###}, next w={NextWeight:0.##} decay={NextDecay:0.###} follow w={FollowWeight:0.##}");
}

/// <summary>
/// Which part of a user's history a scored row may use: the events [first event of the user, <see cref="End"/>),
/// without <see cref="Exclude"/> (the item just consumed, when the target is in the same session: consecutive
/// repeats are dropped from sessions, so it is never the next one; 0 = none). <see cref="Start"/>: the row predicts a
/// session's first item.
/// </summary>
public readonly record struct HistoryRow(int UserBlock, int End, int Exclude, bool Start)
{
    /// <summary>The row of a batcher step: a session start (the session's own events are not history yet), a
    /// next-item prediction, or a capture (the user's whole history).</summary>
    public static HistoryRow Of(SessionDataset data, int userBlock, int eventIndex, int position, bool sessionStart, bool capture)
    {
        if (capture || eventIndex < 0) return new(userBlock, data.SessionStarts[data.UserStarts[userBlock + 1]], 0, true);
        if (sessionStart) return new(userBlock, eventIndex, 0, true);
        return new(userBlock, eventIndex + 1, position >= 1 ? data.Items[eventIndex] : 0, position == 0);
    }
}

/// <summary>Builds h_u and f_u for a block of rows and mixes them into the model's scores.</summary>
public sealed class ReminderMixer(SessionDataset data, int itemTableSize)
{
    /// <summary>How far after an earlier play of the current item a later event still counts as following it.</summary>
    public const int FollowWindow = 10;

    readonly float[] _weight = new float[itemTableSize];
    readonly List<int> _touched = [];
    // The sparse rows being built: (row, item, value) entries.
    readonly List<long> _entryRows = [], _entryItems = [];
    readonly List<float> _entryValues = [];

    /// <summary>The rows' history distributions as a dense [rows, items] tensor on <paramref name="device"/>.</summary>
    public Tensor History(ReadOnlySpan<HistoryRow> rows, Func<HistoryRow, float> decayOf, Device device)
    {
        GatherHistory(rows, decayOf);
        return Dense(rows.Length, device);
    }

    /// <summary>The same distributions as sparse (row, item, weight) entries, for callers that score a few items per row.</summary>
    public (long[] Rows, long[] Items, float[] Values) HistoryEntries(ReadOnlySpan<HistoryRow> rows, Func<HistoryRow, float> decayOf)
    {
        GatherHistory(rows, decayOf);
        var entries = (_entryRows.ToArray(), _entryItems.ToArray(), _entryValues.ToArray());
        _entryRows.Clear(); _entryItems.Clear(); _entryValues.Clear();
        return entries;
    }

    void GatherHistory(ReadOnlySpan<HistoryRow> rows, Func<HistoryRow, float> decayOf)
    {
        for (int r = 0; r < rows.Length; r++)
        {
            var row = rows[r];
            float decay = decayOf(row), w = 1, total = 0;
            int first = data.SessionStarts[data.UserStarts[row.UserBlock]];
            for (int e = row.End - 1; e >= first; e--, w *= decay)
            {
                if (w < 1e-6f) break; // the rest adds nothing a float can hold next to the recent events
                int item = data.Items[e];
                if (item == row.Exclude || (uint)item >= (uint)_weight.Length) continue;
                Add(item, w);
                total += w;
            }
            EndRow(r, total);
        }
    }

    /// <summary>
    /// The rows' follower distributions f_u as a dense [rows, items] tensor, and which rows have one (a next-item row
    /// whose current item the user played before with something after it).
    /// </summary>
    public (Tensor Followers, Tensor Has) Followers(ReadOnlySpan<HistoryRow> rows, Device device)
    {
        var has = GatherFollowers(rows);
        return (Dense(rows.Length, device), tensor(has, [rows.Length, 1]).to(device));
    }

    /// <summary>The same distributions as sparse (row, item, weight) entries, and which rows have one.</summary>
    public (long[] Rows, long[] Items, float[] Values, float[] Has) FollowerEntries(ReadOnlySpan<HistoryRow> rows)
    {
        var has = GatherFollowers(rows);
        var entries = (_entryRows.ToArray(), _entryItems.ToArray(), _entryValues.ToArray(), has);
        _entryRows.Clear(); _entryItems.Clear(); _entryValues.Clear();
        return entries;
    }

    float[] GatherFollowers(ReadOnlySpan<HistoryRow> rows)
    {
        var has = new float[rows.Length];
        for (int r = 0; r < rows.Length; r++)
        {
            var row = rows[r];
            if (row.Start || row.Exclude == 0) continue;
            float total = 0;
            int first = data.SessionStarts[data.UserStarts[row.UserBlock]];
            // Every earlier play of the current item (the row's own input, End - 1, excluded) and what came after it
            // in the same session.
            int session = data.UserStarts[row.UserBlock];
            for (int e = first; e < row.End - 1; e++)
            {
                while (data.SessionStarts[session + 1] <= e) session++;
                if (data.Items[e] != row.Exclude) continue;
                int end = Math.Min(Math.Min(data.SessionStarts[session + 1], row.End - 1), e + 1 + FollowWindow);
                for (int f = e + 1; f < end; f++)
                {
                    int item = data.Items[f];
                    if (item == row.Exclude || (uint)item >= (uint)_weight.Length) continue;
                    float w = 1f / ((f - e) * (f - e));
                    Add(item, w);
                    total += w;
                }
            }
            if (EndRow(r, total)) has[r] = 1;
        }
        return has;
    }

    void Add(int item, float w)
    {
        if (_weight[item] == 0) _touched.Add(item);
        _weight[item] += w;
    }

    /// <summary>Ends row <paramref name="row"/>: its accumulated weights, divided by their sum, become entries of the
    /// sparse rows <see cref="Dense"/> builds. False when the row got none.</summary>
    bool EndRow(int row, float total)
    {
        foreach (int item in _touched)
        {
            _entryRows.Add(row); _entryItems.Add(item); _entryValues.Add(_weight[item] / total);
            _weight[item] = 0;
        }
        bool any = _touched.Count > 0;
        _touched.Clear();
        return any;
    }

    /// <summary>The entries gathered since the last call as a dense [rows, items] tensor on the device.</summary>
    Tensor Dense(int rows, Device device)
    {
        var dense = zeros(rows, _weight.Length, device: device);
        if (_entryValues.Count > 0)
            dense.index_put_(tensor(_entryValues.ToArray()).to(device), tensor(_entryRows.ToArray()).to(device),
                tensor(_entryItems.ToArray()).to(device));
        _entryRows.Clear(); _entryItems.Clear(); _entryValues.Clear();
        return dense;
    }

    /// <summary>
    /// (1 - v) [(1 - w) softmax(scores) + w h_u] + v f_u, with each row's weights (a row without followers keeps the
    /// first part); null when every weight is 0 (rank by the scores themselves: the same order, without the ties a
    /// float softmax makes among very unlikely items).
    /// </summary>
    public Tensor? Mix(Tensor scores, ReadOnlySpan<HistoryRow> rows, ReminderMix mix)
    {
        var weights = new float[rows.Length];
        var follow = new float[rows.Length];
        bool any = false;
        for (int r = 0; r < rows.Length; r++)
        {
            any |= (weights[r] = mix.For(rows[r].Start).Weight) > 0;
            any |= (follow[r] = rows[r].Start ? 0 : mix.FollowWeight) > 0;
        }
        if (!any) return null;
        var w = tensor(weights, [rows.Length, 1]).to(scores.device);
        var history = History(rows, row => mix.For(row.Start).Decay, scores.device);
        var mixed = scores.softmax(1).mul(w.OneMinus()).add(history.mul(w));
        if (mix.FollowWeight == 0) return mixed;
        var (followers, has) = Followers(rows, scores.device);
        var v = tensor(follow, [rows.Length, 1]).to(scores.device).mul(has);
        return mixed.mul(v.OneMinus()).add(followers.mul(v));
    }
}

/// <summary>
/// Chooses the mix on validation predictions: every (weight, decay) pair of a small grid, per task, by MRR@k (the
/// validation metric of early stopping). Ties keep the smaller weight, so a history that does not help is not used.
/// </summary>
public sealed class ReminderFit(int cutoff)
{
    public static readonly float[] Weights = [0, 0.05f, 0.1f, 0.2f, 0.3f, 0.5f, 0.7f, 0.9f];
    public static readonly float[] Decays = [1f, 0.99f, 0.95f, 0.8f];
    public static readonly float[] FollowWeights = [0, 0.1f, 0.2f, 0.4f];

    // [start?1:0, decay, weight, follow weight]: summed reciprocal ranks within the cutoff; row counts per task.
    // Start rows have no followers: only follow weight 0 is filled for them.
    readonly double[,,,] _reciprocal = new double[2, Decays.Length, Weights.Length, FollowWeights.Length];
    readonly long[] _rows = new long[2];

    /// <summary>
    /// Adds a block of validation rows: their model scores [rows, items] and targets [rows, 1]. A grid point's rank of
    /// a target is read from a few columns per row, not the whole catalogue 128 times over: outside the row's history
    /// and followers every item's mixed value is its softmax times a constant, so the items there that rank ahead of
    /// the target are the best-scored ones; if more than the cutoff's worth of the best-scored items rank ahead, the
    /// target is beyond the cutoff and adds nothing. So each row's columns are its target, its history and follower
    /// items, and the best cutoff + (the block's largest history) + 2 by score: the ranks within the cutoff are those
    /// of the whole catalogue, with the same float operations on the same values.
    /// </summary>
    public void Add(ReminderMixer mixer, Tensor scores, Tensor target, ReadOnlySpan<HistoryRow> rows)
    {
        using var scope = NewDisposeScope();
        int n = rows.Length, width = (int)scores.shape[1];
        var kinds = new long[n];
        for (int r = 0; r < n; r++) { kinds[r] = rows[r].Start ? 1 : 0; _rows[kinds[r]]++; }
        var device = scores.device;
        var isStart = tensor(kinds).to(device).to_type(ScalarType.Bool);
        var isNext = isStart.logical_not();

        // Each row's columns: the target first, then its history and follower items, then the best-scored items.
        var histories = new (long[] Rows, long[] Items, float[] Values)[Decays.Length];
        for (int d = 0; d < Decays.Length; d++) { float decay = Decays[d]; histories[d] = mixer.HistoryEntries(rows, _ => decay); }
        var (fRows, fItems, fValues, hasFollowers) = mixer.FollowerEntries(rows);
        var columns = new Dictionary<long, int>[n];
        var targets = target.cpu().data<long>().ToArray();
        for (int r = 0; r < n; r++) columns[r] = new() { [targets[r]] = 0 };
        void Include(long[] entryRows, long[] entryItems)
        {
            for (int e = 0; e < entryRows.Length; e++) columns[entryRows[e]].TryAdd(entryItems[e], columns[entryRows[e]].Count);
        }
        foreach (var h in histories) Include(h.Rows, h.Items);
        Include(fRows, fItems);
        int best = Math.Min(width, cutoff + columns.Max(c => c.Count) + 2);
        var top = scores.topk(best, 1).indexes.cpu().data<long>().ToArray();
        for (int r = 0; r < n; r++)
            for (int j = 0; j < best; j++) columns[r].TryAdd(top[r * best + j], columns[r].Count);
        int l = columns.Max(c => c.Count);
        var items = new long[n * l];
        var valid = new bool[n * l];
        for (int r = 0; r < n; r++)
            foreach (var (item, c) in columns[r]) { items[r * l + c] = item; valid[r * l + c] = item != 0; } // 0: the padding
        float[] Gathered(long[] entryRows, long[] entryItems, float[] values)
        {
            var dense = new float[n * l];
            for (int e = 0; e < entryRows.Length; e++) dense[entryRows[e] * l + columns[entryRows[e]][entryItems[e]]] = values[e];
            return dense;
        }

        var at = tensor(items, [n, l]).to(device);
        var isValid = tensor(valid, [n, l]).to(device);
        var rowScores = scores.gather(1, at);
        var probs = scores.softmax(1).gather(1, at);
        var followers = tensor(Gathered(fRows, fItems, fValues), [n, l]).to(device);
        var has = tensor(hasFollowers, [n, 1]).to(device);
        // Tensors, not Scalars: a temporary Scalar handed to libtorch can be finalized mid-call (see Scalars).
        var limit = tensor((double)cutoff).to(device);
        var nanRank = tensor((long)(width - 1), device: device);
        for (int d = 0; d < Decays.Length; d++)
        {
            var history = tensor(Gathered(histories[d].Rows, histories[d].Items, histories[d].Values), [n, l]).to(device);
            for (int g = 0; g < Weights.Length; g++)
            {
                var weight = tensor(Weights[g]).to(device);
                var mixed = g == 0 ? probs : probs.mul(weight.OneMinus()).add(history.mul(weight));
                for (int f = 0; f < FollowWeights.Length; f++)
                {
                    var v = has.mul(tensor(FollowWeights[f]).to(device));
                    // The model alone is ranked by its raw scores, as Mix does (no softmax ties).
                    var ranked = g == 0 && f == 0 ? rowScores : f == 0 ? mixed : mixed.mul(v.OneMinus()).add(followers.mul(v));
                    // As HrnnInference.ConservativeRanks: ties rank ahead, a NaN target ranks last.
                    var targetValue = ranked.narrow(1, 0, 1);
                    var ahead = ranked.ge(targetValue).logical_and(isValid).sum(1);
                    var rank = where(targetValue.squeeze(1).isnan(), nanRank, ahead).to_type(ScalarType.Float64);
                    var rr = rank.le(limit).to_type(ScalarType.Float64).div(rank);
                    if (f == 0) _reciprocal[1, d, g, 0] += rr.masked_select(isStart).sum().item<double>();
                    _reciprocal[0, d, g, f] += rr.masked_select(isNext).sum().item<double>();
                }
            }
        }
    }

    /// <summary>The best point per task; a task without validation rows keeps the model alone.</summary>
    public ReminderMix Best()
    {
        var start = BestOf(1, FollowWeights.Take(1).ToArray());
        var next = BestOf(0, FollowWeights);
        return new ReminderMix(start.Weight, start.Decay, next.Weight, next.Decay, next.Follow);
    }

    /// <summary>Validation MRR@cutoff of one task at a grid point (for reports and tests).</summary>
    public double Mrr(bool start, float weight, float decay, float follow = 0) =>
        _reciprocal[start ? 1 : 0, Array.IndexOf(Decays, decay), Array.IndexOf(Weights, weight), Array.IndexOf(FollowWeights, follow)]
        / Math.Max(_rows[start ? 1 : 0], 1);

    (float Weight, float Decay, float Follow) BestOf(int kind, float[] follows)
    {
        if (_rows[kind] == 0) return (0, 1, 0);
        (float Weight, float Decay, float Follow) best = (0, 1, 0);
        double bestValue = _reciprocal[kind, 0, 0, 0];
        // Ties keep the earlier, simpler point: smaller weights first.
        for (int f = 0; f < follows.Length; f++)
            for (int g = 0; g < Weights.Length; g++)
                for (int d = 0; d < Decays.Length; d++)
                    if ((g > 0 || d == 0) && _reciprocal[kind, d, g, f] > bestValue + 1e-9)
                    {
                        bestValue = _reciprocal[kind, d, g, f];
                        best = (Weights[g], g == 0 ? 1 : Decays[d], FollowWeights[f]);
                    }
        return best;
    }
}
