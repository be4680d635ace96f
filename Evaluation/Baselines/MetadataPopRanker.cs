using HrnnPipeline.Features;
using HrnnPipeline.Training;

namespace HrnnPipeline.Evaluation.Baselines;

/// <summary>
/// META-POP, the cold-start baseline: the most popular items of the categories the user prefers. A category is a
/// categorical metadata value ("genre=drama"); the user's preference for it is its share of the user's training events
/// plus its share of the current session so far; an item scores the mean preference over its own values, ties (and
/// items of no preferred category) by training popularity. A cold item (no training event) thus ranks right after the
/// warm items of its categories, and before every item of a category the user never played.
/// </summary>
public sealed class MetadataPopRanker(MetadataSource.Table items) : ScoringRanker
{
    PopularityTieBreak? _popularity;
    int[][] _keysOf = [];
    int _keyCount;

    public const string ModelName = "meta-pop";
    public override string Name => ModelName;
    public override bool CanRankSessionStart => true;

    protected override void FitModel(SessionDataset train, int catalogueSize)
    {
        _popularity = new PopularityTieBreak(PopularityTieBreak.Count(train.Items, catalogueSize));
        var keyIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var ids = Catalogue!.Ids;
        _keysOf = new int[catalogueSize + 1][];
        _keysOf[0] = [];
        for (int i = 1; i <= catalogueSize; i++)
            _keysOf[i] = items.CategoricalKeys(ids[i]).Select(k => keyIndex.TryGetValue(k, out var x) ? x : keyIndex[k] = keyIndex.Count)
                .Distinct().ToArray();
        _keyCount = keyIndex.Count;
    }

    protected override PrefixScorer CreateScorer() => new CategoryScorer(this);

    sealed class CategoryScorer(MetadataPopRanker ranker) : PrefixScorer
    {
        readonly double[] _user = new double[ranker._keyCount];
        readonly double[] _preference = new double[ranker._keyCount];
        readonly List<Candidate> _candidates = [];

        public override void BeginUser(SessionDataset history, int block)
        {
            Array.Clear(_user);
            if (block < 0) return;
            int first = history.SessionStarts[history.UserStarts[block]], end = history.SessionStarts[history.UserStarts[block + 1]];
            Shares(history.Items.AsSpan(first, end - first), _user);
        }

        /// <summary>Adds each category's share of <paramref name="events"/> (an item's values split its event).</summary>
        void Shares(ReadOnlySpan<int> events, double[] into)
        {
            if (events.Length == 0) return;
            foreach (int item in events)
            {
                if ((uint)item >= (uint)ranker._keysOf.Length) continue;
                var keys = ranker._keysOf[item];
                foreach (int k in keys) into[k] += 1.0 / keys.Length / events.Length;
            }
        }

        public override void Score(ReadOnlySpan<int> prefix, Span<float> scores)
        {
            _user.CopyTo(_preference, 0);
            Shares(prefix, _preference);
            _candidates.Clear();
            var keysOf = ranker._keysOf;
            for (int i = 1; i < keysOf.Length; i++)
            {
                var keys = keysOf[i];
                if (keys.Length == 0) continue;
                double sum = 0;
                foreach (int k in keys) sum += _preference[k];
                if (sum > 0) _candidates.Add(new Candidate(i, sum / keys.Length));
            }
            ranker._popularity!.RankInto(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_candidates), scores);
        }
    }
}
