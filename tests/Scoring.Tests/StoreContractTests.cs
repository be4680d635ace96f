using System.Collections.Concurrent;
using DuckDB.NET.Data;
using HrnnPipeline.Scoring.Publishing;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Tests.Scoring;

/// <summary>The same contract, run against PostgreSQL and against the DuckDB warehouse.</summary>
[Collection(PostgresCollection.Name)]
public sealed class StoreContractTests(PostgresFixture postgres)
{
    public static TheoryData<string> Stores => new() { StoreUnderTest.Postgres, StoreUnderTest.DuckDb };

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Publishing_two_versions_serves_the_second_and_every_user_gets_k_distinct_items(string kind)
    {
        await using var t = await StoreUnderTest.CreateAsync(kind, postgres);
        const int users = 300, k = 20;

        var first = await t.PublishAsync("v1", seed: 1, users, k);
        Assert.Equal(users, first.Users);
        Assert.Equal(users * k, first.Rows);
        Assert.Equal(k, first.ListLength);
        Assert.Equal("v1", await t.Store.GetActiveVersionAsync());

        Assert.Equal("exact", first.ScoringMode);
        // v2's lists come from the approximate mode: the version says so, v1 stays exact.
        var second = await t.PublishAsync("v2", seed: 2, users, k, scoringMode: "approximate");
        Assert.Equal("approximate", second.ScoringMode);
        Assert.Equal("v2", await t.Store.GetActiveVersionAsync());

        for (int u = 0; u < users; u++)
        {
            var lookup = await t.Store.GetRecommendationsAsync(FakeScores.UserId(u), k);
            Assert.Equal("v2", lookup.Version);
            Assert.Equal(k, lookup.Items.Count);
            Assert.Equal(k, lookup.Items.Select(i => i.ItemId).Distinct().Count());
            Assert.Equal(Enumerable.Range(1, k), lookup.Items.Select(i => i.Rank));
            Assert.Equal(ExpectedItems(seed: 2, u, k), lookup.Items.Select(i => i.ItemId));
        }
        var top3 = await t.Store.GetRecommendationsAsync(FakeScores.OddUser, 3);
        Assert.Equal(ExpectedItems(seed: 2, 7, 3), top3.Items.Select(i => i.ItemId));
        Assert.Equal(FakeScores.Score(2, 1), top3.Items[0].Score);

        var unknown = await t.Store.GetRecommendationsAsync("nobody", k);
        Assert.Equal("v2", unknown.Version);
        Assert.Empty(unknown.Items);

        var state = await t.Store.GetSessionStateAsync(FakeScores.UserId(5));
        Assert.Equal(FakeScores.SessionState(2, 5), state.SessionState);

        var versions = await t.Store.ListVersionsAsync();
        Assert.Equal(["v2", "v1"], versions.Select(v => v.Version));
        Assert.Equal([ModelVersionStatus.Active, ModelVersionStatus.Ready], versions.Select(v => v.Status));
        Assert.Contains("\"seed\"", versions[0].TrainingSummaryJson);
        Assert.Contains("recall_at_20", versions[0].EvaluationSummaryJson);
        Assert.Equal(["approximate", "exact"], versions.Select(v => v.ScoringMode));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Readers_never_see_a_mix_of_versions_or_an_empty_list_during_a_publish(string kind)
    {
        await using var t = await StoreUnderTest.CreateAsync(kind, postgres);
        const int users = 20_000, k = 20;
        var noExport = new PublishOptions { ExportParquet = false };
        await t.PublishAsync("v1", seed: 1, users, k, noExport);
        var v2Dir = t.WriteScores("v2", seed: 2, users, k); // scored before, so the reader overlaps the load itself

        var failures = new ConcurrentQueue<string>();
        var seen = new ConcurrentDictionary<string, int>();
        using var publishDone = new CancellationTokenSource();
        await using var readerStore = t.OpenAnother();
        var reader = Task.Run(async () =>
        {
            var random = new Random(42);
            int afterPublish = 0;
            while (afterPublish < 50)
            {
                if (publishDone.IsCancellationRequested) afterPublish++;
                int u = random.Next(users);
                var lookup = await readerStore.GetRecommendationsAsync(FakeScores.UserId(u), k);
                seen.AddOrUpdate(lookup.Version ?? "none", 1, (_, n) => n + 1);
                int seed = lookup.Version switch { "v1" => 1, "v2" => 2, _ => -1 };
                if (seed < 0) failures.Enqueue($"user {u}: version {lookup.Version ?? "none"}");
                else if (!lookup.Items.Select(i => i.ItemId).SequenceEqual(ExpectedItems(seed, u, k)))
                    failures.Enqueue($"user {u}: {lookup.Items.Count} items that are not {lookup.Version}'s list");
            }
        });

        await new Publisher(noExport).PublishAsync(v2Dir, "v2", 2, FakeScores.Items(StoreUnderTest.ItemCount), "{}", null, t.Store, CancellationToken.None);
        await publishDone.CancelAsync();
        await reader;

        Assert.Empty(failures);
        Assert.True(seen.GetValueOrDefault("v1") > 0, "the reader never read v1 while v2 was loading");
        Assert.True(seen.GetValueOrDefault("v2") > 0, "the reader never read v2 after the switch");
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Rollback_restores_the_previous_lists(string kind)
    {
        await using var t = await StoreUnderTest.CreateAsync(kind, postgres);
        await t.PublishAsync("v1", seed: 1, users: 50, k: 10);
        await t.PublishAsync("v2", seed: 2, users: 50, k: 10);

        var restored = await new Publisher().RollbackAsync(t.Store, CancellationToken.None);

        Assert.Equal("v1", restored);
        Assert.Equal("v1", await t.Store.GetActiveVersionAsync());
        var lookup = await t.Store.GetRecommendationsAsync(FakeScores.UserId(3), 10);
        Assert.Equal("v1", lookup.Version);
        Assert.Equal(ExpectedItems(seed: 1, 3, 10), lookup.Items.Select(i => i.ItemId));
        var statuses = (await t.Store.ListVersionsAsync()).ToDictionary(v => v.Version, v => v.Status);
        Assert.Equal(ModelVersionStatus.Active, statuses["v1"]);
        Assert.Equal(ModelVersionStatus.Retired, statuses["v2"]);

        var nowhere = await Assert.ThrowsAsync<PipelineException>(() => t.Store.RollbackAsync());
        Assert.Contains("no earlier ready version", nowhere.Message);
        Assert.Equal("v1", await t.Store.GetActiveVersionAsync());
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Retention_keeps_the_last_N_versions(string kind)
    {
        await using var t = await StoreUnderTest.CreateAsync(kind, postgres);
        var keepTwo = new PublishOptions { KeepVersions = 2, ExportParquet = false };
        for (int i = 1; i <= 4; i++)
            await t.PublishAsync($"v{i}", seed: i, users: 20, k: 5, keepTwo);

        var statuses = (await t.Store.ListVersionsAsync()).ToDictionary(v => v.Version, v => v.Status);
        Assert.Equal(ModelVersionStatus.Active, statuses["v4"]);
        Assert.Equal(ModelVersionStatus.Ready, statuses["v3"]);
        Assert.Equal(ModelVersionStatus.Retired, statuses["v2"]);
        Assert.Equal(ModelVersionStatus.Retired, statuses["v1"]);
        Assert.Equal(0, await t.CountRowsAsync("recommendations", "v1"));
        Assert.Equal(0, await t.CountRowsAsync("user_states", "v2"));
        Assert.Equal(0, await t.CountRowsAsync("published_items", "v2"));
        Assert.Equal(100, await t.CountRowsAsync("recommendations", "v3"));

        // Rollback can only go as far back as what was kept.
        Assert.Equal("v3", await t.Store.RollbackAsync());
        await Assert.ThrowsAsync<PipelineException>(() => t.Store.RollbackAsync());
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Republishing_the_same_version_replaces_its_rows(string kind)
    {
        await using var t = await StoreUnderTest.CreateAsync(kind, postgres);
        await t.PublishAsync("v1", seed: 1, users: 40, k: 10);
        await t.PublishAsync("v2", seed: 2, users: 40, k: 10);

        var again = await t.PublishAsync("v2", seed: 3, users: 30, k: 10); // re-scored: fewer users, other items

        Assert.Equal(30, again.Users);
        Assert.Equal(300, await t.CountRowsAsync("recommendations", "v2"));
        Assert.Equal(30, await t.CountRowsAsync("user_states", "v2"));
        Assert.Equal(ExpectedItems(seed: 3, 4, 10), (await t.Store.GetRecommendationsAsync(FakeScores.UserId(4), 10)).Items.Select(i => i.ItemId));
        Assert.Empty((await t.Store.GetRecommendationsAsync(FakeScores.UserId(35), 10)).Items);
        var versions = await t.Store.ListVersionsAsync();
        Assert.Equal(2, versions.Count);
        Assert.Equal("v1", await t.Store.RollbackAsync()); // v1 is still there to go back to
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task A_failed_publish_leaves_the_active_version_serving(string kind)
    {
        await using var t = await StoreUnderTest.CreateAsync(kind, postgres);
        await t.PublishAsync("v1", seed: 1, users: 30, k: 5);
        // A broken scorer: the same user in both shards.
        var versionDir = Path.Combine(t.Work.Scores, "v2");
        for (int shard = 0; shard < 2; shard++)
        {
            using var writer = new ScoreShardWriter(versionDir, shard, 2);
            writer.Add($"user-{10 + shard}", ["item-00001"], [1f], [0f], [0f]);
            writer.Add("user-1", ["item-00002"], [1f], [0f], [0f]);
            writer.Complete();
        }

        var error = await Assert.ThrowsAsync<PipelineException>(() => new Publisher().PublishAsync(
            versionDir, "v2", 2, FakeScores.Items(StoreUnderTest.ItemCount), "{}", null, t.Store, CancellationToken.None));

        Assert.Contains("user-1", error.Message);
        Assert.Equal("v1", await t.Store.GetActiveVersionAsync());
        Assert.Equal(5, (await t.Store.GetRecommendationsAsync(FakeScores.UserId(1), 5)).Items.Count);
        var statuses = (await t.Store.ListVersionsAsync()).ToDictionary(v => v.Version, v => v.Status);
        Assert.Equal(ModelVersionStatus.Failed, statuses["v2"]);
        Assert.False(Directory.Exists(Path.Combine(t.Work.Exports, "v2")), "a failed version must not be exported");
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Item_ids_resolve_both_ways_within_a_version(string kind)
    {
        await using var t = await StoreUnderTest.CreateAsync(kind, postgres);
        await t.PublishAsync("v1", seed: 1, users: 5, k: 5);

        var idx = await t.Store.ResolveItemIdsAsync("v1", ["item-00003", "no-such-item", "item-00500"]);
        var ids = await t.Store.GetItemIdsAsync("v1", [3, 500, 501]);

        Assert.Equal(new Dictionary<string, int> { ["item-00003"] = 3, ["item-00500"] = 500 }, idx);
        Assert.Equal(new Dictionary<int, string> { [3] = "item-00003", [500] = "item-00500" }, ids);
        Assert.Empty(await t.Store.ResolveItemIdsAsync("v9", ["item-00003"]));
    }

    [Fact]
    public async Task Publishing_exports_the_version_to_parquet()
    {
        await using var t = await StoreUnderTest.CreateAsync(StoreUnderTest.Postgres, postgres);

        var result = await t.PublishAsync("v1", seed: 1, users: 120, k: 7);

        Assert.Equal(Path.Combine(t.Work.Exports, "v1"), result.ExportDirectory);
        using var duck = new DuckDBConnection("Data Source=:memory:");
        duck.Open();
        using var cmd = duck.CreateCommand();
        cmd.CommandText = $"""
            select (select count(*) from read_parquet($recs)),
                   (select count(distinct user_id) from read_parquet($recs)),
                   (select count(*) from read_parquet($states) where len(session_state) = {FakeScores.StateSize}),
                   (select count(*) from read_parquet($items)),
                   (select item_id from read_parquet($recs) where user_id = $user and rank = 1)
            """;
        cmd.Parameters.Add(new DuckDBParameter("recs", Path.Combine(result.ExportDirectory!, ParquetExport.RecommendationsFile)));
        cmd.Parameters.Add(new DuckDBParameter("states", Path.Combine(result.ExportDirectory!, ParquetExport.UserStatesFile)));
        cmd.Parameters.Add(new DuckDBParameter("items", Path.Combine(result.ExportDirectory!, ParquetExport.ItemsFile)));
        cmd.Parameters.Add(new DuckDBParameter("user", FakeScores.OddUser));
        using var reader = cmd.ExecuteReader();
        Assert.True(reader.Read());
        Assert.Equal(840L, reader.GetInt64(0));
        Assert.Equal(120L, reader.GetInt64(1));
        Assert.Equal(120L, reader.GetInt64(2));
        Assert.Equal((long)StoreUnderTest.ItemCount, reader.GetInt64(3));
        Assert.Equal(FakeScores.ItemId(FakeScores.ItemIdx(1, 7, 1, StoreUnderTest.ItemCount)), reader.GetString(4));
        Assert.False(Directory.Exists(result.ExportDirectory + ".partial"));
    }

    static IEnumerable<string> ExpectedItems(int seed, int u, int k) =>
        Enumerable.Range(1, k).Select(r => FakeScores.ItemId(FakeScores.ItemIdx(seed, u, r, StoreUnderTest.ItemCount)));
}
