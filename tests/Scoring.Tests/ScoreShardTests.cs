using HrnnPipeline.Scoring.Publishing;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Tests.Scoring;

public sealed class ScoreShardTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "hrnn-shards-" + Guid.NewGuid().ToString("N")[..8]);

    public ScoreShardTests() => ProgressReporter.Quiet = true;

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void Shard_files_round_trip_every_row_and_state()
    {
        const int users = 12_000, k = 12; // 72k rows per shard: more than one record batch per file
        var versionDir = FakeScores.Write(_root, "v1", seed: 1, users, k, itemCount: 50, shards: 2);

        var reader = ScoreShardReader.Open(versionDir, 2);

        Assert.Equal(users, reader.Users);
        Assert.Equal(users * k, reader.Rows);
        var rows = reader.ReadRecommendations().ToList();
        Assert.Equal(users * k, rows.Count);
        int batches = 0;
        foreach (var batch in reader.RecommendationBatches())
            using (batch) batches++;
        Assert.True(batches > 2, $"{batches} batches: each shard's rows should arrive in several");
        var oddUser = rows.Where(r => r.UserId == FakeScores.OddUser).ToList();
        Assert.Equal(Enumerable.Range(1, k), oddUser.Select(r => r.Rank));
        Assert.Equal(Enumerable.Range(1, k).Select(r => FakeScores.ItemId(FakeScores.ItemIdx(1, 7, r, 50))), oddUser.Select(r => r.ItemId));
        Assert.Equal(FakeScores.Score(1, 3), oddUser[2].Score);
        var states = reader.ReadStates().ToDictionary(s => s.UserId);
        Assert.Equal(users, states.Count);
        Assert.Equal(FakeScores.UserState(1, 7), states[FakeScores.OddUser].UserState);
        Assert.Equal(FakeScores.SessionState(1, 8001), states["user-8001"].SessionState);
    }

    [Fact]
    public void Opening_a_version_with_a_missing_shard_names_the_missing_marker()
    {
        var versionDir = Path.Combine(_root, "v1");
        using (var writer = new ScoreShardWriter(versionDir, 0, 2))
        {
            writer.Add("u", ["a"], [1f], [0f], [0f]);
            writer.Complete();
        }

        var error = Assert.Throws<PipelineException>(() => ScoreShardReader.Open(versionDir, 2));

        Assert.Contains("shard-1-of-2.done", error.Message);
        Assert.DoesNotContain("shard-0-of-2.done", error.Message);
        Assert.Contains(versionDir, error.Message);
    }

    [Fact]
    public async Task Publishing_a_version_with_a_missing_shard_fails_before_touching_the_store()
    {
        var work = new WorkDirectory(Path.Combine(_root, "work"));
        FakeScores.Write(work.Scores, "v1", seed: 1, users: 10, k: 3, itemCount: 20, shards: 2);
        File.Delete(ScoreShardFiles.DoneMarker(Path.Combine(work.Scores, "v1"), 1, 2));
        await using var store = await DuckDbRecommendationStore.OpenAsync(work.Warehouse);

        var error = await Assert.ThrowsAsync<PipelineException>(() => new Publisher().PublishAsync(
            Path.Combine(work.Scores, "v1"), "v1", 2, FakeScores.Items(20), "{}", null, store, CancellationToken.None));

        Assert.Contains("shard-1-of-2.done", error.Message);
        Assert.Empty(await store.ListVersionsAsync());
        Assert.False(Directory.Exists(Path.Combine(work.Exports, "v1")));
    }

    [Fact]
    public async Task Waiting_for_shards_returns_once_the_last_one_is_done()
    {
        var versionDir = Path.Combine(_root, "v1");
        FakeScores.Write(_root, "v1", seed: 1, users: 10, k: 3, itemCount: 20, shards: 2);
        var lastMarker = ScoreShardFiles.DoneMarker(versionDir, 1, 2);
        File.Move(lastMarker, lastMarker + ".later");

        var waiting = ScoreShardReader.WaitAsync(versionDir, 2, TimeSpan.FromSeconds(20), CancellationToken.None);
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted);
        File.Move(lastMarker + ".later", lastMarker);

        var reader = await waiting;
        Assert.Equal(10, reader.Users);
    }

    [Fact]
    public async Task Waiting_past_the_timeout_names_the_missing_shard()
    {
        var versionDir = Path.Combine(_root, "v1");
        FakeScores.Write(_root, "v1", seed: 1, users: 10, k: 3, itemCount: 20, shards: 3);
        File.Delete(ScoreShardFiles.DoneMarker(versionDir, 2, 3));

        var error = await Assert.ThrowsAsync<PipelineException>(() =>
            ScoreShardReader.WaitAsync(versionDir, 3, TimeSpan.FromMilliseconds(200), CancellationToken.None));

        Assert.Contains("shard-2-of-3.done", error.Message);
    }

    [Fact]
    public void A_writer_disposed_without_completing_leaves_no_files()
    {
        var versionDir = Path.Combine(_root, "v1");
        using (var writer = new ScoreShardWriter(versionDir, 0, 1))
            writer.Add("u", ["a", "b"], [2f, 1f], [0f], [0f]);

        Assert.Empty(Directory.EnumerateFiles(versionDir));
    }

    [Fact]
    public void Rescoring_a_shard_withdraws_its_marker_until_the_new_files_are_complete()
    {
        var versionDir = FakeScores.Write(_root, "v1", seed: 1, users: 10, k: 3, itemCount: 20, shards: 1);
        var marker = ScoreShardFiles.DoneMarker(versionDir, 0, 1);
        Assert.True(File.Exists(marker));

        using var writer = new ScoreShardWriter(versionDir, 0, 1);

        Assert.False(File.Exists(marker));
        writer.Add("u", ["a"], [1f], [0f], [0f]);
        writer.Complete();
        Assert.True(File.Exists(marker));
        Assert.Equal(1, ScoreShardReader.Open(versionDir, 1).Users);
    }

    [Fact]
    public void A_list_with_a_repeated_item_is_refused()
    {
        using var writer = new ScoreShardWriter(Path.Combine(_root, "v1"), 0, 1);

        var error = Assert.Throws<ArgumentException>(() => writer.Add("u", ["a", "b", "a"], [3f, 2f, 1f], [0f], [0f]));

        Assert.Contains("item a recommended twice", error.Message);
    }

    [Fact]
    public void A_long_list_with_a_repeated_item_is_refused()
    {
        var ids = Enumerable.Range(1, 40).Select(FakeScores.ItemId).Append(FakeScores.ItemId(3)).ToArray();
        using var writer = new ScoreShardWriter(Path.Combine(_root, "v1"), 0, 1);

        var error = Assert.Throws<ArgumentException>(() => writer.Add("u", ids, new float[ids.Length], [0f], [0f]));

        Assert.Contains($"item {FakeScores.ItemId(3)} recommended twice", error.Message);
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("v1'; drop table model_versions; --")]
    [InlineData("")]
    [InlineData(".hidden")]
    public void Unsafe_version_names_are_refused(string version)
    {
        var error = Assert.Throws<PipelineException>(() => ScoreShardFiles.ValidateVersion(version));
        Assert.Contains("not a valid name", error.Message);
    }
}
