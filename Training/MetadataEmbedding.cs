using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>
/// An embedding of the metadata of every row of an id map (items, or users): per categorical field a table of value
/// embeddings, averaged over a multi-value's values; numeric fields standardised (missing: 0 and a missing flag) and
/// projected. The sum over fields is one [rows, width] vector per row. The per-row features are buffers (they move
/// with the model and are saved with it); the tables and the projection are dense parameters.
/// </summary>
public sealed class MetadataEmbedding : nn.Module
{
    readonly int _fields;
    readonly int _width;
    readonly ParameterList _tables = new();
    readonly Linear? _numeric;

    /// <param name="index">Per categorical field, [rows, maxValues] value indices (0: no value).</param>
    /// <param name="weight">Per categorical field, [rows, maxValues]: 1 / the row's value count, 0 where no value.</param>
    /// <param name="vocab">Per categorical field, the table size (values + 1 for "none").</param>
    /// <param name="numbers">[rows, 2K]: K standardised numbers then K missing flags; null without numeric fields.</param>
    MetadataEmbedding(string name, Tensor[] index, Tensor[] weight, long[] vocab, Tensor? numbers, int width) : base(name)
    {
        _fields = index.Length;
        _width = width;
        float bound = 1f / MathF.Sqrt(width);
        foreach (var size in vocab) _tables.Add(new Parameter(empty(size, width).uniform_(-bound, bound)));
        if (numbers is not null)
        {
            // On the tables' scale: Linear's own init (bound 1/sqrt(fan-in), fan-in 2K for K numbers) made a
            // standardised price's projection several times an id row, so a price outweighed the item's identity at
            // the start. Measured neutral on the generated logs (BENCHMARKS.md, metadata section); kept for its scale.
            _numeric = nn.Linear(numbers.shape[1], width, hasBias: false);
            float numberBound = bound / MathF.Sqrt(numbers.shape[1]);
            using (no_grad()) _numeric.weight!.uniform_(-numberBound, numberBound);
        }
        RegisterComponents();
        for (int f = 0; f < _fields; f++)
        {
            register_buffer($"index{f}", index[f]);
            register_buffer($"weight{f}", weight[f]);
        }
        register_buffer("vocab", tensor(vocab));
        if (numbers is not null) register_buffer("numbers", numbers);
    }

    /// <summary>Rows of the table, as many as the id map has.</summary>
    public long Rows => (_fields > 0 ? get_buffer("index0") : get_buffer("numbers"))!.shape[0];

    /// <summary>Makes the embedding once the model knows the width (so its draws follow the model's own).</summary>
    public delegate MetadataEmbedding Factory(int width);

    /// <summary>The metadata vectors [R, width] of rows <paramref name="rows"/>, or of every row when null.</summary>
    public Tensor Vectors(Tensor? rows)
    {
        Tensor? sum = null;
        for (int f = 0; f < _fields; f++)
        {
            var index = Select(get_buffer($"index{f}")!, rows);
            var weight = Select(get_buffer($"weight{f}")!, rows);
            var values = _tables[f].index_select(0, index.flatten()).view(index.shape[0], index.shape[1], _width);
            var mean = (values * weight.unsqueeze(2)).sum(1);
            sum = sum is null ? mean : sum.Plus(mean);
        }
        if (_numeric is not null)
        {
            var projected = _numeric.forward(Select(get_buffer("numbers")!, rows));
            sum = sum is null ? projected : sum.Plus(projected);
        }
        return sum!;
    }

    static Tensor Select(Tensor table, Tensor? rows) => rows is null ? table : table.index_select(0, rows);

    /// <summary>The feature buffers under <paramref name="prefix"/>, to save with the model.</summary>
    public IEnumerable<(string Name, Tensor Value)> Features(string prefix) =>
        named_buffers(recurse: false).Select(b => ($"{prefix}.{b.name}", b.buffer));

    /// <summary>The embedding saved under <paramref name="prefix"/>, or null when the model has none.</summary>
    public static MetadataEmbedding? Load(string name, string prefix, IReadOnlyDictionary<string, Tensor> tensors, int width)
    {
        if (!tensors.TryGetValue($"{prefix}.vocab", out var vocabTensor)) return null;
        var vocab = vocabTensor.data<long>().ToArray();
        var index = Enumerable.Range(0, vocab.Length).Select(f => tensors[$"{prefix}.index{f}"].clone()).ToArray();
        var weight = Enumerable.Range(0, vocab.Length).Select(f => tensors[$"{prefix}.weight{f}"].clone()).ToArray();
        return new MetadataEmbedding(name, index, weight, vocab, tensors.GetValueOrDefault($"{prefix}.numbers")?.clone(), width);
    }

    /// <summary>
    /// The features of <paramref name="rowIds"/> (row i: the id of map index i; ids without metadata get no values and
    /// every number missing). Vocabularies (ordinal order) and each number's mean and standard deviation come from the
    /// whole <paramref name="table"/>, not only the rows asked for.
    /// </summary>
    public static MetadataEmbedding Build(string name, MetadataSource.Table table, IReadOnlyList<string> rowIds, int width)
    {
        int n = rowIds.Count;
        var categorical = table.Fields.Where(f => !f.Numeric).Select(f => f.Name).ToList();
        var numeric = table.Fields.Where(f => f.Numeric).Select(f => f.Name).ToList();
        var index = new Tensor[categorical.Count];
        var weight = new Tensor[categorical.Count];
        var vocab = new long[categorical.Count];
        for (int f = 0; f < categorical.Count; f++)
        {
            var field = categorical[f];
            var values = table.ById.Values.SelectMany(v => v.TryGetValue(field, out var l) ? l.Select(x => x.Value) : [])
                .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
                .Select((v, i) => (v, i)).ToDictionary(x => x.v, x => x.i + 1, StringComparer.Ordinal);
            vocab[f] = values.Count + 1;
            int width1 = Math.Max(1, table.ById.Values.Max(v => v.TryGetValue(field, out var l) ? l.Count : 0));
            var idx = new long[n * width1];
            var w = new float[n * width1];
            for (int r = 0; r < n; r++)
            {
                if (!table.ById.TryGetValue(rowIds[r], out var fields) || !fields.TryGetValue(field, out var list)) continue;
                for (int j = 0; j < list.Count; j++)
                {
                    idx[r * width1 + j] = values[list[j].Value];
                    w[r * width1 + j] = 1f / list.Count;
                }
            }
            index[f] = tensor(idx, [n, width1]);
            weight[f] = tensor(w, [n, width1]);
        }
        Tensor? numbers = null;
        if (numeric.Count > 0)
        {
            int k = numeric.Count;
            var x = new float[n * 2 * k];
            for (int f = 0; f < k; f++)
            {
                var field = numeric[f];
                double? Number(Dictionary<string, List<(string Value, double? Number)>> fields) =>
                    fields.TryGetValue(field, out var l) && l.Where(v => v.Number is not null).Select(v => v.Number!.Value).ToList() is { Count: > 0 } nums
                        ? nums.Average() : null;
                var all = table.ById.Values.Select(Number).Where(v => v is not null).Select(v => v!.Value).ToList();
                double mean = all.Count == 0 ? 0 : all.Average();
                double std = all.Count < 2 ? 1 : Math.Sqrt(all.Sum(v => (v - mean) * (v - mean)) / all.Count);
                if (std <= 0) std = 1;
                for (int r = 0; r < n; r++)
                {
                    var value = table.ById.TryGetValue(rowIds[r], out var fields) ? Number(fields) : null;
                    if (value is { } v) x[r * 2 * k + f] = (float)((v - mean) / std);
                    else x[r * 2 * k + k + f] = 1;
                }
            }
            numbers = tensor(x, [n, 2 * k]);
        }
        return new MetadataEmbedding(name, index, weight, vocab, numbers, width);
    }
}
