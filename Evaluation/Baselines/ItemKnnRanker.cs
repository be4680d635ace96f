using HrnnPipeline.Features;

namespace HrnnPipeline.Evaluation.Baselines;

/// <summary>
/// Item-KNN (Hidasi et al. 2016, the paper's baseline): items similar to the last item of the prefix, by cosine on
/// session co-occurrence co(a,b)/sqrt(sessions(a) * sessions(b)), each session counted once. Only the
/// <see cref="Neighbours"/> most similar items score; everything else (and ties) falls back to popularity.
/// Neighbourhoods are computed on first use from the inverted index, so a 380k-item catalogue never holds a
/// dense co-occurrence matrix, only the neighbourhoods of items that end some test prefix.
/// </summary>
public sealed class ItemKnnRanker(int neighbours = 300) : ScoringRanker
{
    PopularityTieBreak? _popularity;
    SessionSets? _sets;
    Neighbourhood?[] _cache = [];

    public int Neighbours { get; } = neighbours > 0
        ? neighbours
        : throw new ArgumentOutOfRangeException(nameof(neighbours), neighbours, "neighbourhood size must be positive");

    public override string Name => "item-knn";
    public override bool CanRankSessionStart => false;

    protected override void FitModel(SessionDataset train, int catalogueSize)
    {
        _popularity = new PopularityTieBreak(PopularityTieBreak.Count(train.Items, catalogueSize));
        _sets = SessionSets.Build(train, catalogueSize);
        _cache = new Neighbourhood?[catalogueSize + 1];
    }

    protected override PrefixScorer CreateScorer() => new KnnScorer(this);

    /// <summary>Neighbours of one item with their lifted scores (see <see cref="PopularityTieBreak"/>).</summary>
    sealed record Neighbourhood(int[] Items, float[] Scores);

    Neighbourhood NeighbourhoodOf(int item, int[] cooccurrence, List<int> touched)
    {
        var cached = Volatile.Read(ref _cache[item]);
        if (cached is not null) return cached;
        var sets = _sets!;
        touched.Clear();
        foreach (int session in sets.SessionsWith(item))
            foreach (int other in sets.Set(session))
            {
                if (other == item) continue;
                if (cooccurrence[other]++ == 0) touched.Add(other);
            }
        double frequency = sets.SessionFrequency(item);
        var popularity = _popularity!.Popularity;
        var candidates = new Candidate[touched.Count];
        for (int c = 0; c < candidates.Length; c++)
        {
            int other = touched[c];
            candidates[c] = new Candidate(other,
                cooccurrence[other] / Math.Sqrt(frequency * sets.SessionFrequency(other)));
            cooccurrence[other] = 0;
        }
        if (candidates.Length > Neighbours)
        {
            // Keep the most similar (more popular on equal similarity); the order within is fixed by Lift below.
            Array.Sort(candidates, (a, b) =>
            {
                int s = b.Primary.CompareTo(a.Primary);
                return s != 0 ? s : popularity[b.Item].CompareTo(popularity[a.Item]);
            });
            candidates = candidates[..Neighbours];
        }
        var lifted = new float[candidates.Length];
        _popularity.Lift(candidates, lifted);
        var neighbourhood = new Neighbourhood(candidates.Select(c => c.Item).ToArray(), lifted);
        // Two workers may compute the same item at once; both results are equal, either may win.
        Volatile.Write(ref _cache[item], neighbourhood);
        return neighbourhood;
    }

    sealed class KnnScorer(ItemKnnRanker model) : PrefixScorer
    {
        readonly int[] _cooccurrence = new int[model._popularity!.Levels.Length];
        readonly List<int> _touched = [];

        public override void Score(ReadOnlySpan<int> prefix, Span<float> scores)
        {
            model._popularity!.Levels.CopyTo(scores);
            if (prefix.IsEmpty) return;
            var neighbourhood = model.NeighbourhoodOf(prefix[^1], _cooccurrence, _touched);
            for (int n = 0; n < neighbourhood.Items.Length; n++)
                scores[neighbourhood.Items[n]] = neighbourhood.Scores[n];
        }
    }
}
