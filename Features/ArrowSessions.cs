using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;

namespace HrnnPipeline.Features;

/// <summary>
/// The Arrow IPC layout of a split file: one row per event (<c>user_idx</c>, <c>session_idx</c>, <c>item_idx</c>,
/// <c>ts</c> in epoch ms), ordered by user, session start, time, written in record batches. The per-user session
/// offsets travel in the file's schema metadata-free companion <c>*.sessions.arrow</c> (<c>user_idx</c>,
/// <c>session_idx</c>, <c>event_offset</c>, <c>length</c>) so readers can seek to a user without a scan.
/// </summary>
public static class ArrowSessions
{
    public const int BatchRows = 1 << 16;

    public static readonly Schema EventSchema = new Schema.Builder()
        .Field(f => f.Name("user_idx").DataType(Int32Type.Default).Nullable(false))
        .Field(f => f.Name("session_idx").DataType(Int32Type.Default).Nullable(false))
        .Field(f => f.Name("item_idx").DataType(Int32Type.Default).Nullable(false))
        .Field(f => f.Name("ts").DataType(Int64Type.Default).Nullable(false))
        .Build();

    public static readonly Schema SessionIndexSchema = new Schema.Builder()
        .Field(f => f.Name("user_idx").DataType(Int32Type.Default).Nullable(false))
        .Field(f => f.Name("session_idx").DataType(Int32Type.Default).Nullable(false))
        .Field(f => f.Name("event_offset").DataType(Int64Type.Default).Nullable(false))
        .Field(f => f.Name("length").DataType(Int32Type.Default).Nullable(false))
        .Build();

    public static string SessionIndexPath(string eventsPath) => Path.ChangeExtension(eventsPath, ".sessions.arrow");

    /// <summary>Reads a split file into flat arrays, batch by batch.</summary>
    public static SessionDataset Read(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: prepared split not found; run `prepare` first", path);
        var users = new List<int>();
        var sessions = new List<int>();
        var items = new List<int>();
        var ts = new List<long>();
        using (var stream = File.OpenRead(path))
        using (var reader = new ArrowFileReader(stream))
        {
            RecordBatch? batch;
            while ((batch = reader.ReadNextRecordBatch()) is not null)
            {
                using (batch)
                {
                    users.AddRange(((Int32Array)batch.Column("user_idx")).Values);
                    sessions.AddRange(((Int32Array)batch.Column("session_idx")).Values);
                    items.AddRange(((Int32Array)batch.Column("item_idx")).Values);
                    ts.AddRange(((Int64Array)batch.Column("ts")).Values);
                }
            }
        }
        var data = SessionDataset.FromSortedEvents(
            System.Runtime.InteropServices.CollectionsMarshal.AsSpan(users),
            System.Runtime.InteropServices.CollectionsMarshal.AsSpan(sessions),
            System.Runtime.InteropServices.CollectionsMarshal.AsSpan(items),
            System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ts));
        return OutcomeValues.Read(path, data) is { } values ? data.WithValues(values) : data;
    }

    /// <summary>Writes a dataset as an events file plus its session index (used by tests and by Features).</summary>
    public static void Write(string path, SessionDataset data)
    {
        WriteAtomically(path, EventSchema, WriteEventBatches);
        WriteAtomically(SessionIndexPath(path), SessionIndexSchema, WriteIndexBatches);
        if (data.Values is not null) OutcomeValues.Write(path, data);
        else if (File.Exists(OutcomeValues.PathOf(path))) File.Delete(OutcomeValues.PathOf(path));

        IEnumerable<RecordBatch> WriteEventBatches()
        {
            var userOfEvent = new int[data.EventCount];
            var sessionOfEvent = new int[data.EventCount];
            for (int u = 0; u < data.UserCount; u++)
                for (int s = data.UserStarts[u]; s < data.UserStarts[u + 1]; s++)
                    for (int e = data.SessionStarts[s]; e < data.SessionStarts[s + 1]; e++)
                    {
                        userOfEvent[e] = data.Users[u];
                        sessionOfEvent[e] = data.SessionIds[s];
                    }
            for (int start = 0; start < data.EventCount || start == 0; start += BatchRows)
            {
                int n = Math.Min(BatchRows, data.EventCount - start);
                yield return new RecordBatch(EventSchema,
                [
                    Int32(userOfEvent.AsSpan(start, n)), Int32(sessionOfEvent.AsSpan(start, n)),
                    Int32(data.Items.AsSpan(start, n)), Int64(data.Timestamps.AsSpan(start, n)),
                ], n);
                if (n == 0) yield break;
            }
        }

        IEnumerable<RecordBatch> WriteIndexBatches()
        {
            var users = new int[data.SessionCount];
            var offsets = new long[data.SessionCount];
            var lengths = new int[data.SessionCount];
            for (int u = 0; u < data.UserCount; u++)
                for (int s = data.UserStarts[u]; s < data.UserStarts[u + 1]; s++)
                {
                    users[s] = data.Users[u];
                    offsets[s] = data.SessionStarts[s];
                    lengths[s] = data.SessionLength(s);
                }
            yield return new RecordBatch(SessionIndexSchema,
                [Int32(users), Int32(data.SessionIds), Int64(offsets), Int32(lengths)], data.SessionCount);
        }
    }

    /// <summary>Writes record batches to a temporary file and renames it, so a crash never leaves half a file.</summary>
    public static void WriteAtomically(string path, Schema schema, Func<IEnumerable<RecordBatch>> batches)
    {
        var tmp = path + ".tmp";
        using (var stream = File.Create(tmp))
        using (var writer = new ArrowFileWriter(stream, schema))
        {
            writer.WriteStart();
            foreach (var batch in batches())
                using (batch)
                    writer.WriteRecordBatch(batch);
            writer.WriteEnd();
        }
        File.Move(tmp, path, overwrite: true);
    }

    static Int32Array Int32(ReadOnlySpan<int> values) => new Int32Array.Builder().Append(values).Build();
    static Int64Array Int64(ReadOnlySpan<long> values) => new Int64Array.Builder().Append(values).Build();
}
