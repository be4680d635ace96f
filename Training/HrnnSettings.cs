using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Training;

/// <summary>How user state reaches the session GRU (Quadrana et al. 2017 sec. 3), and the two session-only baselines.</summary>
public enum ModelKind
{
    /// <summary>User GRU state initialises each session's GRU state.</summary>
    HrnnInit,
    /// <summary>As init, and the user state is also fed to the session GRU at every step.</summary>
    HrnnAll,
    /// <summary>GRU4Rec: session state reset at every session, no user GRU.</summary>
    Rnn,
    /// <summary>GRU4Rec over all sessions of a user joined into one.</summary>
    RnnConcat,
}

/// <summary>hrnn-all: where the user state enters the session GRU at every step.</summary>
public enum UserGateKind
{
    /// <summary>All three gates (reset, update, candidate).</summary>
    All,
    /// <summary>The reset and update gates only, as the reference hgru4rec code has it.</summary>
    ResetUpdate,
    /// <summary>All three, after a learned sigmoid gate on c read from the previous session state and c.</summary>
    Gated,
}

public enum LossKind { Top1, Bpr, CrossEntropy, BprMax }

public enum OptimizerKind { Adagrad, Adam }

/// <summary>How event values train (skrec's HRNN classifier and regressor modes); see <see cref="OutcomeTraining"/>.</summary>
public enum OutcomeKind
{
    /// <summary>Every event is a positive next-item target (values ignored, unless EventWeights).</summary>
    Positive,
    /// <summary>Value &gt; 0 is a positive target, 0 a negative one; a value head learns P(value &gt; 0).</summary>
    Binary,
    /// <summary>Values in [0, 1] weight each target (0: never a positive).</summary>
    Soft,
    /// <summary>A value head predicts the next event's value; value 0 is a negative target of the ranking.</summary>
    Regression,
}

public enum OutcomeLossKind { Mse, Huber }

/// <summary>
/// Every training setting. Names follow the paper and GRU4Rec (n_sample, sample_alpha, bpreg). Bound from the
/// "Training" configuration section and overridden by command-line options.
/// </summary>
public sealed record HrnnSettings
{
    public ModelKind Model { get; init; } = ModelKind.HrnnInit;
    public int SessionHidden { get; init; } = 100;
    public int UserHidden { get; init; } = 100;
    public int SessionLayers { get; init; } = 1;
    /// <summary>0 = one-hot input (an N x 3H gate table, exactly one-hot times W_in); otherwise an embedding of this size.</summary>
    public int Embedding { get; init; }
    /// <summary>hrnn-all only: which session-GRU gates the user state enters at every step. The reference's reset and
    /// update gates: on lastfm (seed 1, the model alone) Recall@5 0.5883 against 0.4933 with all three (BENCHMARKS.md).</summary>
    public UserGateKind UserGates { get; init; } = UserGateKind.ResetUpdate;
    /// <summary>Tie input and output item embeddings (GRU4Rec's constrained embedding).</summary>
    public bool TiedEmbeddings { get; init; }
    /// <summary>Cross-entropy by default: on lastfm, rnn reached Recall@5 0.60 with it (10 epochs) against 0.56 with TOP1
    /// (the paper's loss, kept in the paper presets; 6 epochs); BENCHMARKS.md.</summary>
    public LossKind Loss { get; init; } = LossKind.CrossEntropy;
    /// <summary>Extra negatives shared by the batch, sampled with probability proportional to popularity^SampleAlpha.</summary>
    public int NSample { get; init; }
    public double SampleAlpha { get; init; } = 0.75;
    /// <summary>Weight of the logQ correction for cross-entropy with sampled negatives (0 = off).</summary>
    public double LogQ { get; init; }
    public double BprReg { get; init; } = 1.0;
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adagrad;
    public double LearningRate { get; init; } = 0.1;
    public double Momentum { get; init; }
    public double DropoutUser { get; init; }
    public double DropoutSession { get; init; } = 0.1;
    public double DropoutInit { get; init; }
    public int BatchSize { get; init; } = 50;
    /// <summary>In training, users with more sessions are split into parts of at most this many, each run in its own
    /// slot from fresh states (0 = never). Keeps one heavy user from running alone at the end of every epoch.</summary>
    public int MaxSessionsPerSlot { get; init; } = 100;
    /// <summary>A later part of a split user starts from the states its previous part ended with when last computed
    /// (the previous epoch's), as a no-gradient burn-in, instead of from zero: c_u then trains past MaxSessionsPerSlot
    /// sessions, as evaluation and scoring run it.</summary>
    public bool BurnIn { get; init; }
    /// <summary>Steps the gradient flows back through before the states are detached; the item tables and weights are
    /// updated once per window. 1 (the reference code's truncation): the user GRU and W_init learn from the first
    /// prediction of each session only; more lets every prediction in the window credit s_0 and the user GRU update.</summary>
    public int BpttSteps { get; init; } = 1;
    /// <summary>After early stopping has chosen the number of epochs, train the model again from its initial weights
    /// for that many epochs on every session the validation held out (evaluate: fit + valid; run: every session,
    /// the latest included), so the published model has learned from all of each user's history.</summary>
    public bool Refit { get; init; } = true;
    /// <summary>Read item and user metadata where the prepared folder has it: an item's rows become its id rows plus an
    /// embedding of its metadata (items known only by metadata scored by it alone), and a user's first state comes from
    /// their metadata. Off by default: on the generated logs it ranked seen items no better than the model without it,
    /// at about 1.6x the training time, while ranking cold items far better (BENCHMARKS.md, "Metadata in the model");
    /// without metadata files it changes nothing either way.</summary>
    public bool Metadata { get; init; }
    /// <summary>With item metadata: the share of a training window's items whose id rows are masked out, so they train
    /// on their metadata alone (DropoutNet's input dropout, Volkovs et al., NeurIPS 2017). An item known only by its
    /// metadata (a cold item) is then scored as a typical item of its categories, instead of below every item that has
    /// id rows. 0.25: on the generated cold-start splits it raised Recall@20 over the model without metadata by 0.03-0.04
    /// at some cost on items with events (BENCHMARKS.md, "Metadata in the model"). Without metadata it does nothing.</summary>
    public double MetadataIdDropout { get; init; } = 0.25;
    public int Epochs { get; init; } = 10;
    public int Seed { get; init; } = 1;
    /// <summary>Weight of the session-start objective: the initial state predicts the next session's first item.</summary>
    public double SessionStartWeight { get; init; } = 1.0;
    /// <summary>After training, choose on validation how much of the user's own history the lists mix in
    /// (<see cref="ReminderMix"/>); false: the model alone.</summary>
    public bool Reminders { get; init; } = true;
    /// <summary>Epochs without validation improvement before stopping (0 = never stop early).</summary>
    public int Patience { get; init; } = 3;
    /// <summary>Validation metric used for early stopping and restore-best.</summary>
    public int ValidationCutoff { get; init; } = 20;
    /// <summary>At most this many validation users (a seeded sample): full ranking of every validation session of
    /// a million users would take longer than the epoch.</summary>
    public int ValidationUsers { get; init; } = 10_000;
    /// <summary>Each epoch's validation (the early-stopping signal) bootstraps a user from their last this many fit
    /// sessions only (0 = the whole history). Training carries a slot through at most MaxSessionsPerSlot sessions, so
    /// older sessions reach no state training optimises; on lastfm one user's 23k-event chain was most of validation's
    /// time, and bounding it left the chosen epoch and the validation figures nearly unchanged (BENCHMARKS.md). The
    /// reminder mix, fitted once after training, and evaluate's and score's rankings still read whole histories. With
    /// BurnIn, training carries c_u past MaxSessionsPerSlot: 0 validates on whole histories as before.</summary>
    public int ValidationHistorySessions { get; init; } = 100;
    public string Device { get; init; } = "cpu";
    /// <summary>How event values train; positive (every event a click) is what training did before values existed.</summary>
    public OutcomeKind Outcome { get; init; } = OutcomeKind.Positive;
    /// <summary>Weight of the value head's loss (binary, regression) beside the ranking loss.</summary>
    public double OutcomeWeight { get; init; } = 1.0;
    /// <summary>The regression head's loss: squared error, or Huber (delta 1) against outliers such as big orders.</summary>
    public OutcomeLossKind OutcomeLoss { get; init; } = OutcomeLossKind.Mse;
    /// <summary>Weight each positive target's ranking loss by its value (a purchase worth 5 views counts 5 times).</summary>
    public bool EventWeights { get; init; }

    /// <summary>Whether the model has a value head (binary and regression).</summary>
    public bool HasOutcomeHead => Outcome is OutcomeKind.Binary or OutcomeKind.Regression;

    public bool HasUserGru => Model is ModelKind.HrnnInit or ModelKind.HrnnAll;

    /// <summary>
    /// The rows of the paper's Table 2 as the authors ran them (XING, small = 100/100, large = 500/500; scripts of
    /// github.com/mquad/hgru4rec). TOP1 loss, Adagrad, tanh.
    /// </summary>
    public static IReadOnlyDictionary<string, HrnnSettings> Presets { get; } = new Dictionary<string, HrnnSettings>
    {
        ["paper-small-init"] = new() { Model = ModelKind.HrnnInit, SessionHidden = 100, UserHidden = 100, Loss = LossKind.Top1,
            LearningRate = 0.1, Momentum = 0.0, BatchSize = 50, DropoutUser = 0.0, DropoutSession = 0.1, DropoutInit = 0.0 },
        ["paper-small-all"] = new() { Model = ModelKind.HrnnAll, SessionHidden = 100, UserHidden = 100, Loss = LossKind.Top1,
            LearningRate = 0.1, Momentum = 0.2, BatchSize = 100, DropoutUser = 0.1, DropoutSession = 0.1, DropoutInit = 0.2 },
        ["paper-large-init"] = new() { Model = ModelKind.HrnnInit, SessionHidden = 500, UserHidden = 500, Loss = LossKind.Top1,
            LearningRate = 0.1, Momentum = 0.1, BatchSize = 100, DropoutUser = 0.1, DropoutSession = 0.2, DropoutInit = 0.2 },
        ["paper-large-all"] = new() { Model = ModelKind.HrnnAll, SessionHidden = 500, UserHidden = 500, Loss = LossKind.Top1,
            LearningRate = 0.05, Momentum = 0.3, BatchSize = 50, DropoutUser = 0.0, DropoutSession = 0.2, DropoutInit = 0.2 },
        ["paper-small-rnn"] = new() { Model = ModelKind.Rnn, SessionHidden = 100, Loss = LossKind.Top1,
            LearningRate = 0.1, Momentum = 0.0, BatchSize = 50, DropoutSession = 0.1 },
        // Beyond the paper: the later GRU4Rec losses with shared popularity-sampled negatives.
        ["bprmax-init"] = new() { Model = ModelKind.HrnnInit, SessionHidden = 100, UserHidden = 100, Loss = LossKind.BprMax,
            NSample = 2048, SampleAlpha = 0.5, BprReg = 1.0, Optimizer = OptimizerKind.Adagrad, LearningRate = 0.05,
            Momentum = 0.1, BatchSize = 50, DropoutSession = 0.1, DropoutInit = 0.1 },
        ["xe-logq-init"] = new() { Model = ModelKind.HrnnInit, SessionHidden = 100, UserHidden = 100, Loss = LossKind.CrossEntropy,
            NSample = 2048, SampleAlpha = 0.75, LogQ = 1.0, Optimizer = OptimizerKind.Adam, LearningRate = 0.005,
            BatchSize = 50, DropoutSession = 0.1, DropoutInit = 0.1 },
    };

    public static HrnnSettings FromPreset(string name) =>
        Presets.TryGetValue(name, out var preset)
            ? preset
            : throw new PipelineException($"--preset {name}: unknown preset (known: {string.Join(", ", Presets.Keys)})");

    /// <summary>Accepts the command-line spelling (hrnn-init) and the enum name (HrnnInit).</summary>
    public static ModelKind ParseModel(string text) => text.ToLowerInvariant().Replace("-", "") switch
    {
        "hrnninit" => ModelKind.HrnnInit,
        "hrnnall" => ModelKind.HrnnAll,
        "rnn" => ModelKind.Rnn,
        "rnnconcat" => ModelKind.RnnConcat,
        _ => throw new PipelineException($"--model {text}: expected hrnn-init, hrnn-all, rnn or rnn-concat"),
    };

    public static string ModelName(ModelKind kind) => kind switch
    {
        ModelKind.HrnnInit => "hrnn-init",
        ModelKind.HrnnAll => "hrnn-all",
        ModelKind.Rnn => "rnn",
        _ => "rnn-concat",
    };

    public static LossKind ParseLoss(string text) => text.ToLowerInvariant().Replace("_", "").Replace("-", "") switch
    {
        "top1" => LossKind.Top1,
        "bpr" => LossKind.Bpr,
        "crossentropy" or "xe" or "ce" => LossKind.CrossEntropy,
        "bprmax" => LossKind.BprMax,
        _ => throw new PipelineException($"--loss {text}: expected top1, bpr, cross-entropy or bpr-max"),
    };

    public static OutcomeKind ParseOutcome(string text) =>
        Enum.TryParse<OutcomeKind>(text, ignoreCase: true, out var kind) && !int.TryParse(text, out _) ? kind
        : throw new PipelineException($"--outcome {text}: expected positive, binary, soft or regression");

    /// <summary>Rejects settings that cannot train, with a message naming the setting.</summary>
    public void Validate()
    {
        if (SessionHidden < 1 || UserHidden < 1 || SessionLayers < 1) throw new PipelineException("hidden sizes and layers must be >= 1");
        if (BatchSize < 1) throw new PipelineException($"batch size {BatchSize}: must be >= 1");
        if (Epochs < 1) throw new PipelineException($"epochs {Epochs}: must be >= 1");
        if (LearningRate <= 0) throw new PipelineException($"learning rate {LearningRate}: must be > 0");
        foreach (var (name, p) in new[] { ("dropout-user", DropoutUser), ("dropout-session", DropoutSession), ("dropout-init", DropoutInit) })
            if (p is < 0 or >= 1) throw new PipelineException($"{name} {p}: must be in [0, 1)");
        if (MetadataIdDropout is < 0 or >= 1) throw new PipelineException($"metadata id dropout {MetadataIdDropout}: must be in [0, 1)");
        if (BpttSteps is < 1 or > 64) throw new PipelineException($"bptt steps {BpttSteps}: must be in 1..64");
        if (MaxSessionsPerSlot < 0) throw new PipelineException($"max sessions per slot {MaxSessionsPerSlot}: must be >= 0");
        if (ValidationUsers < 1) throw new PipelineException($"validation users {ValidationUsers}: must be >= 1");
        if (ValidationHistorySessions < 0)
            throw new PipelineException($"validation history sessions {ValidationHistorySessions}: must be >= 0");
        if (NSample < 0) throw new PipelineException($"n-sample {NSample}: must be >= 0");
        if (Device?.ToLowerInvariant() is not ("cpu" or "cuda")) throw new PipelineException($"device '{Device}': expected cpu or cuda");
        if (OutcomeWeight < 0 || !double.IsFinite(OutcomeWeight)) throw new PipelineException($"outcome weight {OutcomeWeight}: must be >= 0");
        if (TiedEmbeddings && Embedding != 0 && Embedding != SessionHidden)
            throw new PipelineException("tied embeddings use the session hidden size; leave embedding at 0");
    }
}
