using System.Text;
using HrnnPipeline.ServiceDefaults;
using Npgsql;
using NpgsqlTypes;

namespace HrnnPipeline.Scoring.Publishing;

public sealed partial class PostgresRecommendationStore
{
    /// <summary>Fresh staging tables for the version, filled by binary COPY from its shards.</summary>
    async Task<ShardRowCounts> LoadStagingAsync(NpgsqlConnection conn, PartitionNames names, VersionToPublish v, CancellationToken ct)
    {
        await CreateStagingTablesAsync(conn, names, ct);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        return await ShardRows.LoadAsync(
            (table, token) => PostgresCopySink.OpenAsync(conn, names.Staging(table.Name), table, token),
            names.Version, v.Shards, v.Items, ct,
            new ProgressReporter($"publish {names.Version} to postgres", v.Shards.Rows, "rows"),
            step =>
            {
                PublishLog.Step(_logger, Kind, names.Version, $"copy of {step}", clock.Elapsed.TotalSeconds);
                clock.Restart();
            });
    }

    static async Task CreateStagingTablesAsync(NpgsqlConnection conn, PartitionNames names, CancellationToken ct)
    {
        // Bounds and checks are DDL and take no parameters; the version was validated to [A-Za-z0-9._-].
        // The CHECK lets ATTACH PARTITION skip scanning the table to prove the bound.
        var sql = new StringBuilder();
        foreach (var table in StoreSchema.VersionTables)
            sql.Append($"""
                drop table if exists {names.Staging(table.Name)};
                create table {names.Staging(table.Name)} (like {table.Name} including defaults including constraints,
                    check (version = '{names.Version}'));

                """);
        await ExecuteAsync(conn, sql.ToString(), ct);
    }

    static async Task IndexStagingAsync(NpgsqlConnection conn, PartitionNames names, string versionDir, CancellationToken ct)
    {
        try
        {
            await ExecuteAsync(conn, StoreSchema.PostgresIndexSql(names.Staging), ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            // The server hides the offending key unless error details are enabled: ask for it directly.
            var repeated = await ScalarAsync<string>(conn, StoreSchema.RepeatedKeySql(names.Staging), ct);
            if (repeated is null) throw; // not a key of the score shards themselves: reported as the database's error
            throw new PipelineException($"{versionDir}: {repeated} appears in more than one row of the score shards", inner: e);
        }
    }

    /// <summary>One staging table's binary COPY as a <see cref="IRowSink"/>.</summary>
    sealed class PostgresCopySink(NpgsqlBinaryImporter importer) : IRowSink
    {
        public static async Task<IRowSink> OpenAsync(NpgsqlConnection conn, string staging, StoreTable table, CancellationToken ct)
        {
            var importer = await conn.BeginBinaryImportAsync($"copy {staging} ({table.ColumnList}) from stdin (format binary)", ct);
            importer.Timeout = TimeSpan.FromMinutes(10); // per network operation; big shards stream for minutes
            return new PostgresCopySink(importer);
        }

        // Synchronous writes: they only fill Npgsql's buffer, and async per value would cost more than the I/O.
        public IRowSink StartRow()
        {
            importer.StartRow();
            return this;
        }

        public IRowSink Write(string value) => Write(value, NpgsqlDbType.Text);
        public IRowSink Write(int value) => Write(value, NpgsqlDbType.Integer);
        public IRowSink Write(long value) => Write(value, NpgsqlDbType.Bigint);
        public IRowSink Write(float value) => Write(value, NpgsqlDbType.Real);
        public IRowSink Write(float[] value) => Write(value, NpgsqlDbType.Array | NpgsqlDbType.Real);
        public IRowSink Write(bool value) => Write(value, NpgsqlDbType.Boolean);

        public IRowSink WriteNull()
        {
            importer.WriteNull();
            return this;
        }

        public void EndRow() { }
        public async ValueTask CompleteAsync(CancellationToken ct) => await importer.CompleteAsync(ct);
        public ValueTask DisposeAsync() => importer.DisposeAsync();

        IRowSink Write<T>(T value, NpgsqlDbType type)
        {
            importer.Write(value, type);
            return this;
        }
    }
}
