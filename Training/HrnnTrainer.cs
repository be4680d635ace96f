using System.Diagnostics;
using System.Text.Json.Nodes;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>One epoch: <see cref="Loss"/> is the next-item loss (mean over next-item targets), the figure every model
/// kind has, so runs of rnn and hrnn compare on it; <see cref="StartLoss"/> is the session-start objective's loss (mean
/// over the session starts it trained on, before its weight), null for models without it. The objective trained is
/// Loss + SessionStartWeight x StartLoss per step.</summary>
public sealed record EpochResult(int Epoch, double Loss, double? StartLoss, double? ValidLoss, double? ValidRecall, double? ValidMrr,
    double Seconds, double EventsPerSecond, double? OutcomeLoss = null, double ValidSeconds = 0);

/// <param name="Refit">With <see cref="HrnnSettings.Refit"/>: the second training, on every session, for BestEpoch epochs.</param>
public sealed record TrainResult(HrnnSettings Settings, IReadOnlyList<EpochResult> Epochs, int BestEpoch,
    double TrainSeconds, double EventsPerSecond, bool StoppedEarly, int ResumedFromEpoch, ReminderMix Reminders,
    OutcomeSummary? Outcome = null, TrainResult? Refit = null);

/// <summary>The model to publish or evaluate (<see cref="Trainer"/>'s), and with a refit the model early stopping
/// chose before it (<see cref="HeldOut"/>, which never saw the held-out sessions: what `evaluate --version` can judge
/// honestly). <see cref="HeldOutItems"/> is the item map the held-out model is indexed by.</summary>
public sealed record TrainedModel(HrnnTrainer Trainer, TrainResult Result, HrnnTrainer? HeldOut, IdMap HeldOutItems) : IDisposable
{
    public HrnnModel Model => Trainer.Model;

    public void Dispose()
    {
        Trainer.Dispose();
        HeldOut?.Dispose();
    }
}

/// <summary>
/// Trains an <see cref="HrnnModel"/> with user-parallel mini-batches. Each epoch draws a new user order from the
/// seed and the epoch number alone, and reseeds dropout the same way, so a run resumed from an epoch checkpoint
/// continues exactly as the uninterrupted run would (on CPU). After each epoch the model is scored on the
/// validation split with full ranking (never the test split); the best epoch's weights are kept and restored.
/// </summary>
public sealed class HrnnTrainer : IDisposable
{
    const int StepsPerChunk = 64;
    /// <summary>Validation's loss is a diagnostic (early stopping reads MRR@cutoff): it is the mean over the predictions
    /// of about this many validation users (every user's up to twice as many), whose ranking then needs every item's
    /// score; the others stop once their target is out of the cutoff (BENCHMARKS.md, "Validation: stopping at the
    /// cutoff"). On lastfm's 190 users a quarter of them moved the loss by 15%; 2,500 of 10,000 by 0.5%.</summary>
    const int ValidationLossUsers = 2_500;

    /// <summary>Every how many validation users one gives the loss.</summary>
    public static int ValidationLossUserStride(int users) => Math.Max(1, users / ValidationLossUsers);
    readonly HrnnSettings _s;
    readonly IdMap _items;
    readonly Device _device;
    readonly string _checkpointDir;
    readonly double[] _sampleCdf;
    readonly StepLosses _losses;

    public HrnnModel Model { get; }
    /// <summary>The item map the model's tables are indexed by.</summary>
    public IdMap Items => _items;
    // The rows of the map the trainer was given (validation ranks these), before the items only metadata knows.
    readonly int _trainedItems;
    // The item tables in optimiser order, and which of them hold the output embeddings and biases.
    readonly Parameter[] _tables;
    readonly int _outputSlot, _biasSlot, _outcomeSlot, _outcomeBiasSlot;
    // Targets of the last epoch: positive, negative (ranking weight 0), and the positives' weight.
    long _positives, _negatives;
    OutcomeBaseline? _baseline;
    PartStates? _parts;
    double _positiveWeight;
    /// <summary>Called after each epoch's checkpoint is written (tests use it to simulate a kill).</summary>
    public Action<int>? AfterCheckpoint { get; init; }

    /// <param name="metadata">Item and user metadata (<see cref="HrnnSettings.Metadata"/>): items only it knows get rows
    /// after <paramref name="items"/>' (in <see cref="Items"/>), which are never trained, drawn or targets.</param>
    public HrnnTrainer(HrnnSettings settings, IdMap items, Device device, string checkpointDir, MetadataSource? metadata = null)
    {
        settings.Validate();
        _s = settings;
        _items = settings.Metadata && metadata is not null ? metadata.ExtendItems(items) : items;
        _device = device;
        _checkpointDir = checkpointDir;
        Directory.CreateDirectory(checkpointDir);
        manual_seed(settings.Seed);
        _trainedItems = items.TableSize;
        Model = new HrnnModel(settings, _items.TableSize, ModelMetadata.For(settings, metadata, _items));
        Model.to(device);
        var tables = Model.ItemTables().ToList();
        _tables = tables.Select(t => t.Param).ToArray();
        _outputSlot = tables.FindIndex(t => t.Name == "output_table");
        _biasSlot = tables.FindIndex(t => t.Name == "output_bias");
        _outcomeSlot = tables.FindIndex(t => t.Name == "outcome_table");
        _outcomeBiasSlot = tables.FindIndex(t => t.Name == "outcome_bias");
        // Extra negatives are drawn with probability proportional to popularity^alpha (GRU4Rec's sample_alpha).
        var weights = LogQCorrection.DrawWeights(items.Counts, settings.SampleAlpha);
        double total = weights.Sum(), acc = 0;
        _sampleCdf = weights.Select(w => acc += w / total).ToArray();
        _losses = new StepLosses(settings, items.Counts, device);
    }

    /// <summary>
    /// What `run`, `train` and `evaluate` train: early stopping on <paramref name="fit"/> / <paramref name="valid"/> picks
    /// the epochs and the reminder mix; then, with <see cref="HrnnSettings.Refit"/>, the same training runs again from
    /// the seed's initial weights for that many epochs on <paramref name="all"/> (every session the model may learn from,
    /// indexed by <paramref name="allItems"/>), and that model, with the chosen mix, is the one returned to publish or
    /// evaluate. Without a validation split there is nothing to choose: one training on <paramref name="all"/>.
    /// </summary>
    public static TrainedModel TrainAndRefit(HrnnSettings settings, IdMap items, SessionDataset fit, SessionDataset? valid,
        IdMap allItems, SessionDataset all, Device device, string checkpointDir, bool resume, CancellationToken ct = default,
        MetadataSource? metadata = null)
    {
        if (!settings.Refit) return Once(settings, items, fit, valid, device, checkpointDir, resume, ct, metadata);
        if (valid is not { UserCount: > 0 }) return Once(settings, allItems, all, null, device, checkpointDir, resume, ct, metadata);
        var selected = Once(settings, items, fit, valid, device, checkpointDir, resume, ct, metadata);
        var again = settings with { Epochs = Math.Max(selected.Result.BestEpoch, 1), Patience = 0 };
        if (!ProgressReporter.Quiet)
            Console.Error.WriteLine($"refit: {again.Epochs} epochs (chosen on validation) on all {all.EventCount:N0} events of {all.UserCount:N0} users");
        var refit = new HrnnTrainer(again, allItems, device, Path.Combine(checkpointDir, "refit"), metadata);
        try
        {
            var refitResult = refit.Train(all, null, resume, ct);
            refit.Model.Reminders = selected.Trainer.Model.Reminders;
            return selected with { Trainer = refit, HeldOut = selected.Trainer, Result = selected.Result with { Refit = refitResult } };
        }
        catch
        {
            refit.Dispose();
            selected.Dispose();
            throw;
        }
    }

    static TrainedModel Once(HrnnSettings settings, IdMap items, SessionDataset fit, SessionDataset? valid, Device device,
        string checkpointDir, bool resume, CancellationToken ct, MetadataSource? metadata)
    {
        var trainer = new HrnnTrainer(settings, items, device, checkpointDir, metadata);
        try { return new TrainedModel(trainer, trainer.Train(fit, valid, resume, ct), null, trainer.Items); }
        catch { trainer.Dispose(); throw; }
    }

    string CheckpointPath => Path.Combine(_checkpointDir, "checkpoint.hrnn");
    string BestPath => Path.Combine(_checkpointDir, "best.hrnn");

    public TrainResult Train(SessionDataset fit, SessionDataset? valid, bool resume, CancellationToken ct = default)
    {
        OutcomeTraining.Check(_s, fit);
        using var optimizer = new RowSparseOptimizer(Model, _s);
        _parts?.Dispose();
        _parts = new PartStates(Model, new UserParallelBatcher(fit, _s.Model, _s.BatchSize, [], maxSessionsPerSlot: _s.MaxSessionsPerSlot,
            burnIn: _s.BurnIn).PartCount, _device);
        var epochs = new List<EpochResult>();
        int bestEpoch = 0, resumedFrom = 0;
        double bestMetric = double.NegativeInfinity;
        if (resume && File.Exists(CheckpointPath))
        {
            using var saved = TensorArchive.Load(CheckpointPath);
            var savedSettings = TensorArchive.FromJson<HrnnSettings>(saved.Metadata["settings"]!);
            if (savedSettings with { Epochs = _s.Epochs, Device = _s.Device } != _s with { Device = _s.Device })
                throw new PipelineException($"{CheckpointPath}: was written with other settings; train without --resume to start over");
            LoadParameters(Model, saved.Tensors);
            optimizer.LoadState(saved.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value.to(_device)));
            _parts.Load(saved.Tensors);
            epochs.AddRange(TensorArchive.FromJson<List<EpochResult>>(saved.Metadata["epochs"]!));
            bestEpoch = saved.Metadata["best_epoch"]!.GetValue<int>();
            bestMetric = saved.Metadata["best_metric"]!.GetValue<double>();
            resumedFrom = epochs.Count;
        }
        else
        {
            if (File.Exists(CheckpointPath)) File.Delete(CheckpointPath);
            if (File.Exists(BestPath)) File.Delete(BestPath);
        }

        if (valid is not null && valid.UserCount > _s.ValidationUsers)
        {
            var sample = new Random(_s.Seed);
            valid = valid.OfUsers(Enumerable.Range(0, valid.UserCount).OrderBy(_ => sample.Next()).Take(_s.ValidationUsers).Order().ToArray());
        }
        var validation = valid is { UserCount: > 0 } ? UserHistories.Join(fit, valid) : default;
        // Each epoch's figures bootstrap users from their last ValidationHistorySessions fit sessions; the reminder
        // mix is fitted once, on the whole histories its history features come from.
        var perEpoch = validation.Data is not null && _s.ValidationHistorySessions > 0
            ? UserHistories.Join(fit, valid!, _s.ValidationHistorySessions) : validation;
        if (perEpoch.Data is not null && perEpoch.Data.EventCount < validation.Data!.EventCount && !ProgressReporter.Quiet)
            Console.Error.WriteLine($"validation: each user's last {_s.ValidationHistorySessions} fit sessions, " +
                $"{perEpoch.Data.EventCount:N0} of {validation.Data.EventCount:N0} events");
        bool stoppedEarly = false;
        for (int epoch = epochs.Count + 1; epoch <= _s.Epochs; epoch++)
        {
            ct.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            var (loss, startLoss, outcomeLoss, events) = RunEpoch(fit, optimizer, epoch, ct);
            double trainSeconds = clock.Elapsed.TotalSeconds;
            double? validLoss = null, recall = null, mrr = null;
            if (perEpoch.Data is not null)
                (validLoss, recall, mrr) = Validate(perEpoch.Data, perEpoch.Evaluated, ct);
            var result = new EpochResult(epoch, loss, startLoss, validLoss, recall, mrr, trainSeconds, events / Math.Max(trainSeconds, 1e-9),
                outcomeLoss, clock.Elapsed.TotalSeconds - trainSeconds);
            epochs.Add(result);
            // Without a validation split the last epoch is the best one.
            double metric = mrr ?? epoch;
            if (metric > bestMetric)
            {
                bestMetric = metric;
                bestEpoch = epoch;
                TensorArchive.Save(BestPath, Metadata(epochs, bestEpoch, bestMetric), Model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)));
            }
            TensorArchive.Save(CheckpointPath, Metadata(epochs, bestEpoch, bestMetric),
                Model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(optimizer.State()).Concat(_parts.Tensors()));
            AfterCheckpoint?.Invoke(epoch);
            if (_s.Patience > 0 && validation.Data is not null && epoch - bestEpoch >= _s.Patience)
            {
                stoppedEarly = true;
                break;
            }
        }
        if (File.Exists(BestPath))
        {
            using var best = TensorArchive.Load(BestPath);
            LoadParameters(Model, best.Tensors);
        }
        Model.Reminders = _s.Reminders && validation.Data is not null
            ? FitReminders(validation.Data, validation.Evaluated, ct)
            : ReminderMix.None;
        double seconds = epochs.Sum(e => e.Seconds);
        double eventsPerSecond = epochs.Count == 0 ? 0 : epochs.Average(e => e.EventsPerSecond);
        var outcome = _s.Outcome == OutcomeKind.Positive && !_s.EventWeights ? null
            : new OutcomeSummary(OutcomeTraining.Name(_s.Outcome), _s.EventWeights, _positives, _negatives,
                _positives == 0 ? 0 : _positiveWeight / _positives, epochs.Count == 0 ? null : epochs[^1].OutcomeLoss);
        return new TrainResult(_s, epochs, bestEpoch, seconds, eventsPerSecond, stoppedEarly, resumedFrom, Model.Reminders, outcome);
    }

    JsonObject Metadata(List<EpochResult> epochs, int bestEpoch, double bestMetric) => new()
    {
        ["settings"] = TensorArchive.ToJson(_s),
        ["epochs"] = System.Text.Json.JsonSerializer.SerializeToNode(epochs, Json.Options),
        ["best_epoch"] = bestEpoch,
        ["best_metric"] = bestMetric,
    };

    public static void LoadParameters(HrnnModel model, IReadOnlyDictionary<string, Tensor> tensors)
    {
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (!tensors.TryGetValue(name, out var value))
                throw new PipelineException($"model file lacks parameter {name}; it was written by another model configuration");
            p.copy_(value);
        }
    }

    /// <summary>One pass over the training users in a new random order. Returns the mean next-item loss, the mean
    /// session-start loss (null when the model trains none) and the number of next-item targets trained.</summary>
    (double Loss, double? StartLoss, double? OutcomeLoss, long Events) RunEpoch(SessionDataset fit, RowSparseOptimizer optimizer, int epoch, CancellationToken ct)
    {
        Model.train();
        int epochSeed = unchecked(_s.Seed * 1_000_003 + epoch);
        manual_seed(epochSeed);
        var rng = new Random(epochSeed);
        var order = Enumerable.Range(0, fit.UserCount).ToArray();
        rng.Shuffle(order);
        var batcher = new UserParallelBatcher(fit, _s.Model, _s.BatchSize, order, maxSessionsPerSlot: _s.MaxSessionsPerSlot,
            burnIn: _s.BurnIn);
        long total = batcher.CountTargets(), done = 0;
        var progress = new ProgressReporter($"epoch {epoch}/{_s.Epochs}", total, "events");
        var state = Model.ZeroState(_s.BatchSize, _device);
        _baseline = OutcomeTraining.UsesBaseline(_s) ? new OutcomeBaseline(fit) : null;
        var builder = new StepBuilder(_s, Model, _sampleCdf, _items.TableSize, _device, _parts!, _baseline, rng);
        using var lossSum = zeros(1, device: _device);
        using var startLossSum = zeros(1, device: _device);
        using var outcomeLossSum = zeros(1, device: _device);
        double lossWeight = 0, startWeight = 0, outcomeRows = 0;
        _positives = _negatives = 0;
        _positiveWeight = 0;
        foreach (var chunk in batcher.Chunks(StepsPerChunk))
        {
            ct.ThrowIfCancellationRequested();
            for (int t0 = 0; t0 < chunk.Steps; t0 += _s.BpttSteps)
            {
                using var scope = NewDisposeScope();
                // One window: its steps share one set of gathered item rows, one backward pass and one update.
                builder.BeginWindow();
                var steps = new StepData[Math.Min(_s.BpttSteps, chunk.Steps - t0)];
                for (int j = 0; j < steps.Length; j++) steps[j] = builder.Build(chunk, t0 + j, fit.Users);
                var next = TrainWindow(steps, builder.WindowRows(), state, optimizer, lossSum, startLossSum, outcomeLossSum);
                foreach (var old in state.Session) old.Dispose();
                state.User?.Dispose();
                state = new HrnnModel.State(next.Session.Select(x => x.detach().DetachFromDisposeScope()).ToArray(),
                    next.User?.detach().DetachFromDisposeScope());
                foreach (var step in steps)
                {
                    done += step.Targets;
                    lossWeight += step.Weight;
                    startWeight += step.Starts;
                    outcomeRows += step.OutcomeRows;
                    _positives += step.Positives;
                    _negatives += step.Targets - step.Positives;
                    _positiveWeight += step.Weight;
                }
            }
            // Device-to-host reads once per chunk for the progress line, not once per step.
            progress.Report(done, LossText(lossSum.item<float>() / Math.Max(lossWeight, 1), StartMean()));
        }
        double loss = lossSum.item<float>() / Math.Max(lossWeight, 1);
        double? startLoss = StartMean();
        double? outcomeLoss = Model.HasOutcomeHead && outcomeRows > 0 ? outcomeLossSum.item<float>() / outcomeRows : null;
        progress.Done(LossText(loss, startLoss) + (outcomeLoss is { } o ? $", value loss {o:F4}" : ""));
        foreach (var s in state.Session) s.Dispose();
        state.User?.Dispose();
        return (loss, startLoss, outcomeLoss, done);

        double? StartMean() => TrainsStart && startWeight > 0 ? startLossSum.item<float>() / startWeight : null;
    }

    bool TrainsStart => _losses.TrainsStart(Model);

    static string LossText(double loss, double? startLoss) =>
        startLoss is { } start ? $"loss {loss:F4}, start loss {start:F4}" : $"loss {loss:F4}";

    /// <summary>Trains one window of steps: the states flow through all of them, so each prediction's gradient reaches
    /// back to the window's start (through s_0 and the user GRU update where a session started inside it); then one
    /// backward pass and one update of the gathered rows and the dense weights.</summary>
    HrnnModel.State TrainWindow(StepData[] steps, Tensor rows, HrnnModel.State state, RowSparseOptimizer optimizer, Tensor lossSum,
        Tensor startLossSum, Tensor outcomeLossSum)
    {
        // Gather the touched rows of each item table as leaves, so gradients (and updates) cover only those rows.
        var leaves = new Tensor[_tables.Length];
        using (no_grad())
            for (int i = 0; i < _tables.Length; i++)
                leaves[i] = _tables[i].index_select(0, rows).detach().requires_grad_(true);
        // With metadata the rows read are the id rows plus the gathered items' metadata, computed once per window.
        var idRows = IdDropout(leaves, rows);
        var items = Model.WithMetadata(Model.InputTable is null ? null : idRows[0], idRows[_outputSlot], idRows[_biasSlot], rows);
        var outRows = items.Output;
        var outBias = items.Bias;
        Tensor? loss = null;
        foreach (var step in steps)
        {
            if (step.Parts is { } moves) state = _parts!.Restore(state, moves);
            var (next, initial) = Model.Step(items.Input, step.InputLocal, state, step.SessionStart, step.UserStart, training: true,
                step.UserRows);
            var output = _s.DropoutSession > 0 ? nn.functional.dropout(next.Session[^1], _s.DropoutSession, true) : next.Session[^1];
            var nextLoss = _losses.NextItem(output, outRows, outBias, step);
            loss = loss is null ? nextLoss : loss.Plus(nextLoss);
            Tensor? start = null;
            if (initial is not null && TrainsStart)
            {
                (start, var weighted) = _losses.Start(Model, initial, outRows, outBias, step);
                loss = loss.Plus(weighted);
            }
            Tensor? head = null;
            if (Model.HasOutcomeHead && step.OutcomeRows > 0)
            {
                // The value of the next event, from the same session state that ranks it, at the target item's rows.
                var raw = Model.OutcomeRaw(output, leaves[_outcomeSlot].index_select(0, step.TargetColumns.narrow(0, 0, output.shape[0])),
                    leaves[_outcomeBiasSlot].index_select(0, step.TargetColumns.narrow(0, 0, output.shape[0])));
                head = OutcomeTraining.HeadLoss(_s, raw.Plus(step.OutcomeBase), step.OutcomeTarget, step.OutcomeMask);
                loss = loss.Plus(head * (float)_s.OutcomeWeight);
            }
            // Logged apart: the next-item loss over the step's targets, the start loss over its session starts.
            using (no_grad())
            {
                lossSum.add_(nextLoss.detach() * step.TargetRows.sum(), Scalars.One);
                if (start is not null) startLossSum.add_(start.detach() * step.StartRows.sum(), Scalars.One);
                if (head is not null) outcomeLossSum.add_(head.detach() * step.OutcomeMask.sum(), Scalars.One);
            }
            if (step.Parts is { } ends) _parts!.Keep(next, ends);
            state = next;
        }
        loss!.backward();
        optimizer.Step(rows, leaves.Select(l => l.grad).ToList());
        return state;
    }

    /// <summary>The window's id rows, with those of a random <see cref="HrnnSettings.MetadataIdDropout"/> share of its
    /// items zeroed (the same items on the input and output side), so those items are represented by their metadata
    /// alone, as a cold item is. The leaves themselves stay unmasked: the optimizer reads their gradients.</summary>
    Tensor[] IdDropout(Tensor[] leaves, Tensor rows)
    {
        if (_s.MetadataIdDropout <= 0 || !Model.HasItemMetadata) return leaves;
        // Tensors, not Scalars: a temporary Scalar handed to libtorch can be finalized mid-call (see Scalars).
        var p = tensor(_s.MetadataIdDropout, device: rows.device);
        var keep = rand(rows.shape[0], device: rows.device).ge(p).to_type(leaves[_outputSlot].dtype);
        var masked = (Tensor[])leaves.Clone();
        int[] slots = Model.InputTable is null ? [_outputSlot, _biasSlot] : [0, _outputSlot, _biasSlot];
        foreach (int slot in slots.Distinct())
            masked[slot] = leaves[slot].mul(leaves[slot].dim() == 1 ? keep : keep.unsqueeze(1));
        return masked;
    }

    /// <summary>Full-ranking next-item metrics and log loss on the validation sessions, each user bootstrapped with their
    /// fit history (its last ValidationHistorySessions sessions, as Train joins them).</summary>
    (double Loss, double Recall, double Mrr) Validate(SessionDataset data, bool[] evaluated, CancellationToken ct)
    {
        int k = _s.ValidationCutoff;
        using var threads = TorchRuntime.AllCores();
        double loss = 0, hits = 0, rr = 0;
        long n = 0, lossRows = 0;
        // TopK 0: no lists, so the ranks and losses come from tiles of items (TiledRanks), never dense scores; ranks
        // exact to the cutoff, and the loss, which nothing chooses by, from a sample of the users' predictions.
        var request = new HrnnInference.Request(data, Math.Max(_s.BatchSize, 256), 0)
        {
            EvalSessions = evaluated, Progress = new ProgressReporter("validation", data.EventCount, "events"),
            RankedItems = _trainedItems, RankSessionStarts = false, RankCutoff = k,
            LossUserStride = ValidationLossUserStride(data.UserCount),
        };
        new HrnnInference(Model, _device).Run(request,
            rows =>
            {
                for (int i = 0; i < rows.Rank.Length; i++)
                {
                    // Next-item figures only, the loss too: session starts, which only hrnn predicts, would make the
                    // validation loss of rnn and hrnn incomparable, as they did the training loss.
                    if (rows.Position[i] == 0) continue;
                    n++;
                    if (rows.Rank[i] <= k) { hits++; rr += 1.0 / rows.Rank[i]; }
                    // The loss rows are the sampled users'; a NaN target counts wherever it is (a broken model shows).
                    if (!request.GivesLoss(rows.UserBlock[i]) && !rows.NaNTarget[i]) continue;
                    lossRows++;
                    loss += rows.LogLoss[i];
                }
            }, null, ct);
        Model.train();
        return (loss / Math.Max(lossRows, 1), hits / Math.Max(n, 1), rr / Math.Max(n, 1));
    }

    /// <summary>The kept weights' validation predictions, ranked once per point of the mix's grid.</summary>
    ReminderMix FitReminders(SessionDataset data, bool[] evaluated, CancellationToken ct)
    {
        using var threads = TorchRuntime.AllCores();
        var fit = new ReminderFit(_s.ValidationCutoff);
        new HrnnInference(Model, _device).Run(
            new HrnnInference.Request(data, Math.Max(_s.BatchSize, 256), 1)
            {
                EvalSessions = evaluated, Fit = fit, RankedItems = _trainedItems,
                Progress = new ProgressReporter("reminder fit", data.EventCount, "events"),
            },
            _ => { }, null, ct);
        Model.train();
        var best = fit.Best();
        if (!ProgressReporter.Quiet) Console.Error.WriteLine($"reminders chosen on validation: {best}");
        return best;
    }

    public void Dispose()
    {
        Model.Dispose();
        _parts?.Dispose();
        _losses.Dispose();
    }
}
