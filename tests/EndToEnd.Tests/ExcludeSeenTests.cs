using System.Text.Json;
using DuckDB.NET.Data;

namespace HrnnPipeline.Tests.EndToEnd;

/// <summary>`--exclude-seen` when a user has already consumed the whole catalogue: the score stage still gives them a
/// full list (best-scored seen items after the unseen ones, here none), counts them, and the version publishes.</summary>
public sealed class ExcludeSeenTests
{
    [Fact]
    public async Task A_user_who_has_seen_every_item_still_gets_a_full_list_and_is_counted()
    {
        var dir = Cli.TempDir("exclude-seen");
        var log = Path.Combine(dir, "log.csv");
        Assert.Equal(0, (await Cli.RunAsync("generate", "--users", "60", "--items", "40", "--seed", "11", "--out", log)).ExitCode);
        var lines = File.ReadAllLines(log);
        var catalogue = lines.Skip(1).Select(l => l.Split(',')[1]).Distinct().Order(StringComparer.Ordinal).ToList();
        long start = lines.Skip(1).Min(l => long.Parse(l.Split(',')[2], System.Globalization.CultureInfo.InvariantCulture));
        // One user plays every item of the log, five per session, sessions two hours apart.
        File.AppendAllLines(log, catalogue.Select((item, i) =>
            FormattableString.Invariant($"everything,{item},{start + i / 5 * 7200 + i % 5 * 60}")));

        var work = Path.Combine(dir, "work");
        var run = await Cli.RunAsync("run", "--input", log, "--work", work, "--epochs", "1", "--session-hidden", "16",
            "--user-hidden", "16", "--k", "10", "--exclude-seen", "--min-item-support", "1");
        Assert.True(run.ExitCode == 0, run.Error);

        using (var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(work, "score-summary.json"))))
            Assert.True(summary.RootElement.GetProperty("users_with_seen_items").GetInt64() >= 1);
        Assert.Contains("seen items", run.Out);

        using var connection = new DuckDBConnection($"Data Source={Path.Combine(work, "warehouse.duckdb")};ACCESS_MODE=READ_ONLY");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT rank, item_id FROM recommendations
            WHERE version = (SELECT version FROM active_version) AND user_id = 'everything'
            ORDER BY rank
            """;
        var ranks = new List<int>();
        var items = new List<string>();
        using (var reader = command.ExecuteReader())
            while (reader.Read()) { ranks.Add(reader.GetInt32(0)); items.Add(reader.GetString(1)); }
        Assert.Equal(Enumerable.Range(1, 10), ranks);
        Assert.Equal(10, items.Distinct().Count());
        Assert.All(items, item => Assert.Contains(item, catalogue));
    }
}
