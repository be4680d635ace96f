using HrnnPipeline.Features;

namespace HrnnPipeline.Evaluation.Baselines;

/// <summary>
/// Session-based kNN (Jannach and Ludewig 2017): the <see cref="Neighbours"/> training sessions most similar to the
/// current prefix, by cosine between item sets |A∩B|/sqrt(|A||B|); an item scores the summed similarity of the
/// neighbour sessions that contain it, ties by popularity. Overlaps are kept per training session and updated as
/// the prefix grows, so each step only walks the postings of the one new item.
/// </summary>
public sealed class SessionKnnRanker(int neighbours = 100) : ScoringRanker
{
    PopularityTieBreak? _popularity;
    SessionSets? _sets;

    public int Neighbours { get; } = neighbours > 0
        ? neighbours
        : throw new ArgumentOutOfRangeException(nameof(neighbours), neighbours, "neighbour count must be positive");

    public override string Name => "sknn";
    public override bool CanRankSessionStart => false;

    protected override void FitModel(SessionDataset train, int catalogueSize)
    {
        _popularity = new PopularityTieBreak(PopularityTieBreak.Count(train.Items, catalogueSize));
        _sets = SessionSets.Build(train, catalogueSize);
    }

    protected override PrefixScorer CreateScorer() => new KnnScorer(_sets!, _popularity!, Neighbours);

    readonly record struct Neighbour(double Similarity, int Session);

    sealed class KnnScorer(SessionSets sets, PopularityTieBreak popularity, int k) : PrefixScorer
    {
        readonly int[] _overlap = new int[sets.SessionCount];
        readonly List<int> _touchedSessions = [];
        readonly bool[] _inPrefix = new bool[popularity.Levels.Length];
        readonly List<int> _prefixSet = [];
        readonly double[] _weight = new double[popularity.Levels.Length];
        readonly List<int> _weighted = [];
        int _consumed;

        public override void BeginSession()
        {
            foreach (int s in _touchedSessions) _overlap[s] = 0;
            _touchedSessions.Clear();
            foreach (int item in _prefixSet) _inPrefix[item] = false;
            _prefixSet.Clear();
            _consumed = 0;
        }

        public override void Score(ReadOnlySpan<int> prefix, Span<float> scores)
        {
            popularity.Levels.CopyTo(scores);
            if (prefix.Length < _consumed) BeginSession(); // not the same session growing: start over
            for (; _consumed < prefix.Length; _consumed++)
            {
                int item = prefix[_consumed];
                if (_inPrefix[item]) continue; // sets: a repeated item changes no overlap
                _inPrefix[item] = true;
                _prefixSet.Add(item);
                foreach (int s in sets.SessionsWith(item))
                    if (_overlap[s]++ == 0) _touchedSessions.Add(s);
            }
            if (_prefixSet.Count == 0) return;

            var top = MostSimilar();
            // Sum in the order of similarity, as the reference does, so equal sums stay bit-equal.
            foreach (var neighbour in top)
                foreach (int item in sets.Set(neighbour.Session))
                {
                    if (_weight[item] == 0) _weighted.Add(item);
                    _weight[item] += neighbour.Similarity;
                }
            var candidates = new Candidate[_weighted.Count];
            for (int c = 0; c < candidates.Length; c++)
            {
                int item = _weighted[c];
                candidates[c] = new Candidate(item, _weight[item]);
                _weight[item] = 0;
            }
            _weighted.Clear();
            popularity.LiftInto(candidates, scores);
        }

        /// <summary>The k most similar sessions, most similar first; equal similarity: the later session first.</summary>
        Neighbour[] MostSimilar()
        {
            long prefixSize = _prefixSet.Count;
            // Min-heap of the best k: its root is the one a better session evicts.
            var heap = new PriorityQueue<Neighbour, Neighbour>(Comparer<Neighbour>.Create(Compare));
            foreach (int s in _touchedSessions)
            {
                var candidate = new Neighbour(_overlap[s] / Math.Sqrt(prefixSize * sets.SetSize(s)), s);
                if (heap.Count < k) heap.Enqueue(candidate, candidate);
                else if (Compare(candidate, heap.Peek()) > 0) heap.EnqueueDequeue(candidate, candidate);
            }
            var top = new Neighbour[heap.Count];
            for (int i = top.Length - 1; i >= 0; i--) top[i] = heap.Dequeue();
            return top;
        }

        static int Compare(Neighbour a, Neighbour b)
        {
            int c = a.Similarity.CompareTo(b.Similarity);
            return c != 0 ? c : a.Session.CompareTo(b.Session);
        }
    }
}
