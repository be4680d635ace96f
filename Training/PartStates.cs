using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>
/// The burn-in of split users (<see cref="HrnnSettings.BurnIn"/>): the states each part of a heavy user ended with
/// when it last ran, kept on the device, so the next part starts from them instead of from zero. A part usually runs
/// beside its predecessor in the same epoch, so what it reads is its predecessor's end from the previous epoch:
/// computed with slightly older weights, and without gradient, which is what a burn-in is.
/// </summary>
public sealed class PartStates : IDisposable
{
    readonly Tensor[] _session;   // per layer [parts, H]
    readonly Tensor? _user;       // [parts, U]
    readonly bool[] _ready;
    readonly Device _device;

    public PartStates(HrnnModel model, int parts, Device device)
    {
        _device = device;
        _ready = new bool[parts];
        var s = model.Settings;
        _session = parts == 0 ? [] : Enumerable.Range(0, s.SessionLayers).Select(_ => zeros(parts, s.SessionHidden, device: device)).ToArray();
        _user = parts == 0 || !s.HasUserGru ? null : zeros(parts, s.UserHidden, device: device);
    }

    /// <summary>Whether part boundary <paramref name="id"/> has end states stored.</summary>
    public bool Ready(int id) => _ready[id];

    /// <summary>One step's slots that take stored states (Restore) and slots whose states are stored after it (Keep).</summary>
    public sealed record Moves(Tensor? RestoreSlots, Tensor? RestoreIds, Tensor? KeepSlots, Tensor? KeepIds, int[] KeptIds);

    /// <summary>What step <paramref name="t"/> of <paramref name="chunk"/> restores and keeps; null when nothing
    /// (every step of an unsplit log). A slot restores only where it does not start fresh (<paramref name="userStart"/>).</summary>
    public Moves? MovesOf(StepChunk chunk, int t, float[] userStart)
    {
        if (_ready.Length == 0) return null;
        List<long>? restoreSlots = null, restoreIds = null, keepSlots = null, keepIds = null;
        for (int b = 0; b < chunk.Batch; b++)
        {
            int row = t * chunk.Batch + b;
            if (chunk.ContinueFrom[row] >= 0 && userStart[b] == 0)
            {
                (restoreSlots ??= []).Add(b);
                (restoreIds ??= []).Add(chunk.ContinueFrom[row]);
            }
            if (chunk.SaveAs[row] >= 0)
            {
                (keepSlots ??= []).Add(b);
                (keepIds ??= []).Add(chunk.SaveAs[row]);
            }
        }
        if (restoreSlots is null && keepSlots is null) return null;
        return new Moves(Upload(restoreSlots), Upload(restoreIds), Upload(keepSlots), Upload(keepIds),
            keepIds?.Select(i => (int)i).ToArray() ?? []);
    }

    Tensor? Upload(List<long>? values) => values is null ? null : tensor(values.ToArray()).to(_device);

    /// <summary>The state with the restoring slots' rows replaced by their stored states (out of place: the window's
    /// graph may hold the old state).</summary>
    public HrnnModel.State Restore(HrnnModel.State state, Moves moves)
    {
        if (moves.RestoreSlots is null) return state;
        var session = state.Session.Select((x, l) => x.index_copy(0, moves.RestoreSlots, _session[l].index_select(0, moves.RestoreIds!))).ToArray();
        var user = state.User is null ? null : state.User.index_copy(0, moves.RestoreSlots, _user!.index_select(0, moves.RestoreIds!));
        return new HrnnModel.State(session, user);
    }

    /// <summary>Stores the keeping slots' states after a step (detached: the next part gets no gradient through them).</summary>
    public void Keep(HrnnModel.State next, Moves moves)
    {
        if (moves.KeepSlots is null) return;
        using var _ = no_grad();
        for (int l = 0; l < _session.Length; l++) _session[l].index_copy_(0, moves.KeepIds!, next.Session[l].index_select(0, moves.KeepSlots));
        if (next.User is not null) _user!.index_copy_(0, moves.KeepIds!, next.User.index_select(0, moves.KeepSlots));
        foreach (int id in moves.KeptIds) _ready[id] = true;
    }

    /// <summary>For checkpoints, so a resumed run continues from the same stored states.</summary>
    public IEnumerable<(string Name, Tensor Value)> Tensors()
    {
        if (_ready.Length == 0) yield break;
        for (int l = 0; l < _session.Length; l++) yield return ($"parts.session.{l}", _session[l]);
        if (_user is not null) yield return ("parts.user", _user);
        yield return ("parts.ready", tensor(_ready.Select(r => r ? 1f : 0f).ToArray()));
    }

    public void Load(IReadOnlyDictionary<string, Tensor> saved)
    {
        if (_ready.Length == 0) return;
        using var _ = no_grad();
        for (int l = 0; l < _session.Length; l++) _session[l].copy_(saved[$"parts.session.{l}"]);
        _user?.copy_(saved["parts.user"]);
        var ready = saved["parts.ready"].cpu().data<float>().ToArray();
        for (int i = 0; i < _ready.Length; i++) _ready[i] = ready[i] > 0;
    }

    public void Dispose()
    {
        foreach (var t in _session) t.Dispose();
        _user?.Dispose();
    }
}
