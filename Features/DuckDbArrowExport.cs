using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using DuckDB.NET.Data;

namespace HrnnPipeline.Features;

/// <summary>
/// Streams a DuckDB query into an Arrow IPC file without one object per row. DuckDB hands over one Arrow batch per
/// 2,048-row data chunk; the values are copied span by span into <see cref="ArrowSessions.BatchRows"/>-row batches,
/// so files stay compact and readers do few large reads. Columns must come out of SQL already cast to the target
/// schema's types (INTEGER → int32, BIGINT → int64), in the same order, without NULLs.
/// </summary>
internal static class DuckDbArrowExport
{
    /// <summary>
    /// Runs <paramref name="sql"/> and writes its rows to <paramref name="path"/> atomically; returns the row count.
    /// The int32 column <paramref name="ascendingColumn"/> must never decrease: a guard on the row order the file
    /// promises, checked as the rows stream by.
    /// </summary>
    public static async Task<long> WriteAsync(
        DuckDBConnection connection, string sql, Schema schema, string path, string ascendingColumn, CancellationToken ct)
    {
        int orderColumn = schema.GetFieldIndex(ascendingColumn);
        int previous = int.MinValue;
        var tmp = path + ".tmp";
        long rows = 0;
        try
        {
            await using (var stream = File.Create(tmp))
            using (var writer = new ArrowFileWriter(stream, schema))
            using (var command = connection.CreateCommand())
            {
                command.CommandText = sql;
                command.UseStreamingMode = true; // DuckDB produces chunks as we write them instead of materialising the result
                await writer.WriteStartAsync(ct);
                var buffer = new ColumnBuffer(schema);
                await foreach (var batch in command.ExecuteArrowBatchesAsync(ct))
                {
                    using (batch)
                    {
                        CheckShape(batch, schema, path);
                        previous = CheckAscending(((Int32Array)batch.Column(orderColumn)).Values, previous, ascendingColumn, path);
                        for (int from = 0; from < batch.Length;)
                        {
                            int taken = buffer.Append(batch, from);
                            from += taken;
                            if (buffer.IsFull)
                            {
                                rows += buffer.Count;
                                using var full = buffer.Flush();
                                await writer.WriteRecordBatchAsync(full, ct);
                            }
                        }
                    }
                }
                if (buffer.Count > 0)
                {
                    rows += buffer.Count;
                    using var last = buffer.Flush();
                    await writer.WriteRecordBatchAsync(last, ct);
                }
                await writer.WriteEndAsync(ct);
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp); // a failed export leaves the previous file, not a fragment
        }
        return rows;
    }

    static int CheckAscending(ReadOnlySpan<int> values, int previous, string column, string path)
    {
        foreach (var value in values)
        {
            if (value < previous)
                throw new InvalidOperationException($"{path}: rows out of order ({column} {value} after {previous})");
            previous = value;
        }
        return previous;
    }

    static void CheckShape(RecordBatch batch, Schema schema, string path)
    {
        if (batch.ColumnCount != schema.FieldsList.Count)
            throw new InvalidOperationException($"{path}: query returned {batch.ColumnCount} columns, schema has {schema.FieldsList.Count}");
        for (int c = 0; c < batch.ColumnCount; c++)
        {
            var expected = schema.FieldsList[c];
            var actual = batch.Schema.FieldsList[c];
            if (actual.Name != expected.Name || actual.DataType.TypeId != expected.DataType.TypeId)
                throw new InvalidOperationException(
                    $"{path}: column {c} is {actual.Name} {actual.DataType.Name}, expected {expected.Name} {expected.DataType.Name}");
            if (batch.Column(c).NullCount != 0)
                throw new InvalidOperationException($"{path}: column {expected.Name} has NULLs");
        }
    }

    /// <summary>One fixed-size value buffer per column, reused across output batches.</summary>
    sealed class ColumnBuffer
    {
        readonly Schema _schema;
        readonly int[]?[] _ints;
        readonly long[]?[] _longs;

        public ColumnBuffer(Schema schema)
        {
            _schema = schema;
            _ints = new int[]?[schema.FieldsList.Count];
            _longs = new long[]?[schema.FieldsList.Count];
            for (int c = 0; c < schema.FieldsList.Count; c++)
            {
                switch (schema.FieldsList[c].DataType.TypeId)
                {
                    case ArrowTypeId.Int32: _ints[c] = new int[ArrowSessions.BatchRows]; break;
                    case ArrowTypeId.Int64: _longs[c] = new long[ArrowSessions.BatchRows]; break;
                    default: throw new NotSupportedException($"column type {schema.FieldsList[c].DataType.Name}");
                }
            }
        }

        public int Count { get; private set; }
        public bool IsFull => Count == ArrowSessions.BatchRows;

        /// <summary>Copies rows from <paramref name="from"/> on until the batch or this buffer is full.</summary>
        public int Append(RecordBatch batch, int from)
        {
            int n = Math.Min(batch.Length - from, ArrowSessions.BatchRows - Count);
            for (int c = 0; c < _ints.Length; c++)
            {
                if (_ints[c] is { } ints)
                    ((Int32Array)batch.Column(c)).Values.Slice(from, n).CopyTo(ints.AsSpan(Count));
                else
                    ((Int64Array)batch.Column(c)).Values.Slice(from, n).CopyTo(_longs[c].AsSpan(Count));
            }
            Count += n;
            return n;
        }

        public RecordBatch Flush()
        {
            var columns = new IArrowArray[_ints.Length];
            for (int c = 0; c < columns.Length; c++)
                columns[c] = _ints[c] is { } ints
                    ? new Int32Array.Builder().Append(ints.AsSpan(0, Count)).Build()
                    : new Int64Array.Builder().Append(_longs[c].AsSpan(0, Count)).Build();
            var batch = new RecordBatch(_schema, columns, Count);
            Count = 0;
            return batch;
        }
    }
}
