using System.Runtime.InteropServices;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Evaluation.Baselines;

/// <summary>
/// V-SKNN settings, named as in session-rec (knn/vsknn.py; the user extensions E, B and R from knn/uvsknn.py).
/// The defaults are session-rec's tuned lastfm V-SKNN_EBR; <see cref="BaselineRankers"/> has the other presets.
/// </summary>
public sealed record VsknnOptions
{
    /// <summary>k: how many of the most similar candidate sessions score.</summary>
    public int Neighbours { get; init; } = 50;
    /// <summary>sample_size: candidates are the this-many most recent sessions that share an item (0 = all of them).</summary>
    public int SampleSize { get; init; } = 500;
    /// <summary>weighting: weight of a current-session item by its position (later weighs more).</summary>
    public Weighting Weighting { get; init; } = Weighting.Quadratic;
    /// <summary>weighting_score: decay of a neighbour's items by how far back the last item it shares sits.</summary>
    public Weighting ScoreWeighting { get; init; } = Weighting.Quadratic;
    /// <summary>idf_weighting: a neighbour gives an item similarity * (1 + idf * this); 0 = off.</summary>
    public double IdfWeighting { get; init; } = 1;
    /// <summary>E, extend_session_length: while the session is shorter, the user's last training items are
    /// prepended for finding and scoring neighbours; 0 = off.</summary>
    public int ExtendSessionLength { get; init; } = 3;
    /// <summary>B, boost_own_sessions: neighbours from the user's own training sessions get similarity * (1 + this); 0 = off.</summary>
    public double BoostOwnSessions { get; init; } = 2.5;
    /// <summary>R: hybrid reminders; null = off.</summary>
    public ReminderOptions? Reminders { get; init; } = new();
    /// <summary>
    /// Ranks the last item of the prefix below every other item. session-rec leaves it in the list, where it is
    /// nearly always first (every neighbour shares it); on splits without consecutive repeats that slot is wasted.
    /// </summary>
    public bool ExcludeCurrentItem { get; init; }

    public void Validate(string model)
    {
        if (Neighbours < 1) throw new PipelineException($"{model}: neighbours (k) {Neighbours} must be >= 1");
        if (SampleSize < 0) throw new PipelineException($"{model}: sample size {SampleSize} must be >= 0 (0 = every candidate)");
        if (!Enum.IsDefined(Weighting)) throw new PipelineException($"{model}: unknown weighting {Weighting}");
        if (!Enum.IsDefined(ScoreWeighting)) throw new PipelineException($"{model}: unknown score weighting {ScoreWeighting}");
        if (!double.IsFinite(IdfWeighting) || IdfWeighting < 0)
            throw new PipelineException($"{model}: idf weighting {IdfWeighting} must be a finite number >= 0");
        if (ExtendSessionLength < 0)
            throw new PipelineException($"{model}: extend session length {ExtendSessionLength} must be >= 0 (0 = off)");
        if (!double.IsFinite(BoostOwnSessions) || BoostOwnSessions < 0)
            throw new PipelineException($"{model}: boost own sessions {BoostOwnSessions} must be a finite number >= 0 (0 = off)");
        Reminders?.Validate(model);
    }
}

/// <summary>
/// V-SKNN (Ludewig and Jannach 2018) with the session-aware extensions of Latifi, Mauro and Jannach 2021, as
/// session-rec defines them. Candidates are the <see cref="VsknnOptions.SampleSize"/> most recent training sessions
/// (by their last event) that contain an item of the current session; a candidate's similarity is the sum of the
/// position weights of the items it shares, divided by the number of distinct current items; the
/// <see cref="VsknnOptions.Neighbours"/> most similar give each of their items similarity * decay * (1 + idf term),
/// and the scores are divided by their maximum. Items without a score rank below by popularity.
/// Postings are kept most recent first, so the sample is a merge that stops after sample-size sessions.
/// </summary>
public sealed class VsknnRanker : ScoringRanker
{
    PopularityTieBreak? _popularity;
    SessionSets? _sets;
    /// <summary>Sessions containing item i, most recent first: RecentPostings[RecentStarts[i]..RecentStarts[i+1]).</summary>
    int[] _recentStarts = [];
    int[] _recentPostings = [];
    /// <summary>0 = the most recent training session (latest last event; later in the data on equal times).</summary>
    int[] _recencyRank = [];
    int[] _owner = [];
    double[] _idf = [];

    public VsknnRanker(string name, VsknnOptions options)
    {
        options.Validate(name);
        Name = name;
        Options = options;
    }

    public override string Name { get; }
    public VsknnOptions Options { get; }
    public override bool CanRankSessionStart => false;

    protected override void FitModel(SessionDataset train, int catalogueSize)
    {
        var support = PopularityTieBreak.Count(train.Items, catalogueSize);
        _popularity = new PopularityTieBreak(support);
        var sets = _sets = SessionSets.Build(train, catalogueSize);
        int sessions = train.SessionCount;

        var byRecency = new int[sessions];
        var lastTime = new long[sessions];
        for (int s = 0; s < sessions; s++)
        {
            byRecency[s] = s;
            lastTime[s] = train.Timestamps[train.SessionStarts[s + 1] - 1]; // session-rec: the time of the last row
        }
        Array.Sort(byRecency, (a, b) => lastTime[a] != lastTime[b] ? lastTime[b].CompareTo(lastTime[a]) : b.CompareTo(a));
        _recencyRank = new int[sessions];
        for (int r = 0; r < sessions; r++) _recencyRank[byRecency[r]] = r;

        _recentStarts = sets.PostingStarts;
        _recentPostings = new int[sets.Postings.Length];
        var fill = sets.PostingStarts[..^1].ToArray();
        foreach (int s in byRecency)
            foreach (int item in sets.Set(s))
                _recentPostings[fill[item]++] = s;

        _owner = new int[sessions];
        for (int b = 0; b < train.UserCount; b++)
            for (int s = train.UserStarts[b]; s < train.UserStarts[b + 1]; s++) _owner[s] = train.Users[b];

        // session-rec: log(sessions / events of the item), events counting repeats.
        _idf = new double[catalogueSize + 1];
        for (int i = 1; i <= catalogueSize; i++)
            _idf[i] = support[i] > 0 ? Math.Log((double)sessions / support[i]) : 0;
    }

    protected override PrefixScorer CreateScorer() => new VsknnScorer(this);

    readonly record struct Neighbour(int Session, double Similarity, int LastShared);

    sealed class VsknnScorer : PrefixScorer
    {
        readonly VsknnRanker _model;
        readonly VsknnOptions _options;
        readonly SessionSets _sets;
        readonly UserReminders? _reminders;

        int _user = -1;
        int[] _userLast = [];

        ReadOnlyMemory<long> _times;
        readonly List<int> _session = [];
        readonly bool[] _relevant;
        readonly List<int> _relevantItems = [];
        List<int> _previous = [];
        bool _needRefine;

        readonly List<int> _items = [];
        readonly int[] _lastPosition;
        readonly List<int> _distinct = [];
        readonly List<double> _positionWeight = [];
        readonly List<int> _shared = [];
        readonly bool[] _taken;
        readonly List<int> _sample = [];
        readonly List<Neighbour> _neighbours = [];
        readonly List<(int Session, double Similarity)> _ownSimilarities = [];
        readonly PriorityQueue<int, int> _merge = new();
        readonly SparseScores _scores;

        public VsknnScorer(VsknnRanker model)
        {
            _model = model;
            _options = model.Options;
            _sets = model._sets!;
            int items = model._idf.Length;
            _relevant = new bool[items];
            _lastPosition = new int[items];
            _taken = new bool[_sets.SessionCount];
            _scores = new SparseScores(items - 1);
            if (_options.Reminders is { } r) _reminders = new UserReminders(items - 1, r.Sessions);
        }

        bool Extends => _options.ExtendSessionLength > 0 && _userLast.Length > 0;

        public override void BeginUser(SessionDataset history, int block)
        {
            _user = block >= 0 ? history.Users[block] : -1;
            _userLast = [];
            if (block >= 0 && _options.ExtendSessionLength > 0)
            {
                int end = history.SessionStarts[history.UserStarts[block + 1]];
                int start = Math.Max(history.SessionStarts[history.UserStarts[block]], end - _options.ExtendSessionLength);
                // History beyond the fitted catalogue cannot be looked up (the protocol's history is the training set).
                _userLast = history.Items.AsSpan(start, end - start).ToArray().Where(i => (uint)i < (uint)_relevant.Length).ToArray();
            }
            _reminders?.BeginUser(history, block);
        }

        public override void BeginSession(ReadOnlyMemory<long> times)
        {
            BeginSession();
            _times = times;
        }

        public override void BeginSession()
        {
            _times = default;
            _session.Clear();
            ResetRelevant();
            _previous = [];
            _needRefine = true;
        }

        public override void Score(ReadOnlySpan<int> prefix, Span<float> scores)
        {
            if (!Compute(prefix))
            {
                _model._popularity!.Levels.CopyTo(scores);
                return;
            }
            _scores.RankInto(_model._popularity!, scores);
            if (_options.ExcludeCurrentItem) scores[prefix[^1]] = float.NegativeInfinity;
            _scores.Clear();
        }

        internal override IReadOnlyDictionary<int, double> RawScores(ReadOnlySpan<int> prefix)
        {
            Compute(prefix);
            var raw = _scores.ToDictionary();
            _scores.Clear();
            return raw;
        }

        /// <summary>Fills <see cref="_scores"/> for the prefix; false for an empty one.</summary>
        bool Compute(ReadOnlySpan<int> prefix)
        {
            if (prefix.Length < _session.Count || !prefix[.._session.Count].SequenceEqual(CollectionsMarshal.AsSpan(_session)))
                BeginSession(_times); // not the same session growing: start over
            while (_session.Count < prefix.Length) Advance(prefix[_session.Count]);
            if (_session.Count == 0) return false;

            BuildItems();
            FindNeighbours();
            ScoreNeighbours(prefix[^1]);
            if (_options.Reminders is { } reminders) Remind(reminders, prefix.Length);
            _scores.Normalise();
            foreach (int item in _distinct) _lastPosition[item] = 0;
            return true;
        }

        /// <summary>
        /// One more event of the session: uvsknn's bookkeeping of which items' sessions are candidates. While the
        /// session is extended, the candidates are those of the extended items (recomputed when the oldest
        /// prepended item falls out); once it is long enough, those of its own items; every event adds its item's.
        /// </summary>
        void Advance(int item)
        {
            _session.Add(item);
            int n = _session.Count, length = _options.ExtendSessionLength;
            if (Extends)
            {
                if (n < length)
                {
                    var prepended = _userLast[Math.Max(0, _userLast.Length - (length - n))..];
                    var extended = new List<int>(prepended.Length + n);
                    extended.AddRange(prepended);
                    extended.AddRange(_session);
                    if (_previous.Count == 0)
                        foreach (int p in prepended) AddRelevant(p);
                    else if (!extended.Contains(_previous[0]))
                    {
                        ResetRelevant();
                        foreach (int e in extended) AddRelevant(e);
                    }
                    _previous = extended;
                }
                else if (_needRefine)
                {
                    ResetRelevant();
                    foreach (int e in _session) AddRelevant(e);
                    _needRefine = false;
                }
            }
            AddRelevant(item);
        }

        void AddRelevant(int item)
        {
            if (_relevant[item]) return;
            _relevant[item] = true;
            _relevantItems.Add(item);
        }

        void ResetRelevant()
        {
            foreach (int item in _relevantItems) _relevant[item] = false;
            _relevantItems.Clear();
        }

        /// <summary>The items similarity and decay see: the session, or the user's last items and the session.</summary>
        void BuildItems()
        {
            _items.Clear();
            int n = _session.Count, length = _options.ExtendSessionLength;
            if (Extends && n < length) _items.AddRange(_userLast[Math.Max(0, _userLast.Length - (length - n))..]);
            _items.AddRange(_session);
            _distinct.Clear();
            _positionWeight.Clear();
            for (int p = 1; p <= _items.Count; p++)
            {
                int item = _items[p - 1];
                if (_lastPosition[item] == 0) _distinct.Add(item);
                _lastPosition[item] = p; // a repeated item takes the weight of its last position, as in session-rec
                _positionWeight.Add(Weightings.InSession(_options.Weighting, p, _items.Count));
            }
        }

        /// <summary>
        /// Sum of the position weights of the shared items over the distinct current items, and the latest position
        /// of a shared item (0 when nothing is shared). The weights are added in position order, so sessions that
        /// share the same items get bit-equal similarities.
        /// </summary>
        (double Similarity, int LastShared) Similarity(ReadOnlySpan<int> set)
        {
            _shared.Clear();
            foreach (int item in set)
                if ((uint)item < (uint)_lastPosition.Length && _lastPosition[item] > 0) _shared.Add(_lastPosition[item]);
            if (_shared.Count == 0) return (0, 0);
            _shared.Sort();
            double sum = 0;
            foreach (int p in _shared) sum += _positionWeight[p - 1];
            return (sum / _distinct.Count, _shared[^1]);
        }

        double Boosted(double similarity, int owner) =>
            _options.BoostOwnSessions > 0 && owner == _user ? similarity + similarity * _options.BoostOwnSessions : similarity;

        void FindNeighbours()
        {
            TakeMostRecentCandidates();
            _neighbours.Clear();
            foreach (int s in _sample)
            {
                var (similarity, lastShared) = Similarity(_sets.Set(s));
                if (similarity > 0) _neighbours.Add(new Neighbour(s, Boosted(similarity, _model._owner[s]), lastShared));
            }
            // session-rec sorts the sample (a set) by similarity; equal similarity here: the more recent first.
            var rank = _model._recencyRank;
            _neighbours.Sort((a, b) => a.Similarity != b.Similarity
                ? b.Similarity.CompareTo(a.Similarity)
                : rank[a.Session].CompareTo(rank[b.Session]));
            if (_neighbours.Count > _options.Neighbours)
                _neighbours.RemoveRange(_options.Neighbours, _neighbours.Count - _options.Neighbours);
        }

        /// <summary>The sample: a merge of the relevant items' recency-ordered postings, stopping at sample size.</summary>
        void TakeMostRecentCandidates()
        {
            _sample.Clear();
            int limit = _options.SampleSize == 0 ? int.MaxValue : _options.SampleSize;
            var starts = _model._recentStarts;
            var postings = _model._recentPostings;
            var rank = _model._recencyRank;
            var heads = new int[_relevantItems.Count];
            _merge.Clear();
            for (int r = 0; r < heads.Length; r++)
            {
                int item = _relevantItems[r];
                heads[r] = starts[item];
                if (heads[r] < starts[item + 1]) _merge.Enqueue(r, rank[postings[heads[r]]]);
            }
            while (_merge.Count > 0 && _sample.Count < limit)
            {
                int r = _merge.Dequeue();
                int s = postings[heads[r]++];
                if (!_taken[s])
                {
                    _taken[s] = true;
                    _sample.Add(s);
                }
                if (heads[r] < starts[_relevantItems[r] + 1]) _merge.Enqueue(r, rank[postings[heads[r]]]);
            }
            foreach (int s in _sample) _taken[s] = false;
        }

        void ScoreNeighbours(int current)
        {
            var idf = _model._idf;
            double idfWeighting = _options.IdfWeighting;
            foreach (var neighbour in _neighbours)
            {
                double decay = Weightings.ByDistance(_options.ScoreWeighting, _items.Count - neighbour.LastShared + 1);
                foreach (int item in _sets.Set(neighbour.Session))
                {
                    if (_options.ExcludeCurrentItem && item == current) continue;
                    double score = neighbour.Similarity;
                    if (idfWeighting > 0) score += score * idf[item] * idfWeighting;
                    _scores.Add(item, score * decay);
                }
            }
        }

        /// <summary>reminder.py's hybrid: the base scores over their maximum, weighted, plus IRec and SSim.</summary>
        void Remind(ReminderOptions reminders, int prefixLength)
        {
            if (_times.Length < prefixLength)
                throw new InvalidOperationException("reminders need the session's event times (BeginSession(times))");
            _scores.Normalise();
            _scores.Scale(reminders.WeightBase);
            _reminders!.AddRecency(_times.Span[prefixLength - 1], reminders.WeightIRec, _scores);
            if (reminders.WeightSSim == 0) return;
            _ownSimilarities.Clear();
            var own = _reminders.RecentSessions;
            for (int s = 0; s < own.Count; s++)
            {
                var (similarity, _) = Similarity(own[s]);
                if (similarity > 0) _ownSimilarities.Add((s, Boosted(similarity, _user)));
            }
            _reminders.AddSimilarity(_ownSimilarities, reminders.WeightSSim, _scores);
        }
    }
}
