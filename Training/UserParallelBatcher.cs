using HrnnPipeline.Features;

namespace HrnnPipeline.Training;

[Flags]
public enum StepFlags : byte
{
    None = 0,
    /// <summary>The slot holds a user this step.</summary>
    Active = 1,
    /// <summary>A session starts: update the user GRU with the last session state and re-initialise the session state.</summary>
    SessionStart = 2,
    /// <summary>A new user took the slot: both states reset to zero first.</summary>
    UserStart = 4,
    /// <summary>Read the slot's states after this step (the user's next-session state, for scoring).</summary>
    Capture = 8,
}

/// <summary>
/// A block of consecutive steps for all B slots, as flat [steps x batch] arrays (row = step * batch + slot), ready to
/// copy to the device in one transfer. <see cref="Target"/> 0 means no next-item target. Evaluation rows carry the
/// user block and the position (number of items of the session already seen) of the prediction they make.
/// </summary>
public sealed class StepChunk(int steps, int batch)
{
    public int Steps { get; internal set; } = steps;
    public int Batch { get; } = batch;
    public int[] Input { get; } = new int[steps * batch];
    public int[] Target { get; } = new int[steps * batch];
    public byte[] Flags { get; } = new byte[steps * batch];
    /// <summary>User block whose evaluation session this row belongs to, or -1.</summary>
    public int[] EvalUser { get; } = new int[steps * batch];
    /// <summary>Position t of the next-item prediction (items seen so far in the evaluated session).</summary>
    public int[] EvalPosition { get; } = new int[steps * batch];
    /// <summary>User block per row (for captures), -1 when inactive.</summary>
    public int[] User { get; } = new int[steps * batch];
    /// <summary>Index in the dataset's events of the row's input item; -1 for a capture row without one.</summary>
    public int[] Event { get; } = new int[steps * batch];
    /// <summary>Outcome value of the row's target event (1 for a plain click; 0 without a target).</summary>
    public float[] Outcome { get; } = new float[steps * batch];
    public int TargetCount { get; internal set; }
    /// <summary>Burn-in (training): at a later part's first row, the part whose stored end states the slot starts
    /// from (see <see cref="UserParallelBatcher.PartCount"/>); -1 elsewhere.</summary>
    public int[] ContinueFrom { get; } = new int[steps * batch];
    /// <summary>Burn-in: at a part's last row, the stored part its end states are kept as, for the part after it; -1 elsewhere.</summary>
    public int[] SaveAs { get; } = new int[steps * batch];
    /// <summary>For each slot, the previous chunk's slot it continues (the states to carry over): set when the batch
    /// narrowed to the slots still running; null when the slots are the previous chunk's.</summary>
    public int[]? KeptSlots { get; internal set; }
}

/// <summary>
/// User-parallel mini-batches (Quadrana et al. 2017 sec. 3.2.2): B slots each hold one user; every step feeds each
/// slot's current item and asks for the next. Sessions give n-1 steps (input i_k, target i_k+1), and for the models
/// with a user GRU one more that feeds i_n with no target, so the session's final state has seen all of it; the first step of a
/// session is flagged so the model updates the user GRU and re-initialises the session state; the first step of a
/// user resets both states. When a user runs out, the next user in <c>userOrder</c> takes the slot. Unlike the
/// reference code, an epoch does not stop when one slot can't be refilled: the remaining slots run to the end (the
/// tail), so no event is skipped.
/// </summary>
public sealed class UserParallelBatcher
{
    readonly SessionDataset _data;
    readonly ModelKind _mode;
    readonly int _batch;
    readonly bool[]? _evalSession;
    readonly bool _captureFinal;
    // What slots take in turn: a user block, the range of its sessions [First, End), and for split users the stored
    // states it starts from and the ones it leaves for the next part (-1: none).
    readonly (int User, int First, int End, int ContinueFrom, int SaveAs)[] _units;

    /// <summary>With burn-in: how many part boundaries there are (stored states, one per later part of a split
    /// user), numbered by user index and part so the numbering does not depend on the epoch's user order.</summary>
    public int PartCount { get; }

    /// <param name="evalSession">Per session: evaluate predictions in it (tags rows); null in training.</param>
    /// <param name="captureFinal">After each user's last session, one more row flagged Capture that computes the
    /// state the user's next session would start from.</param>
    /// <param name="maxSessionsPerSlot">Training only: a user with more sessions is split into consecutive parts of at
    /// most this many sessions, each starting from fresh states in its own slot (0 = never split). Without it one
    /// heavy user (a third of lastfm's events) is still running, alone in the batch, long after every other slot ran
    /// dry: the epoch lasts as long as that user and its last stretch trains on nothing else.</param>
    /// <param name="burnIn">A later part starts where its previous part left off (<see cref="StepChunk.ContinueFrom"/>,
    /// no user-start reset) instead of from fresh states; the trainer keeps the states between parts.</param>
    public UserParallelBatcher(SessionDataset data, ModelKind mode, int batchSize, int[] userOrder,
        bool[]? evalSession = null, bool captureFinal = false, int maxSessionsPerSlot = 0, bool burnIn = false)
    {
        _data = data;
        _mode = mode;
        _batch = batchSize;
        _evalSession = evalSession;
        _captureFinal = captureFinal;
        if (maxSessionsPerSlot > 0 && (evalSession is not null || captureFinal))
            throw new ArgumentException("users are split only in training: evaluation and scoring need whole histories");
        int PartsOf(int u)
        {
            int count = data.UserStarts[u + 1] - data.UserStarts[u];
            return maxSessionsPerSlot > 0 ? Math.Max(1, (count + maxSessionsPerSlot - 1) / maxSessionsPerSlot) : 1;
        }
        // Boundary b of user u is stored at boundaryBase[u] + b: by user index, the same in every epoch.
        var boundaryBase = new int[data.UserCount];
        int boundaries = 0;
        if (burnIn && mode != ModelKind.Rnn && mode != ModelKind.RnnConcat)
            for (int u = 0; u < data.UserCount; u++) { boundaryBase[u] = boundaries; boundaries += PartsOf(u) - 1; }
        PartCount = boundaries;
        var units = new List<(int, int, int, int, int)>(userOrder.Length);
        foreach (int u in userOrder)
        {
            int first = data.UserStarts[u], count = data.UserStarts[u + 1] - first, parts = PartsOf(u);
            bool carry = boundaries > 0 && parts > 1;
            for (int p = 0; p < parts; p++)
                units.Add((u, first + (int)((long)count * p / parts), first + (int)((long)count * (p + 1) / parts),
                    carry && p > 0 ? boundaryBase[u] + p - 1 : -1, carry && p < parts - 1 ? boundaryBase[u] + p : -1));
        }
        _units = units.ToArray();
    }

    /// <param name="Last">The part's last step (whose end states the next part continues from).</param>
    readonly record struct Step(int Input, int Target, StepFlags Flags, int EvalPosition, bool Evaluated, int Event, bool Last = false);

    /// <param name="narrowTail">Once no user is left to take a slot, drop the slots that ran dry between chunks
    /// (<see cref="StepChunk.KeptSlots"/>), so the tail, where a few heavy users still run, steps a narrow batch
    /// instead of a full one. Inference only: in training the batch shape feeds dropout's random draws.</param>
    public IEnumerable<StepChunk> Chunks(int stepsPerChunk, bool narrowTail = false)
    {
        var slots = new IEnumerator<Step>?[_batch];
        var slotUser = new int[_batch];
        var slotSave = new int[_batch];
        int nextUser = 0;
        while (true)
        {
            int[]? kept = null;
            if (narrowTail && nextUser >= _units.Length)
            {
                kept = Enumerable.Range(0, slots.Length).Where(b => slots[b] is not null).ToArray();
                if (kept.Length == 0 || kept.Length > slots.Length / 2) kept = null;
                else
                {
                    slots = kept.Select(b => slots[b]).ToArray();
                    slotUser = kept.Select(b => slotUser[b]).ToArray();
                }
            }
            int width = slots.Length;
            var chunk = new StepChunk(stepsPerChunk, width) { KeptSlots = kept };
            int t = 0;
            for (; t < stepsPerChunk; t++)
            {
                bool any = false;
                for (int b = 0; b < width; b++)
                {
                    int row = t * width + b;
                    chunk.EvalUser[row] = -1;
                    chunk.User[row] = -1;
                    chunk.Event[row] = -1;
                    chunk.ContinueFrom[row] = -1;
                    chunk.SaveAs[row] = -1;
                    // Refill: a slot whose user is done takes the next user that has at least one step.
                    int continueFrom = -1;
                    while (slots[b] is null || !slots[b]!.MoveNext())
                    {
                        slots[b]?.Dispose();
                        slots[b] = null;
                        if (nextUser >= _units.Length) break;
                        var unit = _units[nextUser++];
                        slotUser[b] = unit.User;
                        slotSave[b] = unit.SaveAs;
                        continueFrom = unit.ContinueFrom;
                        slots[b] = StepsOf(unit.First, unit.End, continueFrom < 0).GetEnumerator();
                    }
                    if (slots[b] is null) continue;
                    any = true;
                    var step = slots[b]!.Current;
                    chunk.ContinueFrom[row] = continueFrom;
                    if (step.Last) chunk.SaveAs[row] = slotSave[b];
                    chunk.Input[row] = step.Input;
                    chunk.Target[row] = step.Target;
                    chunk.Flags[row] = (byte)step.Flags;
                    chunk.User[row] = slotUser[b];
                    chunk.Event[row] = step.Event;
                    // Every step's target is the event after its input, in sessions and in joined (rnn-concat) histories.
                    chunk.Outcome[row] = step.Target != 0 ? _data.ValueOf(step.Event + 1) : 0f;
                    if (step.Target != 0) chunk.TargetCount++;
                    if (step.Evaluated)
                    {
                        chunk.EvalUser[row] = slotUser[b];
                        chunk.EvalPosition[row] = step.EvalPosition;
                    }
                }
                if (!any) break;
            }
            chunk.Steps = t;
            if (t > 0) yield return chunk;
            if (t < stepsPerChunk) yield break;
        }
    }

    /// <summary>Number of next-item targets in one pass (for progress and events/s).</summary>
    public long CountTargets()
    {
        long n = 0;
        foreach (var (_, first, end, _, _) in _units)
            foreach (var s in StepsOf(first, end, userStart: true))
                if (s.Target != 0) n++;
        return n;
    }

    /// <param name="userStart">The first session resets both states; false for a part that continues its previous
    /// part's states.</param>
    IEnumerable<Step> StepsOf(int first, int last, bool userStart)
    {
        if (_mode == ModelKind.RnnConcat)
        {
            foreach (var step in ConcatenatedSteps(first, last)) yield return step;
            yield break;
        }
        int lastSession = -1;
        int lastWithSteps = last - 1;
        while (lastWithSteps >= first && _data.SessionLength(lastWithSteps) < 2) lastWithSteps--;
        for (int s = first; s < last; s++)
        {
            bool evaluated = _evalSession?[s] ?? false;
            // A session-only model in evaluation needs no history: skip sessions it would reset anyway.
            if (_mode == ModelKind.Rnn && _evalSession is not null && !evaluated) continue;
            int begin = _data.SessionStarts[s], length = _data.SessionLength(s);
            if (length < 2) continue;
            var flags = StepFlags.Active | StepFlags.SessionStart | (userStart ? StepFlags.UserStart : 0);
            for (int k = 0; k < length - 1; k++)
            {
                yield return new Step(_data.Items[begin + k], _data.Items[begin + k + 1], flags, k + 1, evaluated, begin + k);
                flags = StepFlags.Active;
            }
            // The session's last item predicts nothing, but the user GRU reads the session's final state at the next
            // session start: without this step the user's most recent click would never reach c_u or s_0.
            if (_mode != ModelKind.Rnn)
                yield return new Step(_data.Items[begin + length - 1], 0, flags, length, false, begin + length - 1, s == lastWithSteps);
            userStart = false;
            lastSession = s;
        }
        if (_captureFinal && lastSession >= 0)
            yield return new Step(0, 0, StepFlags.Active | StepFlags.SessionStart | StepFlags.Capture, 0, false, -1);
    }

    /// <summary>rnn-concat: a user's sessions joined into one sequence; the step entering an evaluated session
    /// predicts its first item (position 0).</summary>
    IEnumerable<Step> ConcatenatedSteps(int first, int last)
    {
        int start = _data.SessionStarts[first], end = _data.SessionStarts[last];
        if (end - start < 1) yield break;
        var flags = StepFlags.Active | StepFlags.SessionStart | StepFlags.UserStart;
        int session = first;
        for (int e = start; e < end - 1; e++)
        {
            while (_data.SessionStarts[session + 1] <= e + 1) session++; // session of the target e+1
            bool evaluated = _evalSession?[session] ?? false;
            int position = e + 1 - _data.SessionStarts[session];
            yield return new Step(_data.Items[e], _data.Items[e + 1], flags, position, evaluated, e);
            flags = StepFlags.Active;
        }
        if (_captureFinal)
            yield return new Step(_data.Items[end - 1], 0, flags | StepFlags.Capture, 0, false, end - 1);
    }
}
