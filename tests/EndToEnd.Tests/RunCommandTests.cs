using System.Text.Json;
using DuckDB.NET.Data;

namespace HrnnPipeline.Tests.EndToEnd;

/// <summary>The README's main command on a small generated log: every stage for real, checked from its outputs.</summary>
public sealed class RunCommandTests : IAsyncLifetime
{
    readonly string _dir = Cli.TempDir("run");
    Cli.Outcome _run = null!;
    string Work => Path.Combine(_dir, "work");

    public async Task InitializeAsync()
    {
        var log = Path.Combine(_dir, "log.csv");
        var generated = await Cli.RunAsync("generate", "--users", "150", "--items", "300", "--seed", "7", "--out", log);
        Assert.True(generated.ExitCode == 0, generated.Error);
        _run = await Cli.RunAsync("run", "--input", log, "--work", Work, "--epochs", "4", "--session-hidden", "48",
            "--user-hidden", "48", "--batch-size", "32", "--k", "10");
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public void Run_prints_the_summary_and_writes_run_summary_json()
    {
        Assert.True(_run.ExitCode == 0, _run.Error);
        Assert.Contains("published", _run.Out);
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(Work, "run-summary.json")));
        var root = summary.RootElement;
        foreach (var key in new[] { "events", "users", "items", "sessions", "recommendations", "model_version" })
            Assert.True(root.TryGetProperty(key, out _), $"run-summary.json lacks {key}");
        Assert.True(root.GetProperty("events").GetInt64() > 0);
        var epochs = root.GetProperty("epochs").EnumerateArray().ToList();
        Assert.Equal(4, epochs.Count);
        Assert.Equal(1, epochs[0].GetProperty("epoch").GetInt32());
    }

    [Fact]
    public void Training_loss_after_the_last_epoch_is_below_the_first()
    {
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(Work, "run-summary.json")));
        var epochs = summary.RootElement.GetProperty("epochs").EnumerateArray().Select(e => e.GetProperty("loss").GetDouble()).ToList();
        Assert.True(epochs[^1] < epochs[0], $"loss {epochs[0]} -> {epochs[^1]}");
    }

    static Dictionary<string, List<string>> Lists(string warehouse, out HashSet<string> catalogue, out HashSet<string> trainedUsers)
    {
        using var connection = new DuckDBConnection($"Data Source={warehouse};ACCESS_MODE=READ_ONLY");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT user_id, item_id FROM recommendations
            WHERE version = (SELECT version FROM active_version)
            ORDER BY user_id, rank
            """;
        var lists = new Dictionary<string, List<string>>();
        using (var reader = command.ExecuteReader())
            while (reader.Read())
            {
                var user = reader.GetString(0);
                if (!lists.TryGetValue(user, out var list)) lists[user] = list = [];
                list.Add(reader.GetString(1));
            }
        catalogue = [];
        command.CommandText = "SELECT item_id FROM item_map";
        using (var reader = command.ExecuteReader())
            while (reader.Read()) catalogue.Add(reader.GetString(0));
        trainedUsers = [];
        command.CommandText = """
            SELECT DISTINCT u.user_id FROM sessions s JOIN user_map u USING (user_idx) WHERE s.split <> 'test'
            """;
        using (var reader = command.ExecuteReader())
            while (reader.Read()) trainedUsers.Add(reader.GetString(0));
        return lists;
    }

    [Fact]
    public void Every_user_with_a_training_session_gets_k_distinct_catalogue_items()
    {
        var lists = Lists(Path.Combine(Work, "warehouse.duckdb"), out var catalogue, out var users);
        Assert.NotEmpty(users);
        foreach (var user in users)
        {
            Assert.True(lists.TryGetValue(user, out var list), $"user {user} has no recommendations");
            Assert.Equal(10, list!.Count);
            Assert.Equal(10, list.Distinct().Count());
            Assert.All(list, item => Assert.Contains(item, catalogue));
        }
    }

    [Fact]
    public void Users_with_different_histories_get_different_lists()
    {
        var lists = Lists(Path.Combine(Work, "warehouse.duckdb"), out _, out _);
        int distinct = lists.Values.Select(l => string.Join(",", l)).Distinct().Count();
        // A popularity list would give one list for everyone; personalised lists differ for most users.
        Assert.True(distinct >= lists.Count / 2, $"{distinct} distinct lists for {lists.Count} users");
    }
}
