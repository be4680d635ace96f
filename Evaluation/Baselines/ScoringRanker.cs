using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Evaluation.Baselines;

/// <summary>
/// The protocol loop shared by the baselines: for each test user, score every item for each prefix of the test
/// session, then rank the target with the shared conservative rule. Users run in parallel; each worker owns a
/// <see cref="PrefixScorer"/> with its scratch buffers, and predictions come out in test order.
/// </summary>
public abstract class ScoringRanker : IRanker
{
    const int UsersPerChunk = 512;

    public abstract string Name { get; }
    public abstract bool CanRankSessionStart { get; }
    /// <summary>Catalogue size N, known after <see cref="Fit"/>.</summary>
    protected int CatalogueSize { get; private set; }
    /// <summary>The catalogue's id map, known after <see cref="Fit"/>.</summary>
    protected IdMap? Catalogue { get; private set; }
    public int? MaxDegreeOfParallelism { get; init; }
    // Items no training event has (a cold-start split); targets among them also get their rank among them.
    int[] _cold = [];
    bool[] _isCold = [];

    public void Fit(SessionDataset train, IdMap items)
    {
        CatalogueSize = items.TableSize - 1;
        Catalogue = items;
        foreach (int item in train.Items)
            if ((uint)(item - 1) >= (uint)CatalogueSize)
                throw new PipelineException(
                    $"{Name}: training item index {item} is outside the catalogue 1..{CatalogueSize}");
        _cold = Ranking.ColdItems(items.Counts);
        _isCold = new bool[items.TableSize];
        foreach (int i in _cold) _isCold[i] = true;
        FitModel(train, CatalogueSize);
    }

    protected abstract void FitModel(SessionDataset train, int catalogueSize);

    /// <summary>A new scorer for one worker thread.</summary>
    protected abstract PrefixScorer CreateScorer();

    public IEnumerable<Prediction> Rank(SessionDataset history, SessionDataset test, int topK, CancellationToken ct)
    {
        if (CatalogueSize == 0) throw new InvalidOperationException($"{Name}: Fit must run before Rank");
        CheckTargets(test);
        var blockOfUser = UserBlocks(history, test);
        var options = new ParallelOptions
        {
            CancellationToken = ct,
            MaxDegreeOfParallelism = MaxDegreeOfParallelism ?? Environment.ProcessorCount,
        };
        for (int first = 0; first < test.UserCount; first += UsersPerChunk)
        {
            int count = Math.Min(UsersPerChunk, test.UserCount - first);
            var perUser = new List<Prediction>[count];
            Parallel.For(0, count, options,
                () => (Scorer: CreateScorer(), Scores: new float[CatalogueSize + 1]),
                (j, _, worker) =>
                {
                    perUser[j] = RankUser(first + j, worker.Scorer, worker.Scores);
                    return worker;
                },
                _ => { });
            foreach (var predictions in perUser)
                foreach (var p in predictions)
                    yield return p;
        }

        List<Prediction> RankUser(int u, PrefixScorer scorer, float[] scores)
        {
            int user = test.Users[u];
            scorer.BeginUser(history, blockOfUser[user]);
            var predictions = new List<Prediction>();
            for (int s = test.UserStarts[u]; s < test.UserStarts[u + 1]; s++)
            {
                var items = test.SessionItems(s);
                scorer.BeginSession(test.Timestamps.AsMemory(test.SessionStarts[s], items.Length));
                for (int t = CanRankSessionStart ? 0 : 1; t < items.Length; t++)
                {
                    int target = items[t];
                    scorer.Score(items[..t], scores);
                    predictions.Add(new Prediction(user, t, target,
                        Ranking.ConservativeRank(scores, target), Ranking.TopK(scores, topK), float.IsNaN(scores[target]),
                        ColdRank: _isCold[target] ? Ranking.ConservativeRankAmong(scores, target, _cold) : null));
                }
            }
            return predictions;
        }
    }

    /// <summary>
    /// For tests: the model's own scores (before the popularity fill and ranking) for every prediction that
    /// <see cref="Rank"/> makes, in its order, from one scorer; empty for scorers that keep no such scores.
    /// </summary>
    internal List<IReadOnlyDictionary<int, double>> RawScores(SessionDataset history, SessionDataset test)
    {
        if (CatalogueSize == 0) throw new InvalidOperationException($"{Name}: Fit must run before RawScores");
        var blockOfUser = UserBlocks(history, test);
        var scorer = CreateScorer();
        var result = new List<IReadOnlyDictionary<int, double>>();
        for (int u = 0; u < test.UserCount; u++)
        {
            scorer.BeginUser(history, blockOfUser[test.Users[u]]);
            for (int s = test.UserStarts[u]; s < test.UserStarts[u + 1]; s++)
            {
                var items = test.SessionItems(s);
                scorer.BeginSession(test.Timestamps.AsMemory(test.SessionStarts[s], items.Length));
                for (int t = CanRankSessionStart ? 0 : 1; t < items.Length; t++) result.Add(scorer.RawScores(items[..t]));
            }
        }
        return result;
    }

    /// <summary>Checked up front: an exception inside the parallel loop would surface wrapped, not as one line.</summary>
    void CheckTargets(SessionDataset test)
    {
        for (int u = 0; u < test.UserCount; u++)
            for (int s = test.UserStarts[u]; s < test.UserStarts[u + 1]; s++)
            {
                var items = test.SessionItems(s);
                for (int t = 0; t < items.Length; t++)
                    if ((uint)(items[t] - 1) >= (uint)CatalogueSize)
                        throw new PipelineException(
                            $"test split: item index {items[t]} of user {test.Users[u]} at position {t} is outside the catalogue 1..{CatalogueSize}");
            }
    }

    /// <summary>History block per dense user index (-1: the user has no history).</summary>
    static int[] UserBlocks(SessionDataset history, SessionDataset test)
    {
        int maxUser = -1;
        foreach (int u in history.Users) maxUser = Math.Max(maxUser, u);
        foreach (int u in test.Users) maxUser = Math.Max(maxUser, u);
        var blocks = new int[maxUser + 1];
        Array.Fill(blocks, -1);
        for (int b = 0; b < history.UserCount; b++) blocks[history.Users[b]] = b;
        return blocks;
    }

    /// <summary>Per-worker scoring state. Calls come in order: user, then each session, then its growing prefixes.</summary>
    protected abstract class PrefixScorer
    {
        /// <param name="history">The users' training sessions.</param>
        /// <param name="block">The user's block in <paramref name="history"/>, -1 when the user has none.</param>
        public virtual void BeginUser(SessionDataset history, int block) { }
        public virtual void BeginSession() { }
        /// <summary>A new test session, with its event times (epoch ms) for scorers that weigh recency.</summary>
        public virtual void BeginSession(ReadOnlyMemory<long> times) => BeginSession();
        /// <summary>Fills scores[1..N] after seeing <paramref name="prefix"/> (empty at the session start).</summary>
        public abstract void Score(ReadOnlySpan<int> prefix, Span<float> scores);
        /// <summary>For tests: the scores <see cref="Score"/> ranks by, per scored item.</summary>
        internal virtual IReadOnlyDictionary<int, double> RawScores(ReadOnlySpan<int> prefix) => new Dictionary<int, double>();
    }
}
