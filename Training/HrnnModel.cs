using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace HrnnPipeline.Training;

/// <summary>
/// The hierarchical RNN of Quadrana et al. 2017. A session GRU reads item inputs and scores the next item; a user GRU,
/// updated only when a session ends (c_m = GRU_usr(s_m, c_m-1)), initialises the next session
/// (s_m+1,0 = tanh(W_init c_m + b_init)). In hrnn-all the user state also enters the session GRU at every step.
/// The same module serves the session-only baselines (rnn, rnn-concat), which simply never use the user parts.
///
/// The three item tables (input gates or embedding, output embedding, output bias) are indexed by item and are
/// trained row-sparsely: callers pass a table and indices, which is either the full table (inference) or the rows a
/// training step gathered (so only those rows are updated). The GRU cell is written out (PyTorch's GRUCell
/// equations) so one-hot input can be an N x 3H gate table, exactly one-hot times W_in, as in the paper.
/// </summary>
public sealed class HrnnModel : nn.Module
{
    public HrnnSettings Settings { get; }
    /// <summary>How much of the user's own history the lists mix in; chosen on validation after training.</summary>
    public ReminderMix Reminders { get; set; } = ReminderMix.None;
    public int ItemTableSize { get; }

    // Item tables, trained row-sparsely.
    public readonly Parameter? InputTable;   // [N, 3H] one-hot gates, or [N, E] embedding; null when tied
    public readonly Parameter OutputTable;   // [N, H]
    public readonly Parameter OutputBias;    // [N]

    // Session GRU, layer by layer.
    readonly Parameter? _inputBias;          // [3H] for the one-hot gate table
    readonly Linear? _inputProjection;       // E -> 3H (embedding or tied input)
    readonly ParameterList _sessionWih = new(), _sessionWhh = new(), _sessionBih = new(), _sessionBhh = new();
    // User GRU and the user-to-session parts.
    readonly Parameter? _userWih, _userWhh, _userBih, _userBhh;
    readonly Linear? _init;
    readonly Linear? _userToSession;         // hrnn-all: U -> 3H (or 2H: reset and update only), added every step
    readonly Linear? _userGate;              // hrnn-all, gated: [h; c] -> U, how much of c enters this step
    readonly Linear? _startHead;             // scores the first item of a session from its initial state
    // Value head (binary, regression): the next event's value from the session state, per item, row-sparse like the others.
    public readonly Parameter? OutcomeTable; // [N, H]
    public readonly Parameter? OutcomeBias;  // [N]
    readonly Parameter? _outcomeOffset;      // [1], the values' overall level
    readonly Tensor? _outcomeScaleTensor;    // [1], _outcomeScale as a buffer (no temporary Scalars on the hot path)
    // Metadata (only when the prepared folder has it): an item's rows are its id rows plus its metadata vector.
    readonly MetadataEmbedding? _itemMetadata;  // [N, H]: added to output rows, projected onto input rows and bias
    readonly Linear? _metadataToInput;          // H -> 3H (one-hot gates) or E (embedding); none when tied
    readonly Linear? _metadataToBias;           // H -> 1
    readonly MetadataEmbedding? _userMetadata;  // [users, U]: a user's first state c where the user starts

    /// <param name="metadata">Item and user metadata; null (no metadata) gives exactly the model without it.</param>
    public HrnnModel(HrnnSettings settings, int itemTableSize, ModelMetadata? metadata = null) : base("hrnn")
    {
        Settings = settings;
        ItemTableSize = itemTableSize;
        int h = settings.SessionHidden, u = settings.UserHidden, n = itemTableSize;
        float scale = 1f / MathF.Sqrt(h);

        if (!settings.TiedEmbeddings)
        {
            int width = settings.Embedding == 0 ? 3 * h : settings.Embedding;
            InputTable = Uniform([n, width], settings.Embedding == 0 ? scale : 1f / MathF.Sqrt(width));
        }
        if (settings.Embedding == 0 && !settings.TiedEmbeddings) _inputBias = new Parameter(zeros(3 * h));
        else _inputProjection = nn.Linear(settings.TiedEmbeddings ? h : settings.Embedding, 3 * h);

        for (int l = 0; l < settings.SessionLayers; l++)
        {
            if (l > 0) _sessionWih.Add(Uniform([3 * h, h], scale));
            _sessionWhh.Add(Uniform([3 * h, h], scale));
            if (l > 0) _sessionBih.Add(new Parameter(zeros(3 * h)));
            _sessionBhh.Add(new Parameter(zeros(3 * h)));
        }
        OutputTable = Uniform([n, h], scale);
        OutputBias = new Parameter(zeros(n));

        if (settings.HasUserGru)
        {
            float us = 1f / MathF.Sqrt(u);
            _userWih = Uniform([3 * u, h], us);
            _userWhh = Uniform([3 * u, u], us);
            _userBih = new Parameter(zeros(3 * u));
            _userBhh = new Parameter(zeros(3 * u));
            _init = nn.Linear(u, h);
            if (settings.Model == ModelKind.HrnnAll)
            {
                // Zero at the start: hrnn-all begins as hrnn-init and feeds the user state only as far as that helps,
                // instead of adding a random per-user offset to every gate of every step from the first step on.
                _userToSession = nn.Linear(u, (settings.UserGates == UserGateKind.ResetUpdate ? 2 : 3) * h, hasBias: false);
                using (no_grad()) _userToSession.weight!.zero_();
                if (settings.UserGates == UserGateKind.Gated) _userGate = nn.Linear(h + u, u);
            }
            _startHead = nn.Linear(h, h);
        }
        if (settings.HasOutcomeHead)
        {
            OutcomeTable = Uniform([n, h], scale);
            OutcomeBias = new Parameter(zeros(n));
            _outcomeOffset = new Parameter(zeros(1));
            _outcomeScaleTensor = tensor(new[] { _outcomeScale });
        }
        // Built after every other parameter, so the model's own draws are those of the model without metadata.
        if (metadata?.Items is { } items)
        {
            _itemMetadata = items(h);
            if (_itemMetadata.Rows != n) throw new ArgumentException($"item metadata has {_itemMetadata.Rows} rows; the item tables {n}");
            if (InputTable is not null) _metadataToInput = nn.Linear(h, InputTable.shape[1], hasBias: false);
            _metadataToBias = nn.Linear(h, 1, hasBias: false);
            if (metadata.ColdRows is { Length: > 0 } cold)
                using (no_grad())
                {
                    // Rows of items no training session has: never trained, so metadata alone represents them.
                    using var rows = tensor(cold.Select(i => (long)i).ToArray());
                    InputTable?.index_fill_(0, rows, Scalars.IntZero);
                    OutputTable.index_fill_(0, rows, Scalars.IntZero);
                }
        }
        if (metadata?.Users is { } users && settings.HasUserGru) _userMetadata = users(u);
        RegisterComponents();
    }

    /// <summary>Whether the model reads item metadata (its item rows then depend on it).</summary>
    public bool HasItemMetadata => _itemMetadata is not null;

    /// <summary>Whether a user's first state comes from their metadata; then <see cref="Step"/> needs user rows.</summary>
    public bool HasUserMetadata => _userMetadata is not null;

    /// <summary>The feature tensors of the metadata, saved with the model (<see cref="ModelMetadata.Load"/> reads them).</summary>
    public IEnumerable<(string Name, Tensor Value)> MetadataFeatures() =>
        (_itemMetadata?.Features(ModelMetadata.ItemPrefix) ?? []).Concat(_userMetadata?.Features(ModelMetadata.UserPrefix) ?? []);

    /// <summary>The item rows a step reads and scores: the id rows (<paramref name="input"/>: null when tied) plus,
    /// with metadata, the metadata of items <paramref name="items"/> (null: every item). Without metadata the id rows
    /// themselves.</summary>
    public ItemRows WithMetadata(Tensor? input, Tensor output, Tensor bias, Tensor? items)
    {
        if (_itemMetadata is null) return new ItemRows(input ?? output, output, bias, false);
        // A scope of its own: AllItems runs outside any scope (once per inference pass), and a temporary no scope holds
        // (index.flatten(), values * weight, ...) can be finalized on the GC thread while libtorch still reads it, as
        // with temporary Scalars (see Scalars): the SIGSEGV of a 3-seed evaluate with metadata on. Only the rows leave it.
        using var scope = NewDisposeScope();
        var meta = _itemMetadata.Vectors(items);
        var rows = output.Plus(meta);
        var inputRows = input is null ? rows : input.Plus(_metadataToInput!.forward(meta));
        var biasRows = bias.Plus(_metadataToBias!.forward(meta).squeeze(1));
        scope.MoveToOuter(rows, biasRows);
        if (!ReferenceEquals(inputRows, rows)) scope.MoveToOuter(inputRows);
        return new ItemRows(inputRows, rows, biasRows, true);
    }

    /// <summary>Every item's rows, computed once for a whole pass over users (inference, scoring).</summary>
    public ItemRows AllItems() => WithMetadata(InputTable, OutputTable, OutputBias, null);

    /// <summary>Item rows: input (gates or embedding), output embedding and bias. <see cref="Owned"/>: computed (with
    /// metadata) and to be disposed; otherwise the model's own parameters.</summary>
    public sealed record ItemRows(Tensor Input, Tensor Output, Tensor Bias, bool Owned) : IDisposable
    {
        public void Dispose()
        {
            if (!Owned) return;
            if (!ReferenceEquals(Input, Output)) Input.Dispose();
            Output.Dispose();
            Bias.Dispose();
        }
    }

    static Parameter Uniform(long[] shape, float bound) => new(empty(shape).uniform_(-bound, bound));

    public bool HasStartHead => _startHead is not null;

    /// <summary>hrnn-all: the user state enters the session GRU's input at every step, not only through s_0.</summary>
    public bool FeedsUserEveryStep => _userToSession is not null;

    /// <summary>The table the input gates are read from: the input table, or the output table when tied. With item
    /// metadata this is computed per call: a pass over users should read <see cref="AllItems"/> once instead.</summary>
    public Tensor InputSource
    {
        get
        {
            if (_itemMetadata is null) return InputTable ?? OutputTable;
            using var scope = NewDisposeScope(); // holds the temporaries (see WithMetadata)
            var meta = _itemMetadata.Vectors(null);
            return scope.MoveToOuter(InputTable is null ? OutputTable.Plus(meta) : InputTable.Plus(_metadataToInput!.forward(meta)));
        }
    }

    /// <summary>Input gate pre-activations [B, 3H] for items <paramref name="index"/> of <paramref name="table"/>; the user
    /// state is added only where <see cref="FeedsUserEveryStep"/>: to all three gates, to the reset and update gates only
    /// (the reference hgru4rec), or scaled first by a gate read from the previous session state
    /// <paramref name="previous"/> and c (<see cref="UserGateKind"/>).</summary>
    public Tensor InputGates(Tensor table, Tensor index, Tensor? userState, Tensor? previous)
    {
        var rows = table.index_select(0, index);
        var gates = _inputBias is not null ? rows.Plus(_inputBias) : _inputProjection!.forward(rows);
        if (_userToSession is null || userState is null) return gates;
        if (_userGate is not null) userState = userState * sigmoid(_userGate.forward(cat([previous!, userState], 1)));
        var user = _userToSession.forward(userState);
        if (Settings.UserGates == UserGateKind.ResetUpdate) user = cat([user, zeros_like(previous!)], 1);
        return gates.Plus(user);
    }

    /// <summary>One session-GRU step over all layers; returns the new state of every layer.</summary>
    public Tensor[] SessionStep(Tensor inputGates, Tensor[] state, double dropout, bool training)
    {
        var next = new Tensor[state.Length];
        var gates = inputGates;
        for (int l = 0; l < state.Length; l++)
        {
            if (l > 0)
            {
                var below = training && dropout > 0 ? F.dropout(next[l - 1], dropout, true) : next[l - 1];
                gates = F.linear(below, _sessionWih[l - 1], _sessionBih[l - 1]);
            }
            next[l] = GruCell(gates, state[l], _sessionWhh[l], _sessionBhh[l]);
        }
        return next;
    }

    /// <summary>c_m = GRU_usr(s_m, c_m-1).</summary>
    public Tensor UserStep(Tensor sessionState, Tensor userState) =>
        GruCell(F.linear(sessionState, _userWih!, _userBih!), userState, _userWhh!, _userBhh!);

    /// <summary>s_m+1,0 = tanh(W_init c_m + b_init).</summary>
    public Tensor InitialState(Tensor userState) => tanh(_init!.forward(userState));

    /// <summary>The query vector that scores a session's first item from its initial state.</summary>
    public Tensor StartQuery(Tensor initialState) => _startHead!.forward(initialState);

    /// <summary>Scores [B, C] of queries [B, H] against output rows [C, H] and biases [C].</summary>
    public static Tensor Score(Tensor query, Tensor outputRows, Tensor outputBias) =>
        torch.addmm(outputBias.unsqueeze(0), query, outputRows.t(), beta: 1f, alpha: 1f);

    /// <summary>Scores [B, N] over the whole catalogue; index 0 (padding) can never be recommended. <paramref name="items"/>:
    /// the catalogue's rows from <see cref="AllItems"/>, when the caller scores many blocks (with metadata they are
    /// computed otherwise on every call).</summary>
    public Tensor ScoreAll(Tensor query, ItemRows? items = null)
    {
        using var own = items is null && _itemMetadata is not null ? AllItems() : null;
        var rows = items ?? own;
        var scores = Score(query, rows?.Output ?? OutputTable, rows?.Bias ?? OutputBias);
        scores.index_fill_(1, tensor(new long[] { 0 }, device: scores.device), Scalars.NegativeInfinity);
        return scores;
    }

    public bool HasOutcomeHead => OutcomeTable is not null;

    /// <summary>The value head's raw output [B] for each row's item: a logit (binary) or the value (regression).
    /// <paramref name="rows"/> [B, H] and <paramref name="bias"/> [B] are the items' rows of the head's tables.</summary>
    public Tensor OutcomeRaw(Tensor state, Tensor rows, Tensor bias) =>
        (state * rows).sum(1).mul(_outcomeScaleTensor!).Plus(bias).Plus(_outcomeOffset!);

    // Adagrad's first steps move every coordinate of a row by about the learning rate, which moves a dot product over H
    // coordinates by up to H times that: fine for logits, far too much for a value on the log's scale (a rating / 5 went
    // from 0.5 to 5 in one step). Regression reads the dot product over H, so a step moves it by about the rate.
    float _outcomeScale => Settings.Outcome == OutcomeKind.Regression ? 1f / Settings.SessionHidden : 1f;

    /// <summary>Predicted values [B, N] of every item (probabilities for binary); the padding column is NaN.
    /// <paramref name="baseline"/> [B]: each row's user mean so far, which regression predicts relative to.</summary>
    public Tensor OutcomeAll(Tensor state, Tensor? baseline = null)
    {
        var raw = torch.addmm(OutcomeBias!.unsqueeze(0), state, OutcomeTable!.t(), beta: 1f, alpha: _outcomeScale).Plus(_outcomeOffset!);
        if (baseline is not null) raw = raw.Plus(baseline.unsqueeze(1));
        var values = Settings.Outcome == OutcomeKind.Binary ? sigmoid(raw) : raw;
        values.index_fill_(1, tensor(new long[] { 0 }, device: values.device), float.NaN);
        return values;
    }

    static Tensor GruCell(Tensor inputGates, Tensor h, Tensor whh, Tensor bhh)
    {
        var hiddenGates = F.linear(h, whh, bhh);
        var i = inputGates.chunk(3, 1);
        var g = hiddenGates.chunk(3, 1);
        var r = sigmoid(i[0].Plus(g[0]));
        var z = sigmoid(i[1].Plus(g[1]));
        var n = tanh(i[2].Plus(r * g[2]));
        return n.Plus(z * h.Minus(n));
    }

    /// <summary>States carried from step to step: one tensor per session-GRU layer [B, H], and the user state [B, U].</summary>
    public sealed record State(Tensor[] Session, Tensor? User);

    public State ZeroState(int batch, Device device) => new(
        Enumerable.Range(0, Settings.SessionLayers).Select(_ => zeros(batch, Settings.SessionHidden, device: device)).ToArray(),
        Settings.HasUserGru ? zeros(batch, Settings.UserHidden, device: device) : null);

    /// <summary>
    /// One step of the hierarchy for every slot. Where a user starts, both states are reset to zero; where a session
    /// starts, the user GRU consumes the finished session's last state and the session state is re-initialised
    /// from it (session-only models reset it); then the session GRU reads the input items. Returns the new state and,
    /// for models with a user GRU, the initial state s_0 computed this step (meaningful where a session started).
    /// With user metadata, a user starts from c = tanh(metadata embedding of user <paramref name="users"/>) instead of zero.
    /// </summary>
    public (State Next, Tensor? Initial) Step(Tensor inputSource, Tensor inputIndex, State state,
        Tensor sessionStart, Tensor userStart, bool training, Tensor? users = null)
    {
        var keep = userStart.OneMinus();
        var h = state.Session.Select(x => x * keep).ToArray();
        Tensor? c = state.User is null ? null : state.User * keep;
        if (c is not null && _userMetadata is not null && users is not null)
            c = c.Plus(userStart * tanh(_userMetadata.Vectors(users)));
        Tensor? initial = null, userInput = null;
        if (c is not null)
        {
            var update = sessionStart * keep;
            c = c.Plus(update * UserStep(h[^1], c).Minus(c));
            userInput = training && Settings.DropoutUser > 0 ? F.dropout(c, Settings.DropoutUser, true) : c;
            initial = InitialState(userInput);
            if (training && Settings.DropoutInit > 0) initial = F.dropout(initial, Settings.DropoutInit, true);
            h[0] = h[0].Plus(sessionStart * initial.Minus(h[0]));
            for (int l = 1; l < h.Length; l++) h[l] = h[l] * sessionStart.OneMinus();
        }
        else
        {
            for (int l = 0; l < h.Length; l++) h[l] = h[l] * sessionStart.OneMinus();
        }
        var gates = InputGates(inputSource, inputIndex, userInput, h[0]);
        return (new State(SessionStep(gates, h, Settings.DropoutSession, training), c), initial);
    }

    /// <summary>Parameters trained densely (everything but the item tables).</summary>
    public IEnumerable<(string Name, Parameter Param)> DenseParameters() =>
        named_parameters().Where(p => !ReferenceEquals(p.parameter, InputTable) &&
                                      !ReferenceEquals(p.parameter, OutputTable) &&
                                      !ReferenceEquals(p.parameter, OutputBias) &&
                                      !ReferenceEquals(p.parameter, OutcomeTable) &&
                                      !ReferenceEquals(p.parameter, OutcomeBias))
            .Select(p => (p.name, p.parameter));

    /// <summary>
    /// The metadata weights' share of the learning rate. A value's embedding is shared by every item that has it, so
    /// nearly every step moves it, and Adagrad's first steps move a touched weight by about the full rate whatever
    /// its gradient: at the full rate the shared vectors raced ahead of the id rows, which then spent their epochs
    /// undoing them (training loss higher, Recall@5 lower than without metadata; BENCHMARKS.md, metadata section).
    /// </summary>
    public const double MetadataRateScale = 0.1;

    /// <summary>Names (as in <see cref="DenseParameters"/>) of the metadata weights, trained at
    /// <see cref="MetadataRateScale"/> of the rate.</summary>
    public IEnumerable<string> MetadataParameterNames()
    {
        nn.Module?[] modules = [_itemMetadata, _metadataToInput, _metadataToBias, _userMetadata];
        var handles = modules.OfType<nn.Module>().SelectMany(m => m.parameters()).Select(p => p.Handle).ToHashSet();
        return named_parameters().Where(p => handles.Contains(p.parameter.Handle)).Select(p => p.name).ToList();
    }

    /// <summary>The item tables, trained row by row.</summary>
    public IEnumerable<(string Name, Parameter Param)> ItemTables()
    {
        if (InputTable is not null) yield return ("input_table", InputTable);
        yield return ("output_table", OutputTable);
        yield return ("output_bias", OutputBias);
        if (OutcomeTable is not null) yield return ("outcome_table", OutcomeTable);
        if (OutcomeBias is not null) yield return ("outcome_bias", OutcomeBias);
    }
}
