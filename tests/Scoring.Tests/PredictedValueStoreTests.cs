using System.Globalization;
using DuckDB.NET.Data;
using HrnnPipeline.Scoring.Publishing;
using HrnnPipeline.ServiceDefaults;
using Npgsql;

namespace HrnnPipeline.Tests.Scoring;

/// <summary>The predicted value column of published rows (binary and regression models): stores made before it
/// are migrated in place, keeping what they hold, and a version scored with values publishes them.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PredictedValueStoreTests(PostgresFixture postgres)
{
    const int Items = 50;

    /// <summary>Three users, two items each; user 1's second item has no predicted value.</summary>
    static string WriteScoresWithValues(WorkDirectory work, string version)
    {
        var dir = Path.Combine(work.Scores, version);
        using var writer = new ScoreShardWriter(dir, 0, 1, withValues: true);
        for (int u = 0; u < 3; u++)
            writer.Add(FakeScores.UserId(u), [FakeScores.ItemId(u + 1), FakeScores.ItemId(u + 2)], [0.9f, 0.8f],
                [1f, 2f], [3f, 4f], [0.5f + u, u == 1 ? float.NaN : -1f]);
        writer.Complete();
        return dir;
    }

    static Task PublishAsync(IRecommendationStore store, string dir, string version) =>
        new Publisher(new PublishOptions { ExportParquet = false }).PublishAsync(dir, version, 1, FakeScores.Items(Items),
            "{}", null, store, CancellationToken.None);

    [Fact]
    public async Task A_warehouse_from_before_values_keeps_its_rows_and_gets_the_column()
    {
        var work = new WorkDirectory(Path.Combine(postgres.Root, "work-" + Guid.NewGuid().ToString("N")[..8]));
        Directory.CreateDirectory(work.Root);
        using (var old = new DuckDBConnection($"Data Source={work.Warehouse}"))
        {
            old.Open();
            using var create = old.CreateCommand();
            create.CommandText = """
                create table recommendations (version varchar not null, user_id varchar not null, rank integer not null,
                    item_id varchar not null, score float not null);
                insert into recommendations values ('old', 'u1', 1, 'i1', 0.5);
                """;
            create.ExecuteNonQuery();
        }
        await using (var store = await DuckDbRecommendationStore.OpenAsync(work.Warehouse))
        {
            await PublishAsync(store, WriteScoresWithValues(work, "v1"), "v1");
            await AssertReadBackAsync(store);
        }

        using var conn = new DuckDBConnection($"Data Source={work.Warehouse}");
        conn.Open();
        Assert.Equal(["old u1 1 i1 0.5 -"], Rows(conn, "old"));
        Assert.Equal(ExpectedRows, Rows(conn, "v1"));
    }

    [Fact]
    public async Task A_postgres_store_from_before_values_keeps_its_rows_and_gets_the_column()
    {
        var connectionString = await postgres.CreateDatabaseAsync();
        await using (var old = new NpgsqlConnection(connectionString))
        {
            await old.OpenAsync();
            await using var create = new NpgsqlCommand("""
                create table recommendations (version text collate "C" not null, user_id text collate "C" not null,
                    rank integer not null, item_id text collate "C" not null, score real not null) partition by list (version);
                create table recommendations_old partition of recommendations for values in ('old');
                insert into recommendations values ('old', 'u1', 1, 'i1', 0.5);
                """, old);
            await create.ExecuteNonQueryAsync();
        }
        var work = new WorkDirectory(Path.Combine(postgres.Root, "work-" + Guid.NewGuid().ToString("N")[..8]));
        await using (var store = await PostgresRecommendationStore.OpenAsync(connectionString))
        {
            await PublishAsync(store, WriteScoresWithValues(work, "v1"), "v1");
            await AssertReadBackAsync(store);
        }

        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        Assert.Equal(["old u1 1 i1 0.5 -"], await RowsAsync(conn, "old"));
        Assert.Equal(ExpectedRows, await RowsAsync(conn, "v1"));
        NpgsqlConnection.ClearAllPools();
    }

    /// <summary>What the read API serves: each item's predicted value, none where the row has none.</summary>
    static async Task AssertReadBackAsync(IRecommendationStore store)
    {
        var lookup = await store.GetRecommendationsAsync(FakeScores.UserId(1), 2);
        Assert.Equal("v1", lookup.Version);
        Assert.Equal([1.5f, null], lookup.Items.Select(i => i.PredictedValue));
    }

    static readonly string[] ExpectedRows =
    [
        "v1 user-0 1 item-00001 0.9 0.5", "v1 user-0 2 item-00002 0.8 -1",
        "v1 user-1 1 item-00002 0.9 1.5", "v1 user-1 2 item-00003 0.8 -",
        "v1 user-2 1 item-00003 0.9 2.5", "v1 user-2 2 item-00004 0.8 -1",
    ];

    const string Select = "select version, user_id, rank, item_id, score, predicted_value from recommendations";

    static string Row(object?[] r) => string.Join(" ", r.Select(v => v switch
    {
        null or DBNull => "-",
        float f => f.ToString("0.###", CultureInfo.InvariantCulture),
        double d => d.ToString("0.###", CultureInfo.InvariantCulture),
        _ => Convert.ToString(v, CultureInfo.InvariantCulture),
    }));

    static List<string> Rows(DuckDBConnection conn, string version)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = $"{Select} where version = $v order by user_id, rank";
        cmd.Parameters.Add(new DuckDBParameter("v", version));
        using var reader = cmd.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            var values = new object?[reader.FieldCount];
            reader.GetValues(values!);
            rows.Add(Row(values));
        }
        return rows;
    }

    static async Task<List<string>> RowsAsync(NpgsqlConnection conn, string version)
    {
        await using var cmd = new NpgsqlCommand($"{Select} where version = $1 order by user_id, rank", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = version });
        await using var reader = await cmd.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            var values = new object?[reader.FieldCount];
            reader.GetValues(values!);
            rows.Add(Row(values));
        }
        return rows;
    }
}
