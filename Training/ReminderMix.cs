using HrnnPipeline.Features;
using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>
/// The user's own history as a second distribution next to the model's softmax: p(i) = (1 - w) softmax(scores)_i +
/// w h_u(i), where h_u weighs each past event of the user by decay^(events since), normalised to sum 1 (decay 1:
/// how often, as PPOP; below 1: how recently, as session-rec's reminders). A softmax over item ids cannot say "this
/// user comes back to what they had", which is what wins on logs with repeat consumption (Ren et al., RepeatNet,
/// AAAI 2019, mix a repeat and an explore distribution the same way). The weight and decay are chosen per task
/// (session start, next item) on the validation split after training (<see cref="ReminderFit"/>); w = 0 is the
/// model alone.
/// </summary>
public sealed record ReminderMix(float StartWeight, float StartDecay, float NextWeight, float NextDecay)
{
    public static ReminderMix None { get; } = new(0, 1, 0, 1);

    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsNone => StartWeight == 0 && NextWeight == 0;

    public (float Weight, float Decay) For(bool start) => start ? (StartWeight, StartDecay) : (NextWeight, NextDecay);

    public override string ToString() =>
        FormattableString.Invariant($"start w={StartWeight:0.##} decay={StartDecay:0.###}, next w={NextWeight:0.##} decay={NextDecay:0.###}");
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

/// <summary>Builds h_u for a block of rows and mixes it into the model's scores.</summary>
public sealed class ReminderMixer(SessionDataset data, int itemTableSize)
{
    readonly float[] _weight = new float[itemTableSize];
    readonly List<int> _touched = [];

    /// <summary>The rows' history distributions as a dense [rows, items] tensor on <paramref name="device"/>.</summary>
    public Tensor History(ReadOnlySpan<HistoryRow> rows, Func<HistoryRow, float> decayOf, Device device)
    {
        var rowIdx = new List<long>(); var colIdx = new List<long>(); var values = new List<float>();
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
                if (_weight[item] == 0) _touched.Add(item);
                _weight[item] += w;
                total += w;
            }
            foreach (int item in _touched)
            {
                rowIdx.Add(r); colIdx.Add(item); values.Add(_weight[item] / total);
                _weight[item] = 0;
            }
            _touched.Clear();
        }
        var history = zeros(rows.Length, _weight.Length, device: device);
        if (values.Count > 0)
            history.index_put_(tensor(values.ToArray()).to(device), tensor(rowIdx.ToArray()).to(device), tensor(colIdx.ToArray()).to(device));
        return history;
    }

    /// <summary>softmax(scores) mixed with h_u by each row's weight; null when every row's weight is 0 (rank by the
    /// scores themselves: the same order, without the ties a float softmax makes among very unlikely items).</summary>
    public Tensor? Mix(Tensor scores, ReadOnlySpan<HistoryRow> rows, ReminderMix mix)
    {
        var weights = new float[rows.Length];
        bool any = false;
        for (int r = 0; r < rows.Length; r++) any |= (weights[r] = mix.For(rows[r].Start).Weight) > 0;
        if (!any) return null;
        var w = tensor(weights, [rows.Length, 1]).to(scores.device);
        var history = History(rows, row => mix.For(row.Start).Decay, scores.device);
        return scores.softmax(1).mul(w.OneMinus()).add(history.mul(w));
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

    // [start?1:0, decay, weight]: summed reciprocal ranks within the cutoff, and the row counts per task.
    readonly double[,,] _reciprocal = new double[2, Decays.Length, Weights.Length];
    readonly long[] _rows = new long[2];

    public void Add(ReminderMixer mixer, Tensor scores, Tensor target, ReadOnlySpan<HistoryRow> rows)
    {
        using var scope = NewDisposeScope();
        var kinds = new long[rows.Length];
        for (int r = 0; r < rows.Length; r++) { kinds[r] = rows[r].Start ? 1 : 0; _rows[kinds[r]]++; }
        var isStart = tensor(kinds).to(scores.device).to_type(ScalarType.Bool);
        var probs = scores.softmax(1);
        // Tensors, not Scalars: a temporary Scalar handed to libtorch can be finalized mid-call (see Scalars).
        var limit = tensor((double)cutoff).to(scores.device);
        for (int d = 0; d < Decays.Length; d++)
        {
            float decay = Decays[d];
            var history = mixer.History(rows, _ => decay, scores.device);
            for (int g = 0; g < Weights.Length; g++)
            {
                var weight = tensor(Weights[g]).to(scores.device);
                var mixed = g == 0 ? scores : probs.mul(weight.OneMinus()).add(history.mul(weight));
                var rank = HrnnInference.ConservativeRanks(mixed, target).to_type(ScalarType.Float64);
                var rr = rank.le(limit).to_type(ScalarType.Float64).div(rank);
                _reciprocal[1, d, g] += rr.masked_select(isStart).sum().item<double>();
                _reciprocal[0, d, g] += rr.masked_select(isStart.logical_not()).sum().item<double>();
            }
        }
    }

    /// <summary>The best pair per task; a task without validation rows keeps the model alone.</summary>
    public ReminderMix Best()
    {
        var (startWeight, startDecay) = BestOf(1);
        var (nextWeight, nextDecay) = BestOf(0);
        return new ReminderMix(startWeight, startDecay, nextWeight, nextDecay);
    }

    /// <summary>Validation MRR@cutoff of one task at a grid point (for reports and tests).</summary>
    public double Mrr(bool start, float weight, float decay) =>
        _reciprocal[start ? 1 : 0, Array.IndexOf(Decays, decay), Array.IndexOf(Weights, weight)] / Math.Max(_rows[start ? 1 : 0], 1);

    (float Weight, float Decay) BestOf(int kind)
    {
        if (_rows[kind] == 0) return (0, 1);
        (float Weight, float Decay) best = (0, 1);
        double bestValue = _reciprocal[kind, 0, 0];
        for (int g = 1; g < Weights.Length; g++)
            for (int d = 0; d < Decays.Length; d++)
                if (_reciprocal[kind, d, g] > bestValue + 1e-9)
                {
                    bestValue = _reciprocal[kind, d, g];
                    best = (Weights[g], Decays[d]);
                }
        return best;
    }
}
