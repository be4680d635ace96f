using System.Runtime.InteropServices;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using DuckDB.NET.Data;

namespace HrnnPipeline.Features;

/// <summary>One events file fed by <see cref="SplitEventsExport"/>: the rows whose mask has <see cref="Bit"/> set, with
/// the item column <c>item_idx</c>, or <c>complete_item_idx</c> when <see cref="CompleteItems"/>.</summary>
internal sealed record SplitTarget(string Path, int Bit, bool CompleteItems);

/// <summary>
/// Writes several split files (<see cref="ArrowSessions.EventSchema"/>) from one streamed scan instead of one scan
/// per file: the query yields <c>user_idx, session_idx, item_idx, complete_item_idx, ts, mask</c> (INTEGER but ts
/// BIGINT, no NULLs), and each row goes to every target whose bit its mask has, in query order. Each file gets the
/// rows a filtered scan of the same order would give, in the same <see cref="ArrowSessions.BatchRows"/>-row batches.
/// Files are written atomically, all or none; session_idx must never decrease within a file.
/// </summary>
internal static class SplitEventsExport
{
    const int User = 0, Session = 1, Item = 2, CompleteItem = 3, Ts = 4, Mask = 5;

    /// <summary>Returns the rows written per target.</summary>
    public static async Task<long[]> WriteAsync(
        DuckDBConnection connection, string sql, IReadOnlyList<SplitTarget> targets, CancellationToken ct)
    {
        var files = new List<TargetFile>();
        try
        {
            foreach (var target in targets) files.Add(new TargetFile(target));
            foreach (var file in files) await file.Writer.WriteStartAsync(ct);
            using (var command = connection.CreateCommand())
            {
                command.CommandText = sql;
                command.UseStreamingMode = true;
                await foreach (var batch in command.ExecuteArrowBatchesAsync(ct))
                {
                    using (batch)
                    {
                        CheckShape(batch);
                        foreach (var file in files)
                        {
                            for (int from = 0; from < batch.Length;)
                            {
                                from = file.Take(batch, from);
                                if (file.IsFull) await file.FlushAsync(ct);
                            }
                        }
                    }
                }
            }
            foreach (var file in files) await file.FinishAsync(ct);
            foreach (var file in files) File.Move(file.Tmp, file.Target.Path, overwrite: true);
            return [.. files.Select(f => f.Rows)];
        }
        finally
        {
            foreach (var file in files)
            {
                file.Dispose();
                if (File.Exists(file.Tmp)) File.Delete(file.Tmp); // a failed export leaves the previous files
            }
        }
    }

    static void CheckShape(RecordBatch batch)
    {
        if (batch.ColumnCount != 6)
            throw new InvalidOperationException($"split export query returned {batch.ColumnCount} columns, expected 6");
        for (int c = 0; c < 6; c++)
        {
            var column = batch.Column(c);
            if ((c == Ts ? column is not Int64Array : column is not Int32Array) || column.NullCount != 0)
                throw new InvalidOperationException(
                    $"split export column {c} ({batch.Schema.FieldsList[c].Name}) is {batch.Schema.FieldsList[c].DataType.Name}" +
                    $"{(column.NullCount != 0 ? " with NULLs" : "")}, expected {(c == Ts ? "int64" : "int32")} without NULLs");
        }
    }

    /// <summary>One output file and its batch being filled.</summary>
    sealed class TargetFile : IDisposable
    {
        readonly Stream _stream;
        // Byte buffers the batch's arrays wrap as they are: a batch is written before the buffers are refilled, so
        // no copy through Arrow's builders is needed.
        readonly byte[] _users = new byte[ArrowSessions.BatchRows * sizeof(int)];
        readonly byte[] _sessions = new byte[ArrowSessions.BatchRows * sizeof(int)];
        readonly byte[] _items = new byte[ArrowSessions.BatchRows * sizeof(int)];
        readonly byte[] _ts = new byte[ArrowSessions.BatchRows * sizeof(long)];
        int _count;
        int _lastSession = int.MinValue;

        public TargetFile(SplitTarget target)
        {
            Target = target;
            Tmp = target.Path + ".tmp";
            _stream = File.Create(Tmp);
            Writer = new ArrowFileWriter(_stream, ArrowSessions.EventSchema);
        }

        public SplitTarget Target { get; }
        public string Tmp { get; }
        public ArrowFileWriter Writer { get; }
        public long Rows { get; private set; }

        public bool IsFull => _count == ArrowSessions.BatchRows;

        /// <summary>Copies the rows from <paramref name="from"/> on that this file keeps, until the batch ends or this
        /// file's batch is full; returns the row to continue from.</summary>
        public int Take(RecordBatch batch, int from)
        {
            var mask = ((Int32Array)batch.Column(Mask)).Values;
            var users = ((Int32Array)batch.Column(User)).Values;
            var sessions = ((Int32Array)batch.Column(Session)).Values;
            var items = ((Int32Array)batch.Column(Target.CompleteItems ? CompleteItem : Item)).Values;
            var ts = ((Int64Array)batch.Column(Ts)).Values;
            var outUsers = MemoryMarshal.Cast<byte, int>(_users.AsSpan());
            var outSessions = MemoryMarshal.Cast<byte, int>(_sessions.AsSpan());
            var outItems = MemoryMarshal.Cast<byte, int>(_items.AsSpan());
            var outTs = MemoryMarshal.Cast<byte, long>(_ts.AsSpan());
            int bit = 1 << Target.Bit, r = from;
            for (; r < mask.Length && _count < ArrowSessions.BatchRows; r++)
            {
                if ((mask[r] & bit) == 0) continue;
                int session = sessions[r];
                if (session < _lastSession)
                    throw new InvalidOperationException($"{Target.Path}: rows out of order (session_idx {session} after {_lastSession})");
                _lastSession = session;
                outUsers[_count] = users[r];
                outSessions[_count] = session;
                outItems[_count] = items[r];
                outTs[_count] = ts[r];
                _count++;
            }
            return r;
        }

        public async Task FlushAsync(CancellationToken ct)
        {
            if (_count == 0) return;
            using var batch = new RecordBatch(ArrowSessions.EventSchema,
            [
                new Int32Array(Wrap(_users, sizeof(int)), ArrowBuffer.Empty, _count, 0, 0),
                new Int32Array(Wrap(_sessions, sizeof(int)), ArrowBuffer.Empty, _count, 0, 0),
                new Int32Array(Wrap(_items, sizeof(int)), ArrowBuffer.Empty, _count, 0, 0),
                new Int64Array(Wrap(_ts, sizeof(long)), ArrowBuffer.Empty, _count, 0, 0),
            ], _count);
            await Writer.WriteRecordBatchAsync(batch, ct);
            Rows += _count;
            _count = 0;
        }

        /// <summary>The first rows of a buffer, zero-padded to 64 bytes as Arrow's builders leave them (so the files
        /// are byte for byte what the builders wrote); the buffers' sizes are multiples of 64.</summary>
        ArrowBuffer Wrap(byte[] values, int size)
        {
            int used = _count * size, padded = (used + 63) & ~63;
            values.AsSpan(used, padded - used).Clear();
            return new ArrowBuffer(values.AsMemory(0, padded));
        }

        public async Task FinishAsync(CancellationToken ct)
        {
            await FlushAsync(ct);
            await Writer.WriteEndAsync(ct);
            Dispose();
        }

        public void Dispose()
        {
            Writer.Dispose();
            _stream.Dispose();
        }
    }
}
