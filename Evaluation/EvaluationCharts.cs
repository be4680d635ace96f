using ScottPlot;

namespace HrnnPipeline.Evaluation;

/// <summary>The report's PNG charts (ScottPlot 5): grouped bars, one group per model, error bars = std over seeds.</summary>
public static class EvaluationCharts
{
    const int Width = 1000, Height = 520;

    /// <summary>Recall@k and MRR@k of every model.</summary>
    public static void WriteMetrics(string path, EvaluationReport report)
    {
        var series = report.Options.Ks.SelectMany(k => new[] { Metrics.Recall(k), Metrics.Mrr(k) }).ToList();
        var groups = report.Results.Select(r => (r.Model, r.Metrics)).ToList();
        Save(path, GroupedBars("Next-item accuracy per model", groups, series), Width, Height);
    }

    /// <summary>Recall and MRR at the largest k of every model, one series per bucket.</summary>
    public static void WriteBreakdown(string path, Breakdown breakdown, EvaluationOptions options)
    {
        int k = options.TopK;
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var models = breakdown.Buckets.SelectMany(b => b.Models.Select(m => m.Model)).Distinct().ToList();
        var metrics = new[] { Metrics.Recall(k), Metrics.Mrr(k) };
        int seriesCount = breakdown.Buckets.Count * metrics.Length;
        var bars = new List<Bar>();
        for (int m = 0; m < metrics.Length; m++)
            for (int b = 0; b < breakdown.Buckets.Count; b++)
            {
                var (bucket, cells) = breakdown.Buckets[b];
                int s = m * breakdown.Buckets.Count + b;
                var color = palette.GetColor(s);
                plot.Legend.ManualItems.Add(new LegendItem { LabelText = $"{metrics[m]} ({bucket})", FillColor = color });
                foreach (var cell in cells)
                {
                    int g = models.IndexOf(cell.Model);
                    bars.Add(Bar(g * (seriesCount + 1) + s, cell.Metrics, metrics[m], color));
                }
            }
        Finish(plot, bars, models, seriesCount, $"By {breakdown.Name.Replace('_', ' ')}");
        Save(path, plot, Width, Height);
    }

    static Plot GroupedBars(string title, List<(string Model, IReadOnlyDictionary<string, double> Metrics)> groups,
        List<string> series)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var bars = new List<Bar>();
        for (int s = 0; s < series.Count; s++)
        {
            var color = palette.GetColor(s);
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[s], FillColor = color });
            for (int g = 0; g < groups.Count; g++)
                bars.Add(Bar(g * (series.Count + 1) + s, groups[g].Metrics, series[s], color));
        }
        Finish(plot, bars, groups.Select(g => g.Model).ToList(), series.Count, title);
        return plot;
    }

    static Bar Bar(double position, IReadOnlyDictionary<string, double> metrics, string key, Color color) => new()
    {
        Position = position,
        Value = metrics.GetValueOrDefault(key),
        Error = metrics.GetValueOrDefault(key + Metrics.StdSuffix),
        FillColor = color,
    };

    static void Finish(Plot plot, List<Bar> bars, List<string> models, int seriesCount, string title)
    {
        plot.Add.Bars(bars);
        var ticks = models.Select((_, g) => g * (seriesCount + 1) + (seriesCount - 1) / 2.0).ToArray();
        plot.Axes.Bottom.SetTicks(ticks, [.. models]);
        plot.Axes.Margins(bottom: 0);
        plot.Axes.SetLimitsY(0, Math.Max(1e-9, bars.Count == 0 ? 1 : bars.Max(b => b.Value + b.Error)) * 1.15);
        plot.Title(title);
        plot.ShowLegend(Edge.Right); // beside the data, never over a bar
    }

    static void Save(string path, Plot plot, int width, int height)
    {
        var tmp = path + ".tmp";
        File.WriteAllBytes(tmp, plot.GetImageBytes(width, height, ImageFormat.Png));
        File.Move(tmp, path, overwrite: true);
    }
}
