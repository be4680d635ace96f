using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>
/// Adagrad with momentum (the paper's optimiser) and Adam, for dense parameters and for item tables updated only in
/// the rows a step touched. With hundreds of thousands of items, updating every row of every table each step costs
/// more than the rest of the step; here a step costs O(rows touched). Row state (accumulators, moments, step counts)
/// is kept per row, so a row's update does not depend on steps that did not touch it ("lazy" Adam).
/// </summary>
public sealed class RowSparseOptimizer : IDisposable
{
    const double Epsilon = 1e-6;
    readonly HrnnSettings _s;
    readonly List<(string Name, Parameter Param, Tensor[] State)> _dense = [];
    readonly List<(string Name, Parameter Table, Tensor[] State)> _tables = [];
    long _step;

    public RowSparseOptimizer(HrnnModel model, HrnnSettings settings)
    {
        _s = settings;
        foreach (var (name, p) in model.DenseParameters()) _dense.Add((name, p, NewState(p)));
        foreach (var (name, p) in model.ItemTables()) _tables.Add((name, p, NewState(p)));
    }

    // Adagrad: [accumulator, velocity]; Adam: [first moment, second moment, step count].
    Tensor[] NewState(Parameter p) => _s.Optimizer == OptimizerKind.Adagrad
        ? [zeros_like(p), zeros_like(p)]
        : [zeros_like(p), zeros_like(p), p.dim() == 2 ? zeros(p.shape[0], 1, device: p.device) : zeros_like(p)];

    public long StepCount => _step;

    /// <summary>Applies one update: dense parameters from their gradients; each item table <c>t</c> at rows
    /// <paramref name="rows"/> from <paramref name="rowGrads"/>[t] (same order as <see cref="HrnnModel.ItemTables"/>).</summary>
    public void Step(Tensor rows, IReadOnlyList<Tensor?> rowGrads)
    {
        _step++;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var (_, p, state) in _dense)
        {
            var grad = p.grad;
            if (grad is null) continue;
            var delta = Update(grad, state, _step);
            p.add_(delta);
            grad.zero_();
        }
        for (int t = 0; t < _tables.Count; t++)
        {
            var grad = rowGrads[t];
            if (grad is null) continue;
            var (_, table, state) = _tables[t];
            var rowState = state.Select(s => s.index_select(0, rows)).ToArray();
            var delta = Update(grad, rowState, step: 0);
            for (int i = 0; i < state.Length; i++) state[i].index_copy_(0, rows, rowState[i]);
            table.index_add_(0, rows, delta, 1);
        }
    }

    /// <summary>Returns the parameter change for <paramref name="grad"/>, updating <paramref name="state"/> in place.
    /// <paramref name="step"/> 0 means per-row step counts (kept in the state).</summary>
    Tensor Update(Tensor grad, Tensor[] state, long step)
    {
        float lr = (float)_s.LearningRate;
        if (_s.Optimizer == OptimizerKind.Adagrad)
        {
            state[0].addcmul_(grad, grad, 1);
            var scaled = grad / (state[0] + Epsilon).sqrt();
            if (_s.Momentum <= 0) return scaled.mul_(-lr);
            state[1].mul_((float)_s.Momentum).add_(scaled, -lr);
            return state[1].clone();
        }
        const float beta1 = 0.9f, beta2 = 0.999f;
        state[0].mul_(beta1).add_(grad, 1 - beta1);
        state[1].mul_(beta2).addcmul_(grad, grad, 1 - beta2);
        Tensor c1, c2;
        if (step > 0)
        {
            c1 = tensor(1 - Math.Pow(beta1, step), device: grad.device, dtype: grad.dtype);
            c2 = tensor(1 - Math.Pow(beta2, step), device: grad.device, dtype: grad.dtype);
        }
        else
        {
            // Per-row step counts for row-sparse tables (a [rows, 1] column, or the tensor itself for vectors).
            state[2].add_(1);
            c1 = 1 - pow(beta1, state[2]);
            c2 = 1 - pow(beta2, state[2]);
        }
        return (state[0] / c1) / ((state[1] / c2).sqrt() + 1e-8) * -lr;
    }

    /// <summary>Named state tensors for checkpoints.</summary>
    public IEnumerable<(string Name, Tensor Value)> State()
    {
        foreach (var (name, _, state) in _dense.Concat(_tables.Select(t => (t.Name, (Parameter)t.Table, t.State))))
            for (int i = 0; i < state.Length; i++) yield return ($"opt.{name}.{i}", state[i]);
        yield return ("opt.step", tensor(_step));
    }

    public void LoadState(IReadOnlyDictionary<string, Tensor> saved)
    {
        using var _ = no_grad();
        foreach (var (name, _, state) in _dense.Concat(_tables.Select(t => (t.Name, (Parameter)t.Table, t.State))))
            for (int i = 0; i < state.Length; i++)
                state[i].copy_(saved[$"opt.{name}.{i}"]);
        _step = saved["opt.step"].item<long>();
    }

    public void Dispose()
    {
        foreach (var (_, _, state) in _dense.Concat(_tables.Select(t => (t.Name, (Parameter)t.Table, t.State))))
            foreach (var s in state) s.Dispose();
    }
}
