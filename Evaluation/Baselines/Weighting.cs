namespace HrnnPipeline.Evaluation.Baselines;

/// <summary>
/// The decay functions of the session-rec framework (Ludewig and Jannach), shared by V-SKNN and SR. The formulas
/// are session-rec's as written, quirks included (linear reaches zero and then goes negative), so tuned settings
/// carry over.
/// </summary>
public enum Weighting { Same, Div, Linear, Quadratic, Log }

public static class Weightings
{
    /// <summary>
    /// Weight of the item at 1-based <paramref name="position"/> of a session of <paramref name="length"/> items
    /// (V-SKNN's similarity): later items weigh more.
    /// </summary>
    public static double InSession(Weighting weighting, int position, int length) => weighting switch
    {
        Weighting.Same => 1,
        Weighting.Div => (double)position / length,
        // session-rec tests the position, not the distance from the end: positions after the tenth weigh 0.
        Weighting.Linear => position <= 10 ? 1 - 0.1 * (length - position) : 0,
        Weighting.Quadratic => (double)position / length * ((double)position / length),
        Weighting.Log => 1 / Math.Log10(length - position + 1.7),
        _ => throw new ArgumentOutOfRangeException(nameof(weighting), weighting, null),
    };

    /// <summary>
    /// Weight of something <paramref name="distance"/> steps away (1 = adjacent): V-SKNN's score decay by how far
    /// back the last shared item sits, SR's rule weight by how far apart the two items were.
    /// </summary>
    public static double ByDistance(Weighting weighting, int distance) => weighting switch
    {
        Weighting.Same => 1,
        Weighting.Div => 1.0 / distance,
        Weighting.Linear => distance <= 100 ? 1 - 0.1 * distance : 0,
        Weighting.Quadratic => 1.0 / ((double)distance * distance),
        Weighting.Log => 1 / Math.Log10(distance + 1.7),
        _ => throw new ArgumentOutOfRangeException(nameof(weighting), weighting, null),
    };
}
