using HrnnPipeline.Evaluation;

namespace HrnnPipeline.Tests.Evaluation;

public sealed class WilcoxonTests
{
    // Fisher's maize differences, scipy.stats.wilcoxon's documented example; the exact p-value is also what
    // enumerating all 2^15 sign patterns gives (676 of them have W <= 24).
    static readonly double[] Fisher = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75];

    [Fact]
    public void Exact_p_value_matches_scipy_on_Fishers_example()
    {
        var r = Wilcoxon.SignedRank(Fisher, new double[Fisher.Length]);
        Assert.True(r.Exact);
        Assert.Equal(24, r.Statistic);
        Assert.Equal(96, r.RankSumPositive);
        Assert.Equal(0.041259765625, r.PValue, 15);
    }

    [Fact]
    public void Swapping_the_samples_keeps_the_two_sided_p_value()
    {
        var zeros = new double[Fisher.Length];
        Assert.Equal(Wilcoxon.SignedRank(Fisher, zeros).PValue, Wilcoxon.SignedRank(zeros, Fisher).PValue, 15);
    }

    [Fact]
    public void Ties_and_zeros_use_the_tie_corrected_normal_approximation()
    {
        // Zero dropped; |d| = 1,1,2,2,3 -> ranks 1.5,1.5,3.5,3.5,5; W+ = 8.5, W- = 6.5;
        // variance (5*6*11 - 0.5*(6 + 6)) / 24 = 13.5; z = 1/sqrt(13.5); p = erfc(z/sqrt 2).
        double[] x = [1, -1, 2, 2, -3, 0];
        var r = Wilcoxon.SignedRank(x, new double[x.Length]);
        Assert.False(r.Exact);
        Assert.Equal(6, r.Pairs);
        Assert.Equal(5, r.NonZero);
        Assert.Equal(6.5, r.Statistic);
        Assert.Equal(0.2721655269759087, r.Z, 12);
        Assert.Equal(0.7854947471183542, r.PValue, 12);
    }

    [Fact]
    public void Large_samples_use_the_normal_approximation()
    {
        // d = 1..60 with every multiple of 3 negative: W+ = 1200, mean 915, variance 18452.5.
        var d = Enumerable.Range(1, 60).Select(i => i % 3 == 0 ? -(double)i : i).ToArray();
        var r = Wilcoxon.SignedRank(d, new double[d.Length]);
        Assert.False(r.Exact);
        Assert.Equal(1200, r.RankSumPositive);
        Assert.Equal(2.0980568554635552, r.Z, 12);
        Assert.Equal(0.03590012321587814, r.PValue, 12);
    }

    [Fact]
    public void Identical_samples_are_not_significant()
    {
        double[] x = [0.5, 0.25, 1];
        Assert.Equal(1.0, Wilcoxon.SignedRank(x, x).PValue);
    }

    [Theory]
    [InlineData(0.5, 0.4795001221869535)]
    [InlineData(1, 0.15729920705028513)]
    [InlineData(2, 0.004677734981047265)]
    [InlineData(3, 2.2090496998585438e-05)]
    [InlineData(4, 1.541725790028002e-08)]
    [InlineData(6, 2.1519736712498916e-17)]
    [InlineData(-1, 1.8427007929497148)]
    public void Erfc_matches_reference_values(double x, double expected) =>
        Assert.Equal(expected, Normal.Erfc(x), expected * 1e-10);
}
