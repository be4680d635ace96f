using TorchSharp;
using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>
/// Arithmetic that never hands libtorch a temporary <see cref="Scalar"/>. TorchSharp 0.107's operators build one for
/// every <c>a + b</c> (its alpha), <c>1 - x</c> or <c>x * 0.5</c> and drop it at once; in Release builds the GC may
/// finalize it while libtorch is still reading it, which surfaced as "Expected false to be true ... Scalar::toFloat"
/// a few epochs into training. The hot paths use these helpers and scalars that live as long as their owner.
/// </summary>
public static class Scalars
{
    public static readonly Scalar One = 1.0f;
    public static readonly Scalar NegativeLarge = -1e9f;
    public static readonly Scalar NegativeInfinity = float.NegativeInfinity;
    public static readonly Scalar Tiny = 1e-24f;
    public static readonly Scalar IntZero = 0;
    /// <summary>The alpha of integer tensors' add (a float alpha is refused there).</summary>
    public static readonly Scalar IntOne = 1;

    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);
    public static Tensor Minus(this Tensor a, Tensor b) => a.sub(b); // no Scalar involved
    /// <summary>1 - a.</summary>
    public static Tensor OneMinus(this Tensor a) => ones_like(a).sub_(a);
    public static Tensor PlusScalar(this Tensor a, Scalar s) => a.add(s, One);
}
