using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>Next-item predictions of one chunk: for each, the conservative full-catalogue rank of the target
/// (number of items scoring at least as high), the model's top-k and its own log loss (full softmax) of the target.
/// <see cref="NaNTarget"/>: the target's score was NaN, so it ranks last (the catalogue size).
/// <see cref="Predicted"/>: the value head's prediction for the target (binary: P(value &gt; 0)), null without a head.
/// <see cref="RankAmongCold"/>: with the request's cold items, the target's conservative rank among them alone.</summary>
public sealed record PredictionRows(int[] UserBlock, int[] Position, int[] Target, long[] Rank, int[] TopK, int K, float[] LogLoss,
    bool[] NaNTarget, float[]? Predicted = null, long[]? RankAmongCold = null);

/// <summary>States at the end of each captured user's history: the user state c_u, the next session's initial
/// state s_0, and the top-k for that session's start. With seen items excluded, a user with fewer than k unseen items
/// gets them first and then the best-scored items they have seen: <see cref="SeenFill"/> says how many (the list's
/// last ranks; their scores are the model's own, so they may exceed the unseen items' scores). With a value head,
/// <see cref="TopValues"/> holds each listed item's predicted value, and items below the request's MinOutcome are left
/// out: their slots hold item 0 (no item) with value NaN.</summary>
public sealed record CaptureRows(int[] UserBlock, float[] UserState, float[] SessionState, int[] TopK, float[] TopScores, int K,
    int[] SeenFill, float[]? TopValues = null);

/// <summary>
/// Runs users' sessions through a trained model with the same user-parallel batching as training (no dropout, no
/// gradients), for evaluation (full-ranking predictions inside flagged sessions) and for scoring (the state each
/// user's next session starts from). Rows needing full-catalogue scores are scored together per chunk, in blocks,
/// so the device is not synchronised per step.
/// </summary>
public sealed class HrnnInference(HrnnModel model, Device device)
{
    const int StepsPerChunk = 64;
    // Full-catalogue scores are computed a block of rows at a time, each block's scores about 8 MB: with 100k items
    // a 1,024-row block (400 MB per temporary) ran 3-7x slower, its time going to fresh pages for every temporary.
    const long ScoreBlockFloats = 2_000_000;
    readonly int _scoreBlock = (int)Math.Clamp(ScoreBlockFloats / model.ItemTableSize, 8, 1024);
    TiledRanks? _tiles;

    public sealed record Request(SessionDataset Data, int BatchSize, int TopK)
    {
        public bool[]? EvalSessions { get; init; }
        public bool CaptureFinal { get; init; }
        /// <summary>Rank items the user already consumed after every unseen item in captured top-k lists: they appear
        /// only where fewer than k items are unseen (<see cref="CaptureRows.SeenFill"/>).</summary>
        public bool ExcludeSeen { get; init; }
        public int[]? UserOrder { get; init; }
        /// <summary>Collects the validation figures that choose the model's <see cref="ReminderMix"/>.</summary>
        public ReminderFit? Fit { get; init; }
        /// <summary>Reports the events run through the model, a chunk at a time.</summary>
        public ProgressReporter? Progress { get; init; }
        /// <summary>Models with a value head: items predicted below this rank after every other item (evaluation)
        /// and are left out of captured lists (scoring). Null: no filter.</summary>
        public double? MinOutcome { get; init; }
        /// <summary>Rank and list only table rows 0..RankedItems-1 (evaluation: the prepared catalogue, which the
        /// baselines rank); null: every row, items only metadata knows included.</summary>
        public int? RankedItems { get; init; }
        /// <summary>Cold items (a cold-start evaluation): every prediction also gets its rank among these alone.</summary>
        public int[]? ColdItems { get; init; }
        /// <summary>Computes the captured lists instead of the dense per-block path below (scoring: Scoring's tiled exact
        /// and approximate top-k); null: the dense path, which is also the reference they are tested against.</summary>
        public ICaptureLists? Lists { get; init; }
        /// <summary>Predict session starts too (validation, which scores next items only, leaves them out).</summary>
        public bool RankSessionStarts { get; init; } = true;
        /// <summary>Without lists and the model alone (validation): ranks need only be exact up to this cutoff, and only
        /// the predictions of every <see cref="LossUserStride"/>-th user block get a loss, the others NaN and ranks
        /// beyond the cutoff that are lower bounds (<see cref="TiledRanks"/>). 0: exact ranks and losses everywhere.</summary>
        public int RankCutoff { get; init; }
        public int LossUserStride { get; init; } = 1;
        /// <summary>Whether the predictions of user block <paramref name="userBlock"/> get a loss.</summary>
        public bool GivesLoss(int userBlock) => LossUserStride <= 1 || userBlock % LossUserStride == 0;
    }

    /// <summary>Captured users' lists from their query vectors, written into <see cref="CaptureBlock"/>'s arrays.</summary>
    public interface ICaptureLists
    {
        /// <summary>False where it cannot serve the block (then the dense path runs).</summary>
        bool Fill(CaptureBlock block);
    }

    /// <summary>One chunk's captured users: <see cref="Queries"/> [users, H] (s_0, or the start head's query), their
    /// history rows, the data seen items are excluded from (null: none excluded), the mix (null: the model alone) and
    /// the arrays to fill, k per user, as the dense path fills them.</summary>
    public sealed record CaptureBlock(HrnnModel Model, HrnnModel.ItemRows Items, Tensor Queries, int[] Users, HistoryRow[] History,
        SessionDataset Data, SessionDataset? ExcludeFrom, ReminderMix? Mix, int K, int Width, int[] TopK, float[] TopScores, int[] SeenFill);

    public void Run(Request request, Action<PredictionRows>? onPredictions, Action<CaptureRows>? onCapture,
        CancellationToken ct = default)
    {
        model.eval();
        var data = request.Data;
        var order = request.UserOrder ?? Enumerable.Range(0, data.UserCount).ToArray();
        var batcher = new UserParallelBatcher(data, model.Settings.Model, request.BatchSize, order,
            request.EvalSessions, request.CaptureFinal);
        int width = request.RankedItems ?? model.ItemTableSize;
        if (width < 2 || width > model.ItemTableSize)
            throw new ArgumentOutOfRangeException(nameof(request), $"ranked items {width}: outside 2..{model.ItemTableSize}");
        int k = Math.Min(request.TopK, width - 1);
        using var _ = no_grad();
        // With metadata, every item's rows are computed once for the pass (without, these are the parameters).
        using var items = model.AllItems();
        var state = model.ZeroState(request.BatchSize, device);
        using var cold = request.ColdItems is { Length: > 0 } coldItems ? tensor(coldItems.Select(i => (long)i).ToArray()).to(device) : null;
        var mixer = model.Reminders.IsNone && request.Fit is null ? null : new ReminderMixer(data, width);
        var baseline = OutcomeTraining.UsesBaseline(model.Settings) ? new OutcomeBaseline(data) : null;
        long fed = 0;
        foreach (var chunk in batcher.Chunks(StepsPerChunk, narrowTail: true))
        {
            ct.ThrowIfCancellationRequested();
            if (chunk.KeptSlots is { } kept) state = Narrow(state, kept);
            int batch = chunk.Batch;
            using var scope = NewDisposeScope();
            var (inputs, sessionStart, userStart) = Upload(chunk);
            var users = model.HasUserMetadata ? UserRows(chunk, data.Users) : null;
            var queries = new List<Tensor>();
            // The value head reads session states: s_0 at a session start (not the start head's query), h_t after.
            var outcomeQueries = new List<Tensor>();
            var captureUser = new List<Tensor>();
            var captureSession = new List<Tensor>();
            var predUser = new List<int>(); var predPos = new List<int>(); var predTarget = new List<int>();
            var predBase = new List<float>(); var capBase = new List<float>();
            var capUsers = new List<int>();
            var predRows = new List<HistoryRow>(); var capRows = new List<HistoryRow>();
            for (int t = 0; t < chunk.Steps; t++)
            {
                var (next, initial) = model.Step(items.Input, inputs[t], state, sessionStart[t], userStart[t], training: false, users?[t]);
                foreach (var old in state.Session) old.Dispose();
                state.User?.Dispose();
                state = new HrnnModel.State(next.Session.Select(x => x.DetachFromDisposeScope()).ToArray(),
                    next.User?.DetachFromDisposeScope());
                var startRows = new List<long>(); var nextRows = new List<long>(); var captures = new List<long>();
                for (int b = 0; b < batch; b++)
                {
                    int row = t * batch + b;
                    var flags = (StepFlags)chunk.Flags[row];
                    if ((flags & StepFlags.Capture) != 0)
                    {
                        captures.Add(b); capUsers.Add(chunk.User[row]);
                        capBase.Add(baseline?.All(chunk.User[row]) ?? 0f);
                        capRows.Add(HistoryRow.Of(data, chunk.User[row], -1, 0, sessionStart: true, capture: true));
                    }
                    if (chunk.EvalUser[row] < 0) continue;
                    if ((flags & StepFlags.SessionStart) != 0 && initial is not null && chunk.Input[row] != 0 && request.RankSessionStarts)
                        startRows.Add(b);
                    if (chunk.Target[row] != 0) nextRows.Add(b);
                }
                // The prediction lists follow the query order exactly: this step's start rows, then its next rows.
                foreach (int b in startRows)
                {
                    int row = t * batch + b;
                    predUser.Add(chunk.EvalUser[row]); predPos.Add(0); predTarget.Add(chunk.Input[row]);
                    predBase.Add(baseline?.Before(chunk.Event[row]) ?? 0f);
                    predRows.Add(HistoryRow.Of(data, chunk.EvalUser[row], chunk.Event[row], 0, sessionStart: true, capture: false));
                }
                foreach (int b in nextRows)
                {
                    int row = t * batch + b;
                    predUser.Add(chunk.EvalUser[row]); predPos.Add(chunk.EvalPosition[row]); predTarget.Add(chunk.Target[row]);
                    predBase.Add(baseline?.Before(chunk.Event[row] + 1) ?? 0f);
                    predRows.Add(HistoryRow.Of(data, chunk.EvalUser[row], chunk.Event[row], chunk.EvalPosition[row], sessionStart: false, capture: false));
                }
                if (startRows.Count > 0)
                    queries.Add(model.StartQuery(initial!.index_select(0, Index(startRows))));
                if (nextRows.Count > 0)
                    queries.Add(state.Session[^1].index_select(0, Index(nextRows)));
                if (model.HasOutcomeHead && startRows.Count > 0) outcomeQueries.Add(initial!.index_select(0, Index(startRows)));
                if (model.HasOutcomeHead && nextRows.Count > 0) outcomeQueries.Add(state.Session[^1].index_select(0, Index(nextRows)));
                if (captures.Count > 0)
                {
                    var idx = Index(captures);
                    // The state the next session's first click is read from, as offline inference has it: s_0 for the
                    // models with a user GRU; for rnn, which resets at every session start, the zero state (its capture
                    // row's step read the padding item, which offline never feeds); rnn-concat carries the state past
                    // the user's last item on (its capture row is no session start).
                    var sessionState = initial is not null
                        ? initial.index_select(0, idx)
                        : state.Session[^1].index_select(0, idx).mul(sessionStart[t].index_select(0, idx).OneMinus());
                    captureSession.Add(sessionState);
                    if (state.User is not null) captureUser.Add(state.User.index_select(0, idx));
                }
            }
            if (onPredictions is not null && predTarget.Count > 0)
                onPredictions(RankTargets(cat(queries, 0), outcomeQueries.Count > 0 ? cat(outcomeQueries, 0) : null,
                    predUser.ToArray(), predPos.ToArray(), predTarget.ToArray(), k, predRows.ToArray(), mixer, request.Fit,
                    request.MinOutcome, baseline is null ? null : predBase.ToArray(), items, width, cold, request));
            if (onCapture is not null && capUsers.Count > 0)
                onCapture(Capture(capUsers.ToArray(), captureUser, captureSession, k, request.ExcludeSeen ? data : null, capRows.ToArray(), mixer,
                    request.MinOutcome, baseline is null ? null : capBase.ToArray(), items, width, request.Lists, data));
            if (request.Progress is { } progress)
            {
                fed += chunk.Event.Take(chunk.Steps * batch).Count(e => e >= 0);
                progress.Report(fed);
            }
        }
        request.Progress?.Done();
        _tiles?.Dispose();
        _tiles = null;
        foreach (var s in state.Session) s.Dispose();
        state.User?.Dispose();
    }

    /// <summary>The states of the kept slots only, in their new order; the old states are freed.</summary>
    HrnnModel.State Narrow(HrnnModel.State state, int[] kept)
    {
        using var index = tensor(kept.Select(b => (long)b).ToArray()).to(device);
        var narrowed = new HrnnModel.State(state.Session.Select(s => s.index_select(0, index)).ToArray(), state.User?.index_select(0, index));
        foreach (var s in state.Session) s.Dispose();
        state.User?.Dispose();
        return narrowed;
    }

    (Tensor[] Inputs, Tensor[] SessionStart, Tensor[] UserStart) Upload(StepChunk chunk)
    {
        var n = chunk.Steps * chunk.Batch;
        var input = tensor(chunk.Input.AsSpan(0, n).ToArray().Select(i => (long)i).ToArray(), [chunk.Steps, chunk.Batch]).to(device);
        var starts = new float[n];
        var users = new float[n];
        for (int r = 0; r < n; r++)
        {
            starts[r] = (chunk.Flags[r] & (byte)StepFlags.SessionStart) != 0 ? 1 : 0;
            users[r] = (chunk.Flags[r] & (byte)StepFlags.UserStart) != 0 ? 1 : 0;
        }
        var sessionStart = tensor(starts, [chunk.Steps, chunk.Batch, 1]).to(device);
        var userStart = tensor(users, [chunk.Steps, chunk.Batch, 1]).to(device);
        return (input.unbind(0), sessionStart.unbind(0), userStart.unbind(0));
    }

    Tensor Index(List<long> rows) => tensor(rows.ToArray()).to(device);

    /// <summary>Per step, each slot's user index (the rows of the model's user metadata), as training reads them.</summary>
    Tensor[] UserRows(StepChunk chunk, int[] users) =>
        Enumerable.Range(0, chunk.Steps).Select(t => tensor(StepBuilder.UserRows(chunk, t, users)).to(device)).ToArray();

    Tensor? Bases(float[]? bases, int start, int n) => bases is null ? null : tensor(bases.AsSpan(start, n).ToArray()).to(device);

    PredictionRows RankTargets(Tensor queries, Tensor? outcomeQueries, int[] users, int[] positions, int[] targets, int k,
        HistoryRow[] history, ReminderMixer? mixer, ReminderFit? fit, double? minOutcome, float[]? bases, HrnnModel.ItemRows items,
        int width, Tensor? cold, Request request)
    {
        if (k == 0 && mixer is null && fit is null && outcomeQueries is null && cold is null)
        {
            // No lists, the model alone (validation): ranks and losses from tiles of items, no dense scores.
            var tiledRanks = new long[targets.Length];
            var tiledLoss = new float[targets.Length];
            var tiledNaN = new bool[targets.Length];
            _tiles ??= new TiledRanks();
            bool[]? withLoss = request.LossUserStride > 1 ? users.Select(request.GivesLoss).ToArray() : null;
            _tiles.Rank(queries, targets, items, width, tiledRanks, tiledLoss, tiledNaN, request.RankCutoff, withLoss);
            return new PredictionRows(users, positions, targets, tiledRanks, [], 0, tiledLoss, tiledNaN);
        }
        var predicted = outcomeQueries is null ? null : new float[targets.Length];
        var ranks = new long[targets.Length];
        var nanTarget = new bool[targets.Length];
        var topK = new int[targets.Length * k];
        var logLoss = new float[targets.Length];
        var amongCold = cold is null ? null : new long[targets.Length];
        for (int start = 0; start < targets.Length; start += _scoreBlock)
        {
            int n = Math.Min(_scoreBlock, targets.Length - start);
            using var scope = NewDisposeScope();
            var scores = Ranked(model.ScoreAll(queries.narrow(0, start, n), items), width);
            var target = tensor(targets.AsSpan(start, n).ToArray().Select(i => (long)i).ToArray()).to(device).unsqueeze(1);
            var rows = history.AsSpan(start, n);
            if (fit is not null) fit.Add(mixer!, scores, target, rows);
            var ranked = mixer?.Mix(scores, rows, model.Reminders) ?? scores;
            Tensor? accepted = null;
            if (outcomeQueries is not null)
            {
                var values = model.OutcomeAll(outcomeQueries.narrow(0, start, n),
                    bases is null ? null : tensor(bases.AsSpan(start, n).ToArray()).to(device));
                values.gather(1, target).squeeze(1).cpu().data<float>().CopyTo(predicted!, start);
                if (minOutcome is { } min) accepted = Ranked(values, width).ge(min);
            }
            (accepted is null ? ConservativeRanks(ranked, target) : OutcomeFilter.Ranks(ranked, target, accepted))
                .cpu().data<long>().CopyTo(ranks, start);
            ranked.gather(1, target).squeeze(1).isnan().cpu().data<bool>().CopyTo(nanTarget, start);
            if (cold is not null) RanksAmong(ranked, target, cold).cpu().data<long>().CopyTo(amongCold!, start);
            // The model's own log loss (validation loss), whatever the list mixes in.
            scores.logsumexp(1).Minus(scores.gather(1, target).squeeze(1)).cpu().data<float>().CopyTo(logLoss, start);
            if (k == 0) continue; // ranks only (validation of a model with a value head)
            var top = ranked.topk(k, 1).indexes.to_type(ScalarType.Int32).cpu();
            top.data<int>().CopyTo(topK, start * k);
        }
        return new PredictionRows(users, positions, targets, ranks, topK, k, logLoss, nanTarget, predicted, amongCold);
    }

    /// <summary>The first <paramref name="width"/> columns of [rows, items] scores (all of them at full width).</summary>
    static Tensor Ranked(Tensor scores, int width) => scores.shape[1] == width ? scores : scores.narrow(1, 0, width);

    /// <summary>
    /// Conservative full-catalogue rank of each row's target (<paramref name="target"/>: [rows, 1]): the number of
    /// items 1..N scoring at least the target's score, the target included; the padding column never counts. NaN
    /// counts as the lowest score, as in the evaluation's Ranking: a NaN item never ranks ahead, and a NaN target
    /// ranks last, N (a plain count would give it rank 0: NaN compares false with everything).
    /// </summary>
    public static Tensor ConservativeRanks(Tensor scores, Tensor target)
    {
        var targetScore = scores.gather(1, target);
        long catalogue = scores.shape[1] - 1;
        var ahead = scores.narrow(1, 1, catalogue).ge(targetScore).sum(1);
        // Tensors, not Scalars: a temporary Scalar handed to libtorch can be finalized mid-call (see Scalars).
        return where(targetScore.squeeze(1).isnan(), tensor(catalogue, device: scores.device), ahead);
    }

    /// <summary>Each row's conservative rank of its target among the items <paramref name="among"/> only (NaN lowest).</summary>
    static Tensor RanksAmong(Tensor scores, Tensor target, Tensor among)
    {
        var targetScore = scores.gather(1, target);
        var ahead = scores.index_select(1, among).ge(targetScore).sum(1);
        return where(targetScore.squeeze(1).isnan(), tensor(among.shape[0], device: scores.device), ahead);
    }

    CaptureRows Capture(int[] users, List<Tensor> userStates, List<Tensor> sessionStates, int k, SessionDataset? excludeFrom,
        HistoryRow[] history, ReminderMixer? mixer, double? minOutcome, float[]? bases, HrnnModel.ItemRows items, int width,
        ICaptureLists? lists, SessionDataset data)
    {
        var topValues = model.HasOutcomeHead ? new float[users.Length * k] : null;
        var session = cat(sessionStates, 0);
        var user = userStates.Count > 0 ? cat(userStates, 0) : null;
        var topK = new int[users.Length * k];
        var topScores = new float[users.Length * k];
        var seenFill = new int[users.Length];
        using var padding = tensor(new long[] { 0 }, device: device);
        // A value filter masks items by a second dense product: only the dense path below does that.
        bool filled = lists is not null && (topValues is null || minOutcome is null) && lists.Fill(new CaptureBlock(model, items,
            model.HasStartHead ? model.StartQuery(session) : session, users, history, data, excludeFrom,
            mixer is null ? null : model.Reminders, k, width, topK, topScores, seenFill));
        for (int start = filled ? users.Length : 0; start < users.Length; start += _scoreBlock)
        {
            int n = Math.Min(_scoreBlock, users.Length - start);
            using var scope = NewDisposeScope();
            var states = session.narrow(0, start, n);
            var modelScores = Ranked(model.ScoreAll(model.HasStartHead ? model.StartQuery(states) : states, items), width);
            var scores = mixer?.Mix(modelScores, history.AsSpan(start, n), model.Reminders) ?? modelScores;
            // The mix turns the padding's -inf into probability 0, a tie with underflowed items: never list it.
            scores.index_fill_(1, padding, Scalars.NegativeInfinity);
            // Items the model expects the user to reject or rate low never enter the list (their slots stay empty).
            if (topValues is not null && minOutcome is { } min)
                scores = scores.masked_fill(Ranked(model.OutcomeAll(states, Bases(bases, start, n)), width).ge(min).logical_not(), Scalars.NegativeInfinity);
            if (excludeFrom is null)
            {
                var (values, indexes) = scores.topk(k, 1);
                indexes.to_type(ScalarType.Int32).cpu().data<int>().CopyTo(topK, start * k);
                values.cpu().data<float>().CopyTo(topScores, start * k);
                continue;
            }
            var seen = SeenMask(users.AsSpan(start, n), excludeFrom, width, out var seenCount);
            var (unseenValues, unseenIndexes) = scores.masked_fill(seen, Scalars.NegativeInfinity).topk(k, 1);
            unseenIndexes.to_type(ScalarType.Int32).cpu().data<int>().CopyTo(topK, start * k);
            unseenValues.cpu().data<float>().CopyTo(topScores, start * k);
            int catalogue = width - 1;
            if (!seenCount.Any(c => catalogue - c < k)) continue;
            // Fewer unseen items than k: the list goes on with the best-scored seen items, so nobody's list is short.
            var (seenValues, seenIndexes) = scores.masked_fill(seen.logical_not(), Scalars.NegativeInfinity).topk(k, 1);
            var fillItems = seenIndexes.to_type(ScalarType.Int32).cpu().data<int>().ToArray();
            var fillScores = seenValues.cpu().data<float>().ToArray();
            for (int r = 0; r < n; r++)
            {
                int unseen = catalogue - seenCount[r];
                if (unseen >= k) continue;
                int row = (start + r) * k;
                seenFill[start + r] = k - unseen;
                Array.Copy(fillItems, r * k, topK, row + unseen, k - unseen);
                Array.Copy(fillScores, r * k, topScores, row + unseen, k - unseen);
            }
        }
        if (topValues is not null) OutcomeFilter.ListValues(model, session, bases, topK, topScores, k, topValues, _scoreBlock);
        return new CaptureRows(users,
            user is null ? [] : user.cpu().data<float>().ToArray(),
            session.cpu().data<float>().ToArray(), topK, topScores, k, seenFill, topValues);
    }

    /// <summary>[rows, items] true where the row's user has consumed the item; <paramref name="seenCount"/>: how many
    /// distinct catalogue items each has consumed.</summary>
    Tensor SeenMask(ReadOnlySpan<int> users, SessionDataset data, int width, out int[] seenCount)
    {
        var rows = new List<long>();
        var cols = new List<long>();
        seenCount = SeenItems(users, data, width, rows, cols);
        var seen = zeros(users.Length, width, ScalarType.Bool, device: device);
        if (rows.Count > 0)
            seen.index_put_(ones(rows.Count, ScalarType.Bool, device: device), tensor(rows.ToArray()).to(device), tensor(cols.ToArray()).to(device));
        return seen;
    }

    /// <summary>The distinct catalogue items (1..width-1) each user consumed, as (row, item) entries in first-consumed
    /// order; returns how many each has.</summary>
    public static int[] SeenItems(ReadOnlySpan<int> users, SessionDataset data, int width, List<long> rows, List<long> items)
    {
        var distinct = new HashSet<int>();
        var seenCount = new int[users.Length];
        for (int r = 0; r < users.Length; r++)
        {
            int u = users[r];
            int first = data.SessionStarts[data.UserStarts[u]], last = data.SessionStarts[data.UserStarts[u + 1]];
            distinct.Clear();
            for (int e = first; e < last; e++)
            {
                int item = data.Items[e];
                if ((uint)(item - 1) >= (uint)(width - 1) || !distinct.Add(item)) continue;
                rows.Add(r); items.Add(item);
            }
            seenCount[r] = distinct.Count;
        }
        return seenCount;
    }
}
