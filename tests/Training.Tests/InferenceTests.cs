using HrnnPipeline.Features;
using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Tests.Training;

public sealed class InferenceTests
{
    /// <summary>A small untrained model. hrnn-all starts with zero user-to-session weights (it begins as hrnn-init):
    /// here they are drawn at random, so the per-step user input is really exercised.</summary>
    static HrnnModel RandomModel(ModelKind kind)
    {
        var model = new HrnnModel(new HrnnSettings { Model = kind, SessionHidden = 8, UserHidden = 8 }, 10);
        var perStep = model.named_parameters().Where(p => p.name.Contains("userToSession")).ToList();
        Assert.Equal(kind == ModelKind.HrnnAll ? 1 : 0, perStep.Count);
        using (no_grad()) foreach (var (_, p) in perStep) p.normal_(0, 0.5);
        return model;
    }

    static List<(int User, int Position, int Target, long Rank)> Predictions(HrnnModel model, int batch) =>
        Predictions(model, batch, TestData.FromLists([[[1, 2, 3], [4, 5]], [[6, 7, 8]], [[2, 9], [3, 4, 5]], [[7, 1]]]),
            TestData.FromLists([[[5, 6, 7]], [[8, 9]], [[1, 2, 3, 4]], [[9, 8, 7]]]));

    /// <summary>Every test prediction, ordered by user and position.</summary>
    static List<(int User, int Position, int Target, long Rank)> Predictions(HrnnModel model, int batch, SessionDataset history, SessionDataset test)
    {
        var (data, evaluated) = UserHistories.Join(history, test);
        var result = new List<(int, int, int, long)>();
        new HrnnInference(model, CPU).Run(new HrnnInference.Request(data, batch, 3) { EvalSessions = evaluated }, rows =>
        {
            for (int i = 0; i < rows.Rank.Length; i++)
                result.Add((rows.UserBlock[i], rows.Position[i], rows.Target[i], rows.Rank[i]));
        }, null);
        return result.OrderBy(p => p.Item1).ThenBy(p => p.Item2).ToList();
    }

    [Theory]
    [InlineData(ModelKind.HrnnInit)]
    [InlineData(ModelKind.HrnnAll)]
    [InlineData(ModelKind.RnnConcat)]
    public void Parallel_slots_rank_exactly_as_one_user_at_a_time(ModelKind kind)
    {
        TorchRuntime.EnsureLoaded();
        manual_seed(3);
        using var model = RandomModel(kind);
        // One slot cannot mix up rows; several slots score start and next-item rows of many users in one block.
        var alone = Predictions(model, batch: 1);
        var together = Predictions(model, batch: 4);
        Assert.Equal(alone, together);
        // Every test position is predicted once: positions 1..n-1, plus the session start where the model can.
        Assert.Contains(alone, p => p.Position == 0);
        Assert.Equal(alone.Count, alone.Distinct().Count());
    }

    /// <summary>Once no user is left to take a freed slot, the batch narrows to the slots still running: the tail, where a
    /// heavy user runs alone for thousands of steps, must rank exactly as a full batch (and one user at a time) does.</summary>
    [Theory]
    [InlineData(ModelKind.HrnnInit)]
    [InlineData(ModelKind.HrnnAll)]
    [InlineData(ModelKind.Rnn)]
    public void A_narrowed_tail_ranks_exactly_as_one_user_at_a_time(ModelKind kind)
    {
        TorchRuntime.EnsureLoaded();
        manual_seed(7);
        using var model = RandomModel(kind);
        // Six users, one of them far longer than the rest: several 64-step chunks run after the others are done.
        var rng = new Random(4);
        int[] Session(int length) => [.. Enumerable.Range(0, length).Select(_ => rng.Next(1, 10))];
        int[][][] Users() => [.. Enumerable.Range(0, 6).Select(u => Enumerable.Range(0, u == 2 ? 80 : 2 + u).Select(_ => Session(3 + rng.Next(3))).ToArray())];
        var history = TestData.FromLists(Users());
        var test = TestData.FromLists([.. Enumerable.Range(0, 6).Select(_ => new[] { Session(4) })]);
        List<(int User, int Position, int Target, long Rank)> Ranks(int batch) => Predictions(model, batch, history, test);
        List<(int, float[])> Captures(int batch)
        {
            var states = new List<(int, float[])>();
            new HrnnInference(model, CPU).Run(new HrnnInference.Request(history, batch, 3) { CaptureFinal = true }, null, rows =>
            {
                int width = rows.SessionState.Length / rows.UserBlock.Length;
                for (int i = 0; i < rows.UserBlock.Length; i++) states.Add((rows.UserBlock[i], rows.SessionState[(i * width)..((i + 1) * width)]));
            });
            return [.. states.OrderBy(s => s.Item1)];
        }
        var alone = Ranks(1);
        Assert.Equal(alone, Ranks(6));
        Assert.Equal(alone, Ranks(4));
        Assert.Equal(6 * 3 + (kind == ModelKind.Rnn ? 0 : 6), alone.Count);
        var captured = Captures(1);
        Assert.Equal(6, captured.Count);
        Assert.Equal(captured.Select(c => c.Item1), Captures(4).Select(c => c.Item1));
        // States agree to float rounding (a product over 4 rows may sum in another order than over 1).
        foreach (var (a, b) in captured.Zip(Captures(4)))
            Assert.All(a.Item2.Zip(b.Item2), p => Assert.Equal(p.First, p.Second, 1e-6));
    }

    /// <summary>Validation ranks from tiles of items (<see cref="TiledRanks"/>): the ranks, NaN flags and losses of the
    /// dense scores, over tiles and row blocks that divide nothing evenly, with exact ties (duplicated item rows, the
    /// target's own among them), a NaN item, a NaN target and a catalogue narrower than the table.</summary>
    [Fact]
    public void Tiled_ranks_are_the_dense_scores_ranks_and_losses()
    {
        TorchRuntime.EnsureLoaded();
        manual_seed(11);
        const int table = 300, width = 291, hidden = 16, rows = 45;
        var output = randn(table, hidden);
        var bias = randn(table).mul(tensor(0.1f));
        var rng = new Random(2);
        var targets = Enumerable.Range(0, rows).Select(_ => rng.Next(1, width)).ToArray();
        // Exact ties: copies of target rows elsewhere in the catalogue (before and after the target, other tiles too).
        for (int i = 0; i < 12; i++)
        {
            int copy = rng.Next(1, width);
            output[copy] = output[targets[i]].clone();
            bias[copy] = bias[targets[i]].clone();
        }
        output[7] = full(hidden, float.NaN); // an item that never ranks ahead
        var queries = randn(rows, hidden);
        queries[3] = full(hidden, float.NaN); // its target ranks last
        var items = new HrnnModel.ItemRows(output, output, bias, false);

        var dense = HrnnModel.Score(queries, output, bias).narrow(1, 0, width);
        dense.index_fill_(1, tensor(new long[] { 0 }), Scalars.NegativeInfinity);
        var target = tensor(targets.Select(t => (long)t).ToArray()).unsqueeze(1);
        var denseRanks = HrnnInference.ConservativeRanks(dense, target).data<long>().ToArray();
        var denseLoss = dense.logsumexp(1).Minus(dense.gather(1, target).squeeze(1)).data<float>().ToArray();

        foreach (var (blockRows, tile) in new[] { (7, 61), (512, 8192), (45, 290), (1, 1) })
        {
            using var tiles = new TiledRanks(blockRows, tile);
            var ranks = new long[rows]; var loss = new float[rows]; var nan = new bool[rows];
            tiles.Rank(queries, targets, items, width, ranks, loss, nan);
            Assert.Equal(denseRanks, ranks);
            Assert.Equal(width - 1, ranks[3]);
            Assert.Equal(Enumerable.Range(0, rows).Select(r => r == 3), nan);
            // The NaN item makes every row's normaliser NaN, in the dense scores as here; the losses are checked below.
            Assert.All(denseLoss, l => Assert.True(float.IsNaN(l)));
            Assert.All(loss, l => Assert.True(float.IsNaN(l)));
        }
        // The duplicated targets tie with their copies: conservative ranks count both.
        Assert.Contains(Enumerable.Range(0, 12), i => denseRanks[i] > 1);

        // Stopping at a cutoff: rows without a loss (the NaN target's among them) rank exactly up to the cutoff and
        // above it beyond; rows with one are as before.
        const int cutoff = 5;
        var withLoss = Enumerable.Range(0, rows).Select(r => r % 3 == 1).ToArray();
        Assert.False(withLoss[3]);
        Assert.Contains(Enumerable.Range(0, rows), r => !withLoss[r] && denseRanks[r] <= cutoff);
        Assert.Contains(Enumerable.Range(0, rows), r => !withLoss[r] && denseRanks[r] > cutoff + TiledRanks.EarlyExitMargin);
        foreach (var (blockRows, tile) in new[] { (7, 61), (512, 8192), (1, 1) })
        {
            using var tiles = new TiledRanks(blockRows, tile);
            var ranks = new long[rows]; var loss = new float[rows]; var nan = new bool[rows];
            tiles.Rank(queries, targets, items, width, ranks, loss, nan, cutoff, withLoss);
            Assert.Equal(Enumerable.Range(0, rows).Select(r => r == 3), nan);
            Assert.Equal(width - 1, ranks[3]);
            for (int r = 0; r < rows; r++)
            {
                if (withLoss[r] || denseRanks[r] <= cutoff) Assert.Equal(denseRanks[r], ranks[r]);
                else Assert.InRange(ranks[r], cutoff + 1, denseRanks[r]);
                Assert.True(float.IsNaN(loss[r]));
            }
        }

        // The losses themselves, without the NaN item (which makes every row's normaliser NaN) and the NaN query.
        output[7] = randn(hidden);
        queries[3] = randn(hidden);
        var clean = HrnnModel.Score(queries, output, bias).narrow(1, 0, width);
        clean.index_fill_(1, tensor(new long[] { 0 }), Scalars.NegativeInfinity);
        var cleanLoss = clean.logsumexp(1).Minus(clean.gather(1, target).squeeze(1)).data<float>().ToArray();
        Assert.All(cleanLoss, l => Assert.True(float.IsFinite(l) && l > 0, $"loss {l}"));
        foreach (var (blockRows, tile) in new[] { (7, 61), (512, 8192) })
            foreach (var mask in new bool[]?[] { null, withLoss })
            {
                using var tiles = new TiledRanks(blockRows, tile);
                var ranks = new long[rows]; var loss = new float[rows]; var nan = new bool[rows];
                tiles.Rank(queries, targets, items, width, ranks, loss, nan, mask is null ? 0 : cutoff, mask);
                for (int r = 0; r < rows; r++)
                    if (mask is null || mask[r]) Assert.Equal(cleanLoss[r], loss[r], 1e-4f);
                    else Assert.True(float.IsNaN(loss[r]));
            }
    }

    /// <summary>A request without lists (validation's TopK 0) takes the tiled path and ranks as the dense one does.</summary>
    [Theory]
    [InlineData(ModelKind.HrnnInit)]
    [InlineData(ModelKind.Rnn)]
    public void A_request_without_lists_ranks_as_one_with_lists(ModelKind kind)
    {
        TorchRuntime.EnsureLoaded();
        manual_seed(13);
        using var model = RandomModel(kind);
        // The third user's 150-click test session spans several 64-step chunks, each ranked by one call.
        var (data, evaluated) = UserHistories.Join(TestData.FromLists([[[1, 2, 3], [4, 5]], [[6, 7, 8]], [[2, 9], [3, 4, 5]]]),
            TestData.FromLists([[[5, 6, 7]], [[8, 9]], [[.. Enumerable.Range(0, 150).Select(i => 1 + i * 7 % 9)]]]));
        List<(int, int, long, float)> Ranks(int topK)
        {
            var result = new List<(int, int, long, float)>();
            new HrnnInference(model, CPU).Run(new HrnnInference.Request(data, 2, topK) { EvalSessions = evaluated }, rows =>
            {
                Assert.Equal(topK == 0 ? 0 : rows.Rank.Length * topK, rows.TopK.Length);
                for (int i = 0; i < rows.Rank.Length; i++)
                    result.Add((rows.UserBlock[i], rows.Position[i], rows.Rank[i], MathF.Round(rows.LogLoss[i], 4)));
            }, null);
            return [.. result.OrderBy(p => p.Item1).ThenBy(p => p.Item2)];
        }
        var withLists = Ranks(3);
        Assert.NotEmpty(withLists);
        Assert.Equal(withLists, Ranks(0));
    }

    /// <summary>Validation's request: ranks exact to the cutoff everywhere, losses (and exact ranks beyond it) only for
    /// every LossUserStride-th user block, no session-start rows.</summary>
    [Fact]
    public void A_validation_request_ranks_to_its_cutoff_and_samples_the_loss_by_user()
    {
        TorchRuntime.EnsureLoaded();
        manual_seed(17);
        // 59 items, so that ranks pass the cutoff plus the early-exit margin.
        using var model = new HrnnModel(new HrnnSettings { Model = ModelKind.HrnnInit, SessionHidden = 8, UserHidden = 8 }, 60);
        var (data, evaluated) = UserHistories.Join(TestData.FromLists([[[1, 22, 3], [44, 5]], [[6, 57, 8]], [[2, 39], [3, 4, 15]], [[7, 1]]]),
            TestData.FromLists([[[5, 16, 27, 38, 49]], [[8, 9, 51, 2]], [[.. Enumerable.Range(0, 40).Select(i => 1 + i * 7 % 59)]], [[3, 36, 59]]]));
        Dictionary<(int, int), (long Rank, float Loss)> Ranks(HrnnInference.Request request)
        {
            var result = new Dictionary<(int, int), (long, float)>();
            new HrnnInference(model, CPU).Run(request, rows =>
            {
                for (int i = 0; i < rows.Rank.Length; i++) result.Add((rows.UserBlock[i], rows.Position[i]), (rows.Rank[i], rows.LogLoss[i]));
            }, null);
            return result;
        }
        const int cutoff = 2;
        var exact = Ranks(new HrnnInference.Request(data, 2, 0) { EvalSessions = evaluated });
        var validation = Ranks(new HrnnInference.Request(data, 2, 0)
            { EvalSessions = evaluated, RankSessionStarts = false, RankCutoff = cutoff, LossUserStride = 2 });
        Assert.Contains(exact.Keys, key => key.Item2 == 0);
        Assert.Equal(exact.Keys.Where(key => key.Item2 > 0).Order(), validation.Keys.Order());
        Assert.Contains(validation, p => p.Key.Item1 % 2 == 1 && exact[p.Key].Rank > cutoff + TiledRanks.EarlyExitMargin);
        foreach (var (key, (rank, loss)) in validation)
        {
            var (exactRank, exactLoss) = exact[key];
            if (key.Item1 % 2 == 0) { Assert.Equal(exactRank, rank); Assert.Equal(exactLoss, loss, 1e-5f); continue; }
            Assert.True(float.IsNaN(loss));
            if (exactRank <= cutoff) Assert.Equal(exactRank, rank);
            else Assert.InRange(rank, cutoff + 1, exactRank);
        }
    }

    /// <summary>The state a user's next session starts from, captured as scoring does.</summary>
    static float[] NextSessionState(HrnnModel model, int[][][] users)
    {
        var data = TestData.FromLists(users);
        float[]? state = null;
        new HrnnInference(model, CPU).Run(new HrnnInference.Request(data, 1, 3) { CaptureFinal = true }, null,
            rows => state = rows.SessionState);
        return state!;
    }

    [Theory]
    [InlineData(ModelKind.HrnnInit)]
    [InlineData(ModelKind.HrnnAll)]
    public void A_sessions_last_item_reaches_the_user_state_and_the_next_sessions_start(ModelKind kind)
    {
        TorchRuntime.EnsureLoaded();
        manual_seed(5);
        using var model = RandomModel(kind);
        // Two histories that differ only in the very last click.
        var a = NextSessionState(model, [[[1, 2, 3], [4, 5, 6]]]);
        var b = NextSessionState(model, [[[1, 2, 3], [4, 5, 7]]]);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void The_reminder_mix_ranks_by_the_users_own_history_when_its_weight_is_one()
    {
        TorchRuntime.EnsureLoaded();
        manual_seed(7);
        using var model = new HrnnModel(new HrnnSettings { Model = ModelKind.HrnnInit, SessionHidden = 8, UserHidden = 8 }, 10)
        {
            // Start lists from the history alone, counted without decay.
            Reminders = new ReminderMix(StartWeight: 1, StartDecay: 1, NextWeight: 0, NextDecay: 1),
        };
        var data = TestData.FromLists([[[4, 9, 4], [9, 4, 2]]]);
        int[]? top = null;
        float[]? scores = null;
        new HrnnInference(model, CPU).Run(new HrnnInference.Request(data, 1, 3) { CaptureFinal = true }, null,
            rows => (top, scores) = (rows.TopK, rows.TopScores));
        // Item 4 was played 3 times, 9 twice, 2 once in 6 events: h = 3/6, 2/6, 1/6.
        Assert.Equal([4, 9, 2], top!);
        Assert.Equal([0.5f, 1 / 3f, 1 / 6f], scores!, (x, y) => Math.Abs(x - y) < 1e-6);
    }

    static Dictionary<int, (int[] Items, int SeenFill)> Captured(HrnnModel model, SessionDataset data, int k, bool excludeSeen)
    {
        var lists = new Dictionary<int, (int[], int)>();
        new HrnnInference(model, CPU).Run(new HrnnInference.Request(data, 2, k) { CaptureFinal = true, ExcludeSeen = excludeSeen }, null, rows =>
        {
            for (int r = 0; r < rows.UserBlock.Length; r++)
                lists[rows.UserBlock[r]] = (rows.TopK.AsSpan(r * rows.K, rows.K).ToArray(), rows.SeenFill[r]);
        });
        return lists;
    }

    /// <summary>The score stage's --exclude-seen: unseen items first, in the model's order, then (only where fewer than
    /// k are unseen) the best-scored seen ones, so even a user who has seen the whole catalogue gets k items.</summary>
    [Theory]
    [InlineData(ModelKind.HrnnInit)]
    [InlineData(ModelKind.RnnConcat)]
    public void Excluding_seen_items_fills_a_short_unseen_list_with_the_best_seen_items(ModelKind kind)
    {
        TorchRuntime.EnsureLoaded();
        manual_seed(5);
        using var model = RandomModel(kind);
        // Items 1..9: user 0 has seen all of them, user 1 seven, user 2 two.
        var data = TestData.FromLists([[[1, 2, 3, 4, 5], [6, 7, 8, 9]], [[1, 2, 3], [4, 5, 6, 7]], [[8, 9], [9, 8]]]);
        var everything = Captured(model, data, k: 9, excludeSeen: false);
        var excluded = Captured(model, data, k: 5, excludeSeen: true);
        int[][] seen = [[1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6, 7], [8, 9]];
        for (int u = 0; u < 3; u++)
        {
            var ranked = everything[u].Items;
            var expected = ranked.Where(i => !seen[u].Contains(i)).Concat(ranked.Where(seen[u].Contains)).Take(5).ToArray();
            Assert.Equal(expected, excluded[u].Items);
            Assert.Equal(Math.Max(0, 5 - (9 - seen[u].Length)), excluded[u].SeenFill);
        }
        Assert.All(everything.Values, list => Assert.Equal(0, list.SeenFill));
    }
}
