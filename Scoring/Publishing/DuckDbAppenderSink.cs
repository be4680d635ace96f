using DuckDB.NET.Data;

namespace HrnnPipeline.Scoring.Publishing;

/// <summary>A DuckDB table's appender as a <see cref="IRowSink"/>: the DuckDB store's staging tables and the Parquet export.</summary>
sealed class DuckDbAppenderSink(DuckDBAppender appender) : IRowSink
{
    IDuckDBAppenderRow? _row;

    /// <summary>Opens the appender of <paramref name="table"/> (created beforehand, columns as the schema lists them).</summary>
    public static Task<IRowSink> OpenAsync(DuckDBConnection conn, string table) =>
        Task.FromResult<IRowSink>(new DuckDbAppenderSink(conn.CreateAppender(table)));

    public IRowSink StartRow()
    {
        _row = appender.CreateRow();
        return this;
    }

    public IRowSink Write(string value) => Append(Row.AppendValue(value));
    public IRowSink Write(int value) => Append(Row.AppendValue(value));
    public IRowSink Write(long value) => Append(Row.AppendValue(value));
    public IRowSink Write(float value) => Append(Row.AppendValue(value));
    public IRowSink Write(float[] value) => Append(Row.AppendValue(value));
    public IRowSink Write(bool value) => Append(Row.AppendValue(value));
    public IRowSink WriteNull() => Append(Row.AppendNullValue());
    public void EndRow() => Row.EndRow();

    public ValueTask CompleteAsync(CancellationToken ct)
    {
        appender.Close();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        appender.Dispose();
        return ValueTask.CompletedTask;
    }

    IDuckDBAppenderRow Row => _row ?? throw new InvalidOperationException("StartRow first");

    // The appender's row is the same object value after value; this sink stands for it in the chain.
    IRowSink Append(IDuckDBAppenderRow row)
    {
        _row = row;
        return this;
    }
}
