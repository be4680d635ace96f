using System.Globalization;
using System.Text;
using HrnnPipeline.Training;

namespace HrnnPipeline.AppHost.Pipeline;

/// <summary>The loss curve of a training run as CSV and as a PNG plot, next to the train summary. train_loss is the
/// next-item loss (what every model kind trains, so rnn and hrnn compare on it); start_loss is the session-start
/// objective's, empty for models without one.</summary>
static class LossCurve
{
    public static void Write(string directory, IReadOnlyList<EpochResult> epochs)
    {
        var csv = new StringBuilder("epoch,train_loss,start_loss,valid_loss,valid_recall,valid_mrr,seconds,events_per_second\n");
        foreach (var e in epochs)
            csv.AppendLine(string.Join(',', new object?[] { e.Epoch, e.Loss, e.StartLoss, e.ValidLoss, e.ValidRecall, e.ValidMrr, e.Seconds, e.EventsPerSecond }
                .Select(v => Convert.ToString(v, CultureInfo.InvariantCulture))));
        File.WriteAllText(Path.Combine(directory, "loss.csv"), csv.ToString());

        var plot = new ScottPlot.Plot();
        var x = epochs.Select(e => (double)e.Epoch).ToArray();
        var train = plot.Add.Scatter(x, epochs.Select(e => e.Loss).ToArray());
        train.LegendText = "training loss (next item)";
        if (epochs.All(e => e.StartLoss is not null))
        {
            var start = plot.Add.Scatter(x, epochs.Select(e => e.StartLoss!.Value).ToArray());
            start.LegendText = "session-start loss";
        }
        if (epochs.All(e => e.ValidLoss is not null))
        {
            var valid = plot.Add.Scatter(x, epochs.Select(e => e.ValidLoss!.Value).ToArray());
            valid.LegendText = "validation loss (full softmax)";
        }
        plot.XLabel("epoch");
        plot.YLabel("loss");
        plot.ShowLegend();
        plot.SavePng(Path.Combine(directory, "loss.png"), 800, 500);
    }
}
