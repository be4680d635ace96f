using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using DuckDB.NET.Data;

namespace HrnnPipeline.Features;

/// <summary>
/// The outcome value of each event of a split (a rating, 1/0, a purchase's weight), in the companion file
/// <c>*.values.arrow</c> (<c>session_idx</c>, <c>value</c>), row for row beside the split's events. Only logs with
/// values get one: the events files themselves stay as they are, and a split without a companion is all clicks
/// (value 1). An event with no value of its own and a type that <see cref="FeatureOptions.EventTypeValues"/>
/// does not map is a plain click too (1).
/// </summary>
public static class OutcomeValues
{
    public static readonly Schema Schema = new Schema.Builder()
        .Field(f => f.Name("session_idx").DataType(Int32Type.Default).Nullable(false))
        .Field(f => f.Name("value").DataType(FloatType.Default).Nullable(false))
        .Build();

    public static string PathOf(string eventsPath) => Path.ChangeExtension(eventsPath, ".values.arrow");

    /// <summary>An event's value: its own, else its type's (list lookups, so any number of types is one expression).</summary>
    internal static string ValueSql(string events) =>
        $"coalesce({events}.value, list_extract($type_values, list_position($type_names, lower({events}.event_type))))";

    internal static DuckDBParameter[] TypeParameters(string[] types, double[] values) =>
        [new DuckDBParameter("type_names", types), new DuckDBParameter("type_values", values)];

    /// <summary>Writes the values of the split's events (<paramref name="filter"/> over session_events, in its stored
    /// order like the events file), or removes a stale companion when the log has no values (null).</summary>
    internal static async Task ExportAsync(DuckDBConnection connection, string? filter, string eventsPath, CancellationToken ct)
    {
        var path = PathOf(eventsPath);
        if (filter is null)
        {
            if (File.Exists(path)) File.Delete(path);
            return;
        }
        var sessions = new List<int>();
        var values = new List<float>();
        using (var command = connection.CreateCommand())
        {
            command.CommandText = $"SELECT session_idx, CAST(coalesce(value, 1) AS FLOAT) FROM session_events WHERE {filter}";
            command.UseStreamingMode = true;
            using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                sessions.Add(reader.GetInt32(0));
                values.Add(reader.GetFloat(1));
            }
        }
        ArrowSessions.WriteAtomically(path, Schema, () => Batches(sessions, values));
    }

    static IEnumerable<RecordBatch> Batches(List<int> sessions, List<float> values)
    {
        var s = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(sessions);
        var v = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(values);
        var batches = new List<RecordBatch>();
        for (int start = 0; start < s.Length || start == 0; start += ArrowSessions.BatchRows)
        {
            int n = Math.Min(ArrowSessions.BatchRows, s.Length - start);
            batches.Add(new RecordBatch(Schema,
                [new Int32Array.Builder().Append(s.Slice(start, n)).Build(), new FloatArray.Builder().Append(v.Slice(start, n)).Build()], n));
            if (n == 0) break;
        }
        return batches;
    }

    /// <summary>Writes a dataset's values (tests, and datasets built in memory); nothing when it has none.</summary>
    public static void Write(string eventsPath, SessionDataset data)
    {
        if (data.Values is null) return;
        var sessions = new List<int>(data.EventCount);
        for (int s = 0; s < data.SessionCount; s++)
            for (int e = data.SessionStarts[s]; e < data.SessionStarts[s + 1]; e++) sessions.Add(data.SessionIds[s]);
        ArrowSessions.WriteAtomically(PathOf(eventsPath), Schema, () => Batches(sessions, [.. data.Values]));
    }

    /// <summary>The values of a split's events, checked row for row against its sessions; null without a companion.</summary>
    public static float[]? Read(string eventsPath, SessionDataset data)
    {
        var path = PathOf(eventsPath);
        if (!File.Exists(path)) return null;
        var values = new List<float>(data.EventCount);
        var sessions = new List<int>(data.EventCount);
        using (var stream = File.OpenRead(path))
        using (var reader = new ArrowFileReader(stream))
        {
            RecordBatch? batch;
            while ((batch = reader.ReadNextRecordBatch()) is not null)
                using (batch)
                {
                    sessions.AddRange(((Int32Array)batch.Column("session_idx")).Values);
                    values.AddRange(((FloatArray)batch.Column("value")).Values);
                }
        }
        if (values.Count != data.EventCount)
            throw new InvalidDataException($"{path}: {values.Count} values for {data.EventCount} events; run `prepare` again");
        for (int s = 0; s < data.SessionCount; s++)
            for (int e = data.SessionStarts[s]; e < data.SessionStarts[s + 1]; e++)
                if (sessions[e] != data.SessionIds[s])
                    throw new InvalidDataException($"{path}: row {e} belongs to session {sessions[e]}, the events file says {data.SessionIds[s]}; run `prepare` again");
        return [.. values];
    }
}
