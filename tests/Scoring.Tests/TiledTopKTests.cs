using HrnnPipeline.Features;
using HrnnPipeline.Scoring;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Tests.Scoring;

/// <summary>
/// The scorer's tiled top-k (<see cref="TiledTopK"/>) against the dense path it replaces (HrnnInference's own, with
/// no <see cref="HrnnInference.Request.Lists"/>), and the approximate mode's recall against exact.
/// </summary>
public sealed class TiledTopKTests
{
    const int Items = 300, K = 20;

    /// <summary>60 users with Zipf-like item draws (so histories repeat items and the mix has something to add), and
    /// one user who has seen all but 12 items (fewer unseen than k: the seen fill).</summary>
    static SessionDataset Users(int seed)
    {
        var rng = new Random(seed);
        var u = new List<int>(); var s = new List<int>(); var i = new List<int>(); var t = new List<long>();
        int session = 0;
        void Add(int user, IEnumerable<int> items)
        {
            int last = -1;
            foreach (int item in items)
            {
                if (item == last) continue; // sessions drop consecutive repeats
                u.Add(user); s.Add(session); i.Add(item); t.Add(t.Count * 60_000L);
                last = item;
            }
            session++;
        }
        for (int user = 0; user < 60; user++)
            for (int n = rng.Next(2, 6); n > 0; n--)
                Add(user, Enumerable.Range(0, rng.Next(2, 9)).Select(_ => 1 + (int)(Items * Math.Pow(rng.NextDouble(), 3))));
        var all = Enumerable.Range(1, Items - 12).OrderBy(_ => rng.Next()).ToArray();
        for (int from = 0; from < all.Length; from += 48) Add(60, all.Skip(from).Take(48));
        return SessionDataset.FromSortedEvents(u.ToArray(), s.ToArray(), i.ToArray(), t.ToArray());
    }

    /// <summary>An untrained model with output rows scaled up (peaked softmaxes, as trained models have), optionally
    /// of low rank plus a little noise (a trained catalogue's spectrum falls off; a random one's does not).</summary>
    static HrnnModel Model(ModelKind kind, ReminderMix mix, int hidden = 16, int rank = 0)
    {
        var model = new HrnnModel(new HrnnSettings { Model = kind, SessionHidden = hidden, UserHidden = hidden }, Items + 1) { Reminders = mix };
        using (no_grad())
        {
            var rows = rank > 0 ? randn(Items + 1, rank).mm(randn(rank, hidden)).div(Math.Sqrt(rank)).add(randn(Items + 1, hidden).mul(0.02)) : randn(Items + 1, hidden);
            model.OutputTable.copy_(rows.mul(1.5));
            model.OutputBias.normal_(0, 0.5);
        }
        return model;
    }

    sealed record Lists(int[] TopK, float[] Scores, int[] SeenFill);

    static Lists Capture(HrnnModel model, SessionDataset data, bool excludeSeen, HrnnInference.ICaptureLists? lists)
    {
        var topK = new int[data.UserCount * K]; var scores = new float[data.UserCount * K]; var fill = new int[data.UserCount];
        // Batch 8: several capture chunks, so the lists fill block after block.
        new HrnnInference(model, CPU).Run(new HrnnInference.Request(data, 8, K) { CaptureFinal = true, ExcludeSeen = excludeSeen, Lists = lists }, null, rows =>
        {
            for (int r = 0; r < rows.UserBlock.Length; r++)
            {
                int user = rows.UserBlock[r];
                Array.Copy(rows.TopK, r * K, topK, user * K, K);
                Array.Copy(rows.TopScores, r * K, scores, user * K, K);
                fill[user] = rows.SeenFill[r];
            }
        });
        return new Lists(topK, scores, fill);
    }

    public static TheoryData<ModelKind, bool, bool> Cases => new()
    {
        { ModelKind.HrnnInit, false, false }, { ModelKind.HrnnInit, true, false }, { ModelKind.HrnnInit, false, true },
        { ModelKind.HrnnInit, true, true }, { ModelKind.Rnn, true, true }, { ModelKind.HrnnAll, false, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Tiled_exact_lists_are_the_dense_paths(ModelKind kind, bool excludeSeen, bool mix)
    {
        TorchRuntime.EnsureLoaded();
        manual_seed(11);
        using var model = Model(kind, mix ? new ReminderMix(StartWeight: 0.3f, StartDecay: 0.95f, NextWeight: 0.2f, NextDecay: 1) : ReminderMix.None);
        var data = Users(5);
        var dense = Capture(model, data, excludeSeen, null);
        // Tiles of 61 columns (the padding in the first, uneven widths) and blocks of 7 rows, and the defaults (one tile).
        foreach (var tiled in new[] { new TiledTopK(rows: 7, tile: 64), new TiledTopK() })
            using (tiled)
            {
                var lists = Capture(model, data, excludeSeen, tiled);
                Assert.Equal(dense.TopK, lists.TopK);
                Assert.Equal(dense.SeenFill, lists.SeenFill);
                // The mix's softmax normaliser is summed tile by tile: the same to float rounding, not bit for bit.
                for (int j = 0; j < dense.Scores.Length; j++)
                    Assert.True(Math.Abs(dense.Scores[j] - lists.Scores[j]) <= 1e-5 * Math.Abs(dense.Scores[j]) + 1e-12,
                        $"rank {j % K} of user {j / K}: dense {dense.Scores[j]}, tiled {lists.Scores[j]}");
            }
        Assert.DoesNotContain(0, dense.TopK);
        // The case is really exercised: the heavy user's list ends with seen items exactly when they are excluded,
        // and the mix moves some list away from the model's own order.
        Assert.Equal(excludeSeen ? K - 12 : 0, dense.SeenFill[60]);
        if (!mix) return;
        model.Reminders = ReminderMix.None;
        Assert.NotEqual(dense.TopK, Capture(model, data, excludeSeen, null).TopK);
    }

    static double Recall(int[] approximate, int[] exact)
    {
        long hits = 0;
        for (int u = 0; u < exact.Length / K; u++)
        {
            var truth = exact.AsSpan(u * K, K).ToArray().ToHashSet();
            for (int j = 0; j < K; j++) hits += truth.Contains(approximate[u * K + j]) ? 1 : 0;
        }
        return (double)hits / exact.Length;
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Approximate_lists_with_a_cluster_per_user_are_the_exact_ones(bool excludeSeen, bool mix)
    {
        TorchRuntime.EnsureLoaded();
        manual_seed(13);
        using var model = Model(ModelKind.HrnnInit, mix ? new ReminderMix(0.3f, 0.95f, 0.2f, 1) : ReminderMix.None, hidden: 32, rank: 6);
        var data = Users(7);
        var exact = Capture(model, data, excludeSeen, null);
        // A cluster per user: its centroid is its own query, so its candidates are its own top items (and the mix's
        // normaliser its own) whatever the seen items: the exact lists, and the seen fill of the heavy user.
        using var own = new TiledTopK(rows: 16, approximate: new CandidateIndex(candidates: K, usersPerCluster: 1));
        var approximate = Capture(model, data, excludeSeen, own);
        Assert.Equal(exact.TopK, approximate.TopK);
        Assert.Equal(exact.SeenFill, approximate.SeenFill);
        AssertScoresClose(exact, approximate, mix ? 1e-4 : 1e-5);
    }

    /// <summary>64 queries around 8 directions (users of 8 tastes) against 2,000 items of rank 8 with a popularity bias.</summary>
    static (Tensor Queries, HrnnModel.ItemRows Items) Tastes()
    {
        manual_seed(5);
        int h = 24, width = 2001;
        var tastes = randn(8, h).mul(2);
        var queries = tastes.repeat_interleave(8, 0).add(randn(64, h).mul(0.5));
        var rows = randn(width, 8).mm(randn(8, h)).div(Math.Sqrt(8)).add(randn(width, h).mul(0.1));
        return (queries, new HrnnModel.ItemRows(rows, rows, randn(width).mul(0.5), false));
    }

    [Fact]
    public void Clustered_candidates_recall_the_exact_top_k_and_the_normaliser()
    {
        TorchRuntime.EnsureLoaded();
        using var noGrad = no_grad();
        var (queries, items) = Tastes();
        int width = (int)items.Output.shape[0];
        var scores = queries.mm(items.Output.t()).add(items.Bias.unsqueeze(0));
        scores.narrow(1, 0, 1).fill_(float.NegativeInfinity);
        var exactTop = scores.topk(K, 1).indexes.to_type(ScalarType.Int32).data<int>().ToArray();
        var logZ = scores.logsumexp(1).data<float>().ToArray();
        double RecallOf(CandidateIndex index, out double worstLogZ)
        {
            var (top, values, rowMax, rowZ) = index.Select(queries, items, width, K, 0, normalisers: true);
            Assert.Equal(new long[] { 64, K }, top.shape);
            var at = top.to_type(ScalarType.Int32).data<int>().ToArray();
            worstLogZ = Enumerable.Range(0, 64).Max(r => Math.Abs(rowMax![r] + Math.Log(rowZ![r]) - logZ[r]));
            // The scores returned are the exact ones of the items returned.
            var exactOf = scores.gather(1, top).data<float>().ToArray();
            Assert.Equal(exactOf, values.data<float>().ToArray());
            return Recall(at, exactTop);
        }
        // Clusters of 8 users, each scored against its centroid's best 200 of the 2,000 items: the exact lists, and
        // the softmax normaliser (which the reminder mix reads) to within 5% (here 3%: the reach moves some of the
        // centroid's best items into the part estimated to first order; without it 0.2%).
        double recall = RecallOf(new CandidateIndex(candidates: 200, usersPerCluster: 8), out double logZError);
        Assert.True(recall >= 0.99, $"recall@{K} {recall:F4}");
        Assert.True(logZError < 0.05, $"log normaliser off by {logZError:G3}");
        // One cluster for all 64 users and no spare candidates miss much of it: the recall is the clusters', not a given.
        double coarse = RecallOf(new CandidateIndex(candidates: K, usersPerCluster: 64), out _);
        Assert.True(coarse < 0.7, $"one cluster: recall@{K} {coarse:F4}");
    }

    static void AssertScoresClose(Lists exact, Lists approximate, double tolerance)
    {
        for (int j = 0; j < exact.TopK.Length; j++)
            if (exact.TopK[j] == approximate.TopK[j])
                Assert.True(Math.Abs(exact.Scores[j] - approximate.Scores[j]) <= tolerance * Math.Abs(exact.Scores[j]) + 1e-12,
                    $"rank {j % K} of user {j / K}: exact {exact.Scores[j]}, approximate {approximate.Scores[j]}");
    }
}
