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
    const double Beta1 = 0.9, Beta2 = 0.999;
    readonly HrnnSettings _s;
    readonly List<(string Name, Parameter Param, Tensor[] State)> _dense = [];
    readonly List<(string Name, Parameter Table, Tensor[] State)> _tables = [];
    readonly HashSet<string> _metadata;
    readonly Scalar _metadataRate = (float)HrnnModel.MetadataRateScale;
    long _step;
    readonly Scalar _negativeRate, _momentum, _epsilon, _adamEpsilon, _beta1, _beta2, _oneMinusBeta1, _oneMinusBeta2;
    readonly Tensor _beta1Tensor, _beta2Tensor, _negativeRateTensor;

    public RowSparseOptimizer(HrnnModel model, HrnnSettings settings)
    {
        _s = settings;
        _negativeRate = (float)-settings.LearningRate;
        // Constants of the per-row Adam correction, on the parameters' device once rather than copied every step.
        var device = model.parameters().First().device;
        _negativeRateTensor = tensor((float)-settings.LearningRate, device: device);
        _beta1Tensor = tensor((float)Beta1, device: device);
        _beta2Tensor = tensor((float)Beta2, device: device);
        _momentum = (float)settings.Momentum;
        _epsilon = (float)Epsilon;
        _adamEpsilon = 1e-8f;
        _beta1 = (float)Beta1; _beta2 = (float)Beta2; _oneMinusBeta1 = (float)(1 - Beta1); _oneMinusBeta2 = (float)(1 - Beta2);
        foreach (var (name, p) in model.DenseParameters()) _dense.Add((name, p, NewState(p)));
        _metadata = [.. model.MetadataParameterNames()];
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
        foreach (var (name, p, state) in _dense)
        {
            var grad = p.grad;
            if (grad is null) continue;
            var delta = Update(grad, state, _step);
            p.add_(delta, _metadata.Contains(name) ? _metadataRate : Scalars.One);
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
            table.index_add_(0, rows, delta, Scalars.One);
        }
    }

    /// <summary>Returns the parameter change for <paramref name="grad"/>, updating <paramref name="state"/> in place.
    /// <paramref name="step"/> 0 means per-row step counts (kept in the state). Every constant is a long-lived
    /// Scalar or tensor of this optimiser (see <see cref="Scalars"/>).</summary>
    Tensor Update(Tensor grad, Tensor[] state, long step)
    {
        if (_s.Optimizer == OptimizerKind.Adagrad)
        {
            state[0].addcmul_(grad, grad, Scalars.One);
            var scaled = grad / state[0].add(_epsilon, Scalars.One).sqrt();
            if (_s.Momentum <= 0) return scaled.mul_(_negativeRate);
            state[1].mul_(_momentum).add_(scaled, _negativeRate);
            return state[1].clone();
        }
        state[0].mul_(_beta1).add_(grad, _oneMinusBeta1);
        state[1].mul_(_beta2).addcmul_(grad, grad, _oneMinusBeta2);
        Tensor c1, c2;
        if (step > 0)
        {
            c1 = tensor(1 - Math.Pow(Beta1, step), device: grad.device, dtype: grad.dtype);
            c2 = tensor(1 - Math.Pow(Beta2, step), device: grad.device, dtype: grad.dtype);
        }
        else
        {
            // Per-row step counts for row-sparse tables (a [rows, 1] column, or the tensor itself for vectors).
            state[2].add_(ones_like(state[2]), Scalars.One);
            c1 = _beta1Tensor.pow(state[2]).OneMinus();
            c2 = _beta2Tensor.pow(state[2]).OneMinus();
        }
        return (state[0] / c1) / (state[1] / c2).sqrt().add(_adamEpsilon, Scalars.One) * _negativeRateTensor;
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
