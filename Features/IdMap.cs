using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;

namespace HrnnPipeline.Features;

/// <summary>
/// A dense id map: index i ↔ the id as given in the input, with a count (item support in the training split;
/// session count for users). Items are 1..N with 0 reserved for padding; users are 0..U-1.
/// </summary>
public sealed class IdMap
{
    public IdMap(string[] ids, long[] counts, int firstIndex)
    {
        if (ids.Length != counts.Length) throw new ArgumentException("ids and counts differ in length");
        Ids = ids;
        Counts = counts;
        FirstIndex = firstIndex;
        _index = new Dictionary<string, int>(ids.Length, StringComparer.Ordinal);
        for (int i = firstIndex; i < ids.Length; i++) _index[ids[i]] = i;
    }

    readonly Dictionary<string, int> _index;
    /// <summary>Original id per dense index (for items, slot 0 is the padding entry "").</summary>
    public string[] Ids { get; }
    public long[] Counts { get; }
    public int FirstIndex { get; }
    /// <summary>Number of real entries (excludes the item padding slot).</summary>
    public int Count => Ids.Length - FirstIndex;
    /// <summary>Size of an embedding table indexed by dense id (includes padding).</summary>
    public int TableSize => Ids.Length;

    public bool TryGetIndex(string id, out int index) => _index.TryGetValue(id, out index);

    static readonly Schema MapSchema = new Schema.Builder()
        .Field(f => f.Name("idx").DataType(Int32Type.Default).Nullable(false))
        .Field(f => f.Name("id").DataType(StringType.Default).Nullable(false))
        .Field(f => f.Name("count").DataType(Int64Type.Default).Nullable(false))
        .Build();

    public void Write(string path)
    {
        ArrowSessions.WriteAtomically(path, MapSchema, Batches);

        IEnumerable<RecordBatch> Batches()
        {
            var idx = new Int32Array.Builder();
            var id = new StringArray.Builder();
            var count = new Int64Array.Builder();
            for (int i = FirstIndex; i < Ids.Length; i++)
            {
                idx.Append(i);
                id.Append(Ids[i]);
                count.Append(Counts[i]);
            }
            yield return new RecordBatch(MapSchema, [idx.Build(), id.Build(), count.Build()], Count);
        }
    }

    public static IdMap Read(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: id map not found; run `prepare` first", path);
        var rows = new List<(int Idx, string Id, long Count)>();
        using (var stream = File.OpenRead(path))
        using (var reader = new ArrowFileReader(stream))
        {
            RecordBatch? batch;
            while ((batch = reader.ReadNextRecordBatch()) is not null)
                using (batch)
                {
                    var idx = (Int32Array)batch.Column("idx");
                    var id = (StringArray)batch.Column("id");
                    var count = (Int64Array)batch.Column("count");
                    for (int r = 0; r < batch.Length; r++)
                        rows.Add((idx.GetValue(r)!.Value, id.GetString(r), count.GetValue(r)!.Value));
                }
        }
        int first = rows.Count == 0 ? 0 : rows.Min(r => r.Idx);
        int size = rows.Count == 0 ? first : rows.Max(r => r.Idx) + 1;
        var ids = new string[size];
        var counts = new long[size];
        System.Array.Fill(ids, "");
        foreach (var (i, s, c) in rows) { ids[i] = s; counts[i] = c; }
        return new IdMap(ids, counts, first);
    }
}
