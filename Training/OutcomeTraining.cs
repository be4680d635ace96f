using System.Globalization;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace HrnnPipeline.Training;

/// <summary>
/// What an event's outcome value means for each training mode (skrec's HRNN classifier and regressor modes). Every
/// event enters the session GRU as input whatever its value; the value decides what it is as a target:
/// <list type="bullet">
/// <item>positive: a positive next-item target of weight 1 (the behaviour before values existed);</item>
/// <item>binary: value &gt; 0 is a positive target, value 0 (a dislike, a skip) a negative one: no ranking loss
/// pulls it up, and the value head learns P(value &gt; 0) (binary cross-entropy);</item>
/// <item>soft: the value, in [0, 1], is the target's weight in the ranking loss (0: never a positive);</item>
/// <item>regression: value &gt; 0 is a positive target, and the value head predicts the value (MSE or Huber), as an
/// offset from the user's mean value so far (<see cref="OutcomeBaseline"/>).</item>
/// </list>
/// With EventWeights the positive targets' ranking weight is their value (a purchase of value 5 counts five views).
/// </summary>
public static class OutcomeTraining
{
    /// <summary>The ranking loss weight of a next-item target with this value (0: not a positive target).</summary>
    public static float RankingWeight(HrnnSettings s, float value) => s.Outcome switch
    {
        OutcomeKind.Positive => s.EventWeights ? Math.Max(value, 0f) : 1f,
        OutcomeKind.Soft => value,
        _ => value > 0 ? (s.EventWeights ? value : 1f) : 0f,
    };

    /// <summary>What the value head is trained towards: 1/0 for binary, the value for regression.</summary>
    public static float HeadTarget(HrnnSettings s, float value) =>
        s.Outcome == OutcomeKind.Binary ? (value > 0 ? 1f : 0f) : value;

    /// <summary>The value head's loss, the mean over rows where <paramref name="rows"/> is 1.</summary>
    public static Tensor HeadLoss(HrnnSettings s, Tensor raw, Tensor target, Tensor rows)
    {
        var perRow = s.Outcome == OutcomeKind.Binary
            ? F.binary_cross_entropy_with_logits(raw, target, reduction: nn.Reduction.None)
            : s.OutcomeLoss == OutcomeLossKind.Huber
                ? F.huber_loss(raw, target, reduction: nn.Reduction.None)
                : (raw - target).square();
        return (perRow * rows).sum() / rows.sum().clamp_min(Scalars.One);
    }

    /// <summary>Refuses values a mode cannot train on, naming the first offending value.</summary>
    public static void Check(HrnnSettings s, SessionDataset fit)
    {
        if (s.Outcome == OutcomeKind.Positive && !s.EventWeights) return;
        if (fit.Values is null)
            throw new PipelineException($"Training:Outcome {Name(s.Outcome)}{(s.EventWeights ? " with EventWeights" : "")}: " +
                "the prepared events have no values; give the log a value column or Features:EventTypeValues");
        for (int e = 0; e < fit.EventCount; e++)
        {
            float v = fit.Values[e];
            bool bad = s.Outcome == OutcomeKind.Soft ? v is < 0 or > 1 : v < 0 && s.Outcome != OutcomeKind.Regression;
            if (!bad && float.IsFinite(v)) continue;
            var why = s.Outcome == OutcomeKind.Soft ? "outside [0, 1] (soft labels: scale them, e.g. rating / 5)" : "below 0";
            throw new PipelineException(string.Create(CultureInfo.InvariantCulture,
                $"Training:Outcome {Name(s.Outcome)}: event {e} of the fit split has value {v}, {why}"));
        }
    }

    /// <summary>Regression predicts the value relative to the user's mean so far (<see cref="OutcomeBaseline"/>).</summary>
    public static bool UsesBaseline(HrnnSettings s) => s.Outcome == OutcomeKind.Regression;

    public static string Name(OutcomeKind kind) => kind.ToString().ToLowerInvariant();
}

/// <summary>What the train summary reports of the outcomes: per epoch the value head's loss, and for the last epoch
/// how many next-item targets were positive, how many negative (weight 0), and their mean ranking weight.</summary>
public sealed record OutcomeSummary(string Mode, bool EventWeights, long PositiveTargets, long NegativeTargets,
    double MeanPositiveWeight, double? HeadLoss);
