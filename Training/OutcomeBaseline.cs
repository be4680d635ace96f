using HrnnPipeline.Features;

namespace HrnnPipeline.Training;

/// <summary>
/// The regression head predicts how far the next value lies from the user's mean value so far: ratings carry a
/// user's own scale (some rate everything 4), which their clicks do not reveal, so the head starts from what their
/// history says and learns the item's and the context's part. Means are over the user's earlier events in the
/// dataset (in training, evaluation and scoring alike every event comes after the user's history), never the
/// predicted event itself; a user's first event starts from the mean over all events.
/// </summary>
public sealed class OutcomeBaseline
{
    readonly float[] _before;   // per event: the user's mean value over the events before it
    readonly float[] _all;      // per user block: the mean over all its events

    public OutcomeBaseline(SessionDataset data)
    {
        _before = new float[data.EventCount];
        _all = new float[data.UserCount];
        double total = 0;
        for (int e = 0; e < data.EventCount; e++) total += data.ValueOf(e);
        float global = data.EventCount == 0 ? 1f : (float)(total / data.EventCount);
        for (int u = 0; u < data.UserCount; u++)
        {
            int first = data.SessionStarts[data.UserStarts[u]], end = data.SessionStarts[data.UserStarts[u + 1]];
            double sum = 0;
            for (int e = first; e < end; e++)
            {
                _before[e] = e == first ? global : (float)(sum / (e - first));
                sum += data.ValueOf(e);
            }
            _all[u] = end > first ? (float)(sum / (end - first)) : global;
        }
    }

    /// <summary>The user's mean value over the events before event <paramref name="e"/>.</summary>
    public float Before(int e) => _before[e];

    /// <summary>The mean over all of user block <paramref name="block"/>'s events: the base of their next session.</summary>
    public float All(int block) => _all[block];
}
