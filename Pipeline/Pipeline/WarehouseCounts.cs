using DuckDB.NET.Data;

namespace HrnnPipeline.AppHost.Pipeline;

/// <summary>Counts read from the warehouse for the summaries.</summary>
static class WarehouseCounts
{
    public static async Task<long> RejectedAsync(string warehouse, CancellationToken ct)
    {
        await using var connection = new DuckDBConnection($"Data Source={warehouse}");
        await connection.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT count(*) FROM information_schema.tables WHERE table_name = 'rejected_events'
            """;
        if (Convert.ToInt64(await command.ExecuteScalarAsync(ct)) == 0) return 0;
        command.CommandText = "SELECT count(*) FROM rejected_events";
        return Convert.ToInt64(await command.ExecuteScalarAsync(ct));
    }
}
