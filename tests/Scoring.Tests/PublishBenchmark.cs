using System.Diagnostics;
using HrnnPipeline.Scoring.Publishing;
using Xunit.Abstractions;

namespace HrnnPipeline.Tests.Scoring;

/// <summary>Runs only when HRNN_PUBLISH_BENCH_USERS is set (e.g. 200000): too slow for every test run.</summary>
public sealed class PublishBenchmarkFactAttribute : FactAttribute
{
    public PublishBenchmarkFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("HRNN_PUBLISH_BENCH_USERS") is null)
            Skip = "set HRNN_PUBLISH_BENCH_USERS=200000 to measure publishing throughput";
    }
}

[Collection(PostgresCollection.Name)]
public sealed class PublishBenchmark(PostgresFixture postgres, ITestOutputHelper output)
{
    /// <summary>The target: 1M users x top-20 at 5,000 users/s or better on 2 cores, scored files to live rows.</summary>
    [PublishBenchmarkFact]
    public async Task Publishing_to_postgres_sustains_5000_users_per_second()
    {
        int users = int.Parse(Environment.GetEnvironmentVariable("HRNN_PUBLISH_BENCH_USERS")!, System.Globalization.CultureInfo.InvariantCulture);
        bool export = Environment.GetEnvironmentVariable("HRNN_PUBLISH_BENCH_EXPORT") != "0";
        await using var t = await StoreUnderTest.CreateAsync(StoreUnderTest.Postgres, postgres, new TestOutputLogger<PostgresRecommendationStore>(output));
        var clock = Stopwatch.StartNew();
        var versionDir = t.WriteScores("bench", seed: 1, users, k: 20, shards: 4);
        output.WriteLine($"wrote {users:N0} users' shards in {clock.Elapsed.TotalSeconds:F1}s");

        var result = await new Publisher(new PublishOptions { ExportParquet = export }, new TestOutputLogger<Publisher>(output)).PublishAsync(versionDir, "bench", 4,
            FakeScores.Items(StoreUnderTest.ItemCount), "{}", null, t.Store, CancellationToken.None);

        output.WriteLine($"published {result.Users:N0} users / {result.Rows:N0} rows in {result.Duration.TotalSeconds:F1}s: {result.UsersPerSecond:N0} users/s (parquet export {(export ? "on" : "off")})");
        Assert.Equal(users, result.Users);
        Assert.True(result.UsersPerSecond >= 5000, $"{result.UsersPerSecond:N0} users/s is below the 5,000 users/s target");
    }
}
