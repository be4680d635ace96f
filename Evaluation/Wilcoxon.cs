namespace HrnnPipeline.Evaluation;

/// <summary>Outcome of a two-sided Wilcoxon signed-rank test on paired differences x - y.</summary>
/// <param name="Pairs">Pairs given.</param>
/// <param name="NonZero">Pairs with a non-zero difference (the ones ranked).</param>
/// <param name="RankSumPositive">W+: sum of the ranks of positive differences.</param>
/// <param name="Statistic">min(W+, W-), the two-sided statistic scipy reports.</param>
/// <param name="Z">Normal-approximation z of W+ (0 when the exact distribution was used).</param>
/// <param name="PValue">Two-sided p-value.</param>
/// <param name="Exact">Whether the p-value comes from the exact null distribution.</param>
public readonly record struct WilcoxonResult(
    int Pairs, int NonZero, double RankSumPositive, double Statistic, double Z, double PValue, bool Exact);

/// <summary>
/// Wilcoxon signed-rank test, as scipy.stats.wilcoxon with its defaults: zero differences dropped ("wilcox"),
/// tied |differences| share their average rank, no continuity correction. The exact distribution is used for at
/// most <see cref="ExactLimit"/> non-zero differences without ties; otherwise the normal approximation with the
/// tie-corrected variance.
/// </summary>
public static class Wilcoxon
{
    public const int ExactLimit = 50;

    public static WilcoxonResult SignedRank(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        if (x.Length != y.Length)
            throw new ArgumentException($"paired samples differ in length ({x.Length} vs {y.Length})");
        var d = new List<double>(x.Length);
        for (int i = 0; i < x.Length; i++)
        {
            double diff = x[i] - y[i];
            if (diff != 0 && !double.IsNaN(diff)) d.Add(diff);
        }
        int n = d.Count;
        if (n == 0) return new WilcoxonResult(x.Length, 0, 0, 0, 0, 1.0, Exact: true);

        var order = Enumerable.Range(0, n).OrderBy(i => Math.Abs(d[i])).ToArray();
        double wPlus = 0, tieTerm = 0;
        bool ties = false;
        for (int start = 0; start < n;)
        {
            int end = start + 1;
            double magnitude = Math.Abs(d[order[start]]);
            while (end < n && Math.Abs(d[order[end]]) == magnitude) end++;
            int t = end - start;
            double averageRank = (start + 1 + end) / 2.0; // ranks start+1..end
            for (int j = start; j < end; j++)
                if (d[order[j]] > 0) wPlus += averageRank;
            if (t > 1) { ties = true; tieTerm += (double)t * t * t - t; }
            start = end;
        }
        double total = n * (n + 1) / 2.0;
        double statistic = Math.Min(wPlus, total - wPlus);

        if (n <= ExactLimit && !ties)
            return new WilcoxonResult(x.Length, n, wPlus, statistic, 0, ExactTwoSided(n, (int)statistic), Exact: true);

        double mean = n * (n + 1) / 4.0;
        double variance = (n * (n + 1.0) * (2 * n + 1) - 0.5 * tieTerm) / 24.0;
        double z = variance > 0 ? (wPlus - mean) / Math.Sqrt(variance) : 0;
        double p = Math.Min(1.0, Normal.UpperTail(Math.Abs(z)) * 2);
        return new WilcoxonResult(x.Length, n, wPlus, statistic, z, p, Exact: false);
    }

    /// <summary>P(W &lt;= w) * 2 under H0, where W is the sum of a uniformly random subset of ranks 1..n.</summary>
    static double ExactTwoSided(int n, int w)
    {
        int max = n * (n + 1) / 2;
        // ways[s] = number of subsets of 1..r with sum s; 2^50 subsets still fit a long exactly.
        var ways = new long[max + 1];
        ways[0] = 1;
        for (int r = 1; r <= n; r++)
            for (int s = max; s >= r; s--)
                ways[s] += ways[s - r];
        long below = 0;
        for (int s = 0; s <= w; s++) below += ways[s];
        return Math.Min(1.0, 2.0 * below / Math.Pow(2, n));
    }
}

/// <summary>The standard normal tail, accurate to double precision far into the tail (no Math.Erf in .NET).</summary>
public static class Normal
{
    /// <summary>P(Z &gt; z) for a standard normal Z.</summary>
    public static double UpperTail(double z) => 0.5 * Erfc(z / Math.Sqrt(2));

    public static double Erfc(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        if (x < 0) return 2 - Erfc(-x);
        if (x < 3)
        {
            // erf(x) = 2/sqrt(pi) e^{-x^2} sum 2^k x^{2k+1} / (1*3*...*(2k+1)): all terms positive, no cancellation.
            double term = x, sum = x, x2 = x * x;
            for (int k = 1; k < 200 && term > sum * 1e-17; k++)
            {
                term *= 2 * x2 / (2 * k + 1);
                sum += term;
            }
            return 1 - 2 / Math.Sqrt(Math.PI) * Math.Exp(-x2) * sum;
        }
        // Continued fraction erfc(x) = e^{-x^2}/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))),
        // evaluated backwards; it converges quickly for x >= 3.
        double fraction = x;
        for (int k = 60; k >= 1; k--)
            fraction = x + k / 2.0 / fraction;
        return Math.Exp(-x * x) / Math.Sqrt(Math.PI) / fraction;
    }
}
