using HrnnPipeline.Features;
using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>The host-side arrays of one step: the distinct items it touches (rows of the item tables to gather and
/// update) and every item as an index into them.</summary>
public sealed record StepData(Tensor InputLocal, Tensor TargetColumns, Tensor StartColumns, Tensor ColumnItems,
    Tensor StartColumnItems, Tensor TargetItems, Tensor InputItems, Tensor SessionStart, Tensor UserStart,
    Tensor TargetRows, Tensor StartRows, int Targets, int Starts, Tensor OutcomeTarget, Tensor OutcomeMask,
    double Weight, int Positives, int OutcomeRows, Tensor OutcomeBase, PartStates.Moves? Parts, Tensor? UserRows);

/// <summary>
/// Builds each training step's tensors from a <see cref="StepChunk"/>: inputs, targets and the shared sampled negatives
/// as local indices into the window's distinct item rows, the session and user starts (a split user's later part
/// starts fresh until its previous part has stored states), each target's ranking weight and value, and the
/// session-start objective's rows. One per epoch: the negatives are drawn from the epoch's random stream.
/// </summary>
sealed class StepBuilder(HrnnSettings settings, HrnnModel model, double[] sampleCdf, int tableSize, Device device,
    PartStates parts, OutcomeBaseline? baseline, Random rng)
{
    readonly HrnnSettings _s = settings;
    readonly HrnnModel _model = model;
    readonly PartStates _parts = parts;
    readonly OutcomeBaseline? _baseline = baseline;
    readonly Random _rng = rng;
    readonly double[] _sampleCdf = sampleCdf;
    readonly Device _device = device;
    // Per item: the window it was last added in, and its local index there.
    readonly int[] _stamp = new int[tableSize];
    readonly int[] _local = new int[tableSize];
    int _stampId;
    List<long> _rows = [];


    /// <summary>Starts a window: its steps share one list of distinct item rows.</summary>
    public void BeginWindow()
    {
        _rows = new List<long>(2 * _s.BatchSize + _s.NSample);
        _stampId++;
    }

    /// <summary>The window's distinct item rows, to gather from (and update in) the item tables.</summary>
    public Tensor WindowRows() => Upload(_rows.ToArray());

    /// <summary>Step <paramref name="t"/> of <paramref name="chunk"/>; its items are added to the window's rows, and its
    /// local indices point into them.</summary>
    /// <param name="users">Each user block's user index (the dataset's Users), for models that read user metadata.</param>
    public StepData Build(StepChunk chunk, int t, int[] users)
    {
        int batch = chunk.Batch, s = _s.NSample;
        int Local(int item)
        {
            if (_stamp[item] != _stampId) { _stamp[item] = _stampId; _local[item] = _rows.Count; _rows.Add(item); }
            return _local[item];
        }
        var inputLocal = new long[batch];
        var targetCols = new long[batch + s];
        var startCols = new long[batch + s];
        var colItems = new long[batch + s];
        var startItems = new long[batch + s];
        var sessionStart = new float[batch];
        var userStart = new float[batch];
        var targetRows = new float[batch];
        var startRows = new float[batch];
        var outcomeTarget = new float[batch];
        var outcomeMask = new float[batch];
        var outcomeBase = new float[batch];
        int targets = 0, starts = 0, positives = 0, outcomes = 0;
        double weight = 0;
        for (int b = 0; b < batch; b++)
        {
            int row = t * batch + b;
            var flags = (StepFlags)chunk.Flags[row];
            int x = chunk.Input[row], y = chunk.Target[row];
            inputLocal[b] = Local(x);
            targetCols[b] = Local(y);
            startCols[b] = inputLocal[b];
            colItems[b] = y;
            startItems[b] = x;
            sessionStart[b] = (flags & StepFlags.SessionStart) != 0 ? 1 : 0;
            // A later part whose previous part has no stored end states yet (the first epoch) starts fresh.
            userStart[b] = (flags & StepFlags.UserStart) != 0 || (chunk.ContinueFrom[row] >= 0 && !_parts.Ready(chunk.ContinueFrom[row])) ? 1 : 0;
            // The ranking weight of the target: 1 for a click; 0 for a negative target, which the GRU still read.
            targetRows[b] = y != 0 ? OutcomeTraining.RankingWeight(_s, chunk.Outcome[row]) : 0;
            weight += targetRows[b];
            if (targetRows[b] > 0) positives++;
            if (y != 0 && _model.HasOutcomeHead)
            {
                outcomeMask[b] = 1;
                outcomeTarget[b] = OutcomeTraining.HeadTarget(_s, chunk.Outcome[row]);
                if (_baseline is not null) outcomeBase[b] = _baseline.Before(chunk.Event[row] + 1);
                outcomes++;
            }
            // The session-start objective: the initial state of a session that follows another of the same user
            // predicts the session's first item (the current input).
            startRows[b] = sessionStart[b] == 1 && userStart[b] == 0 && x != 0 && _model.HasStartHead ? 1 : 0;
            if (y != 0) targets++;
            if (startRows[b] == 1) starts++;
        }
        for (int j = 0; j < s; j++)
        {
            int item = SampleItem();
            targetCols[batch + j] = startCols[batch + j] = Local(item);
            colItems[batch + j] = startItems[batch + j] = item;
        }
        return new StepData(
            Upload(inputLocal), Upload(targetCols), Upload(startCols), Upload(colItems),
            Upload(startItems), Upload(colItems.AsSpan(0, batch).ToArray()), Upload(startItems.AsSpan(0, batch).ToArray()),
            Upload(sessionStart).unsqueeze(1), Upload(userStart).unsqueeze(1), Upload(targetRows), Upload(startRows), targets, starts,
            Upload(outcomeTarget), Upload(outcomeMask), weight, positives, outcomes, Upload(outcomeBase),
            _parts.MovesOf(chunk, t, userStart), _model.HasUserMetadata ? Upload(UserRows(chunk, t, users)) : null);
    }

    /// <summary>Each slot's user index at step <paramref name="t"/> (0 for an idle slot, whose state is never read).</summary>
    internal static long[] UserRows(StepChunk chunk, int t, int[] users)
    {
        var rows = new long[chunk.Batch];
        for (int b = 0; b < rows.Length; b++)
            if (chunk.User[t * chunk.Batch + b] is var block and >= 0) rows[b] = users[block];
        return rows;
    }

    Tensor Upload(long[] values) => tensor(values).to(_device);
    Tensor Upload(float[] values) => tensor(values).to(_device);

    int SampleItem()
    {
        int i = Array.BinarySearch(_sampleCdf, _rng.NextDouble());
        if (i < 0) i = ~i;
        return Math.Clamp(i, 1, _sampleCdf.Length - 1);
    }

}
