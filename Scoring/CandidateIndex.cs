using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Scoring;

/// <summary>
/// The approximate mode's cheaper product (<see cref="ScoringOptions.Approximate"/>): the item rows projected onto
/// their <paramref name="dimensions"/> principal directions (the top eigenvectors of O^T O; 0 = all of them) and
/// optionally held in bfloat16; a query is projected the same way, the bias stays whole. <see cref="TiledTopK"/> keeps
/// each user's best <paramref name="candidates"/> by these scores and rescores them exactly in float32.
/// </summary>
public sealed class CandidateIndex(int candidates, int dimensions = 0, bool bfloat16 = false) : IDisposable
{
    Tensor? _source, _projection;

    public int Candidates => candidates;
    public int Dimensions => dimensions;
    public bool BFloat16 => bfloat16;
    public ScalarType ScoreType => bfloat16 ? ScalarType.BFloat16 : ScalarType.Float32;
    /// <summary>[items, d] and [items] in <see cref="ScoreType"/>, once <see cref="Prepare"/> ran.</summary>
    public Tensor? Rows { get; private set; }
    public Tensor? Bias { get; private set; }

    /// <summary>Builds the index for these item rows (once per pass; again only for other rows).</summary>
    public void Prepare(HrnnModel.ItemRows items, int width)
    {
        if (_source is not null && ReferenceEquals(_source, items.Output)) return;
        DisposeIndex();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var output = items.Output.detach();
        long h = output.shape[1];
        Tensor rows = output;
        if (dimensions > 0 && dimensions < h)
        {
            var used = output.narrow(0, 0, width).to_type(ScalarType.Float64);
            var (_, vectors) = linalg.eigh(used.t().mm(used)); // ascending eigenvalues: the last columns lead
            _projection = vectors.narrow(1, h - dimensions, dimensions).to_type(output.dtype).contiguous();
            rows = output.mm(_projection);
            scope.MoveToOuter(_projection);
        }
        Rows = rows.to_type(ScoreType).contiguous();
        Bias = items.Bias.detach().to_type(ScoreType).contiguous();
        scope.MoveToOuter(Rows, Bias);
        foreach (var t in new[] { _projection, Rows, Bias }) t?.DetachFromDisposeScope();
        _source = items.Output;
    }

    /// <summary>Queries [n, H] in the index's space and type.</summary>
    public Tensor Queries(Tensor queries) => (_projection is null ? queries : queries.mm(_projection)).to_type(ScoreType);

    public override string ToString() =>
        $"{candidates} candidates from {(dimensions > 0 ? $"a {dimensions}-dimension projection" : "the full rows")}{(bfloat16 ? " in bfloat16" : "")}";

    void DisposeIndex()
    {
        _projection?.Dispose(); Rows?.Dispose(); Bias?.Dispose();
        _projection = Rows = Bias = null;
        _source = null;
    }

    public void Dispose() => DisposeIndex();
}
