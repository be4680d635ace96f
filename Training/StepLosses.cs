using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>
/// The ranking losses of a training step, over the step's columns (the batch's own targets and the shared sampled
/// negatives): the next-item loss from the session state, and the session-start objective, which scores the first item
/// of a session that follows another from its initial state s_0 through the start head. The loss weights are
/// tensors, not Scalars (see <see cref="Scalars"/>: the hot path avoids temporary Scalars).
/// </summary>
sealed class StepLosses : IDisposable
{
    readonly HrnnSettings _s;
    readonly LogQCorrection? _logQ;
    readonly Tensor _bprReg;
    readonly Tensor _startWeight;

    public StepLosses(HrnnSettings settings, long[] itemCounts, Device device)
    {
        _s = settings;
        _bprReg = tensor((float)settings.BprReg).to(device);
        _startWeight = tensor((float)settings.SessionStartWeight).to(device);
        if (settings.LogQ > 0) _logQ = new LogQCorrection(itemCounts, settings.SampleAlpha, settings.LogQ, device);
    }

    /// <summary>The session-start objective is trained (and its loss logged) only for models with a start head.</summary>
    public bool TrainsStart(HrnnModel model) => model.HasStartHead && _s.SessionStartWeight > 0;

    public Tensor NextItem(Tensor output, Tensor outRows, Tensor outBias, StepData step) =>
        Loss(output, outRows, outBias, step.TargetColumns, step.ColumnItems, step.TargetItems, step.TargetRows);

    /// <summary>The start objective's loss (before its weight) and its weighted term of the step's objective.</summary>
    public (Tensor Loss, Tensor Weighted) Start(HrnnModel model, Tensor initial, Tensor outRows, Tensor outBias, StepData step)
    {
        // The start objective trains only the session-start head. It reads s_0 and the item output embeddings but
        // moves neither: letting it shape s_0 cost next-item accuracy on the early events of every session (the
        // user GRU served two masters), and letting it move the embeddings cost the next-item head the same way.
        var loss = Loss(model.StartQuery(initial.detach()), outRows.detach(), outBias.detach(), step.StartColumns,
            step.StartColumnItems, step.InputItems, step.StartRows);
        return (loss, loss * _startWeight);
    }

    Tensor Loss(Tensor query, Tensor outRows, Tensor outBias, Tensor columns, Tensor columnItems, Tensor rowItems, Tensor rowMask)
    {
        var scores = HrnnModel.Score(query, outRows.index_select(0, columns), outBias.index_select(0, columns));
        // A column is a negative for a row when it holds a real item other than the row's own target.
        var negatives = columnItems.ne(Scalars.IntZero).unsqueeze(0).logical_and(columnItems.unsqueeze(0).ne(rowItems.unsqueeze(1)));
        var logQ = _logQ?.For(columnItems, (int)rowItems.shape[0]);
        return Losses.Compute(_s.Loss, scores, negatives, rowMask, _bprReg, logQ);
    }

    public void Dispose()
    {
        _logQ?.Dispose();
        _bprReg.Dispose();
        _startWeight.Dispose();
    }
}
