using Npgsql;

namespace HrnnPipeline.Scoring.Publishing;

public sealed partial class PostgresRecommendationStore
{
    public async Task EnsureSchemaAsync(CancellationToken ct = default)
    {
        // The transaction-scoped lock makes concurrent first opens wait for one another instead of racing the DDL.
        await using var conn = await OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var cmd = new NpgsqlCommand("select pg_advisory_xact_lock(@lock);\n" + StoreSchema.CreateIfMissingSql(SqlDialect.Postgres), conn, tx))
        {
            cmd.Parameters.AddWithValue("lock", SchemaLockKey);
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
    }
}
