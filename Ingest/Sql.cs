using DuckDB.NET.Data;

namespace HrnnPipeline.Ingest;

/// <summary>Runs one DuckDB statement with $name parameters; cancelling the token interrupts the statement.</summary>
internal static class Sql
{
    public static int Execute(this DuckDBConnection connection, string sql, Parameters? parameters = null, CancellationToken ct = default)
    {
        using var command = Create(connection, sql, parameters);
        using var cancel = ct.Register(command.Cancel);
        return command.ExecuteNonQuery();
    }

    public static List<object?[]> Rows(this DuckDBConnection connection, string sql, Parameters? parameters = null, CancellationToken ct = default)
    {
        using var command = Create(connection, sql, parameters);
        using var cancel = ct.Register(command.Cancel);
        using var reader = command.ExecuteReader();
        var rows = new List<object?[]>();
        while (reader.Read())
        {
            var row = new object?[reader.FieldCount];
            for (int i = 0; i < row.Length; i++) row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            rows.Add(row);
        }
        return rows;
    }

    static DuckDBCommand Create(DuckDBConnection connection, string sql, Parameters? parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters ?? [])
            command.Parameters.Add(new DuckDBParameter(name, value ?? DBNull.Value));
        return command;
    }
}

/// <summary>Named statement parameters ($name in the SQL, "name" here).</summary>
internal sealed class Parameters : Dictionary<string, object?>
{
    public Parameters() : base(StringComparer.Ordinal) { }
    public Parameters(IDictionary<string, object?> other) : base(other, StringComparer.Ordinal) { }
}
