using HrnnPipeline.Features;

namespace HrnnPipeline.Evaluation.Baselines;

/// <summary>
/// Training sessions as item sets (each item once per session) plus the inverted index item -> sessions, in
/// compressed sparse rows: two flat arrays each, whatever the catalogue size.
/// </summary>
public sealed class SessionSets
{
    SessionSets(int[] setStarts, int[] setItems, int[] postingStarts, int[] postings)
    {
        SetStarts = setStarts;
        SetItems = setItems;
        PostingStarts = postingStarts;
        Postings = postings;
    }

    /// <summary>Set of session s: SetItems[SetStarts[s]..SetStarts[s+1]).</summary>
    public int[] SetStarts { get; }
    public int[] SetItems { get; }
    /// <summary>Sessions containing item i, ascending: Postings[PostingStarts[i]..PostingStarts[i+1]).</summary>
    public int[] PostingStarts { get; }
    public int[] Postings { get; }

    public int SessionCount => SetStarts.Length - 1;
    public ReadOnlySpan<int> Set(int session) => SetItems.AsSpan(SetStarts[session], SetStarts[session + 1] - SetStarts[session]);
    public int SetSize(int session) => SetStarts[session + 1] - SetStarts[session];
    public ReadOnlySpan<int> SessionsWith(int item) =>
        Postings.AsSpan(PostingStarts[item], PostingStarts[item + 1] - PostingStarts[item]);
    /// <summary>Number of training sessions that contain the item.</summary>
    public int SessionFrequency(int item) => PostingStarts[item + 1] - PostingStarts[item];

    public static SessionSets Build(SessionDataset train, int catalogueSize)
    {
        var lastSeenIn = new int[catalogueSize + 1];
        Array.Fill(lastSeenIn, -1);
        var setStarts = new int[train.SessionCount + 1];
        var setItems = new List<int>(train.EventCount);
        var frequency = new int[catalogueSize + 2];
        for (int s = 0; s < train.SessionCount; s++)
        {
            setStarts[s] = setItems.Count;
            foreach (int item in train.SessionItems(s))
            {
                if (lastSeenIn[item] == s) continue;
                lastSeenIn[item] = s;
                setItems.Add(item);
                frequency[item + 1]++;
            }
        }
        setStarts[train.SessionCount] = setItems.Count;

        var postingStarts = frequency; // prefix sums turn counts into offsets
        for (int i = 1; i < postingStarts.Length; i++) postingStarts[i] += postingStarts[i - 1];
        var postings = new int[setItems.Count];
        var fill = postingStarts[..^1].ToArray();
        for (int s = 0; s < train.SessionCount; s++)
            for (int e = setStarts[s]; e < setStarts[s + 1]; e++)
                postings[fill[setItems[e]]++] = s;
        return new SessionSets(setStarts, [.. setItems], postingStarts, postings);
    }
}
