using DuckDB.NET.Data;
using HrnnPipeline.Features;
using HrnnPipeline.Training;

namespace HrnnPipeline.Tests.EndToEnd;

/// <summary>The split is for evaluation: the published model is refit on every session, so items first seen in the
/// users' latest sessions are in its catalogue and its lists, and the version keeps the held-out model for
/// `evaluate --version`.</summary>
public sealed class PublishedCatalogueTests
{
    [Fact]
    public async Task Items_first_seen_in_the_latest_sessions_are_published_and_the_held_out_model_is_kept()
    {
        var dir = Cli.TempDir("catalogue");
        var log = Path.Combine(dir, "log.csv");
        Assert.Equal(0, (await Cli.RunAsync("generate", "--users", "120", "--items", "80", "--seed", "5", "--out", log)).ExitCode);
        var rows = File.ReadAllLines(log).Skip(1).Select(l => l.Split(',')).ToList();
        var known = rows.GroupBy(r => r[1]).OrderByDescending(g => g.Count()).First().Key;
        long end = rows.Max(r => long.Parse(r[2], System.Globalization.CultureInfo.InvariantCulture));
        // Forty users end with a session a day after the log: the most popular item, 'fresh', which no earlier session
        // has, and the popular item again. The test split keeps only train items, so without the refit 'fresh' could
        // never be published.
        var users = rows.Select(r => r[0]).Distinct().Take(40).ToList();
        File.AppendAllLines(log, users.SelectMany((u, i) => new[]
        {
            FormattableString.Invariant($"{u},{known},{end + 86_400 + i * 10}"),
            FormattableString.Invariant($"{u},fresh,{end + 86_400 + i * 10 + 3}"),
            FormattableString.Invariant($"{u},{known},{end + 86_400 + i * 10 + 6}"),
        }));

        var work = Path.Combine(dir, "work");
        var run = await Cli.RunAsync("run", "--input", log, "--work", work, "--epochs", "2", "--session-hidden", "16",
            "--user-hidden", "16", "--k", "10", "--min-item-support", "1");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("refit", run.Out);

        var version = ModelStore.LatestVersion(Path.Combine(work, "models"));
        var versionDir = Path.Combine(work, "models", version);
        Assert.DoesNotContain("fresh", IdMap.Read(Path.Combine(work, "prepared", PreparedFiles.Items)).Ids);
        Assert.Contains("fresh", IdMap.Read(Path.Combine(versionDir, ModelStore.ItemsFile)).Ids);
        Assert.DoesNotContain("fresh", IdMap.Read(Path.Combine(versionDir, ModelStore.HeldOutItemsFile)).Ids);

        using (var connection = new DuckDBConnection($"Data Source={Path.Combine(work, "warehouse.duckdb")};ACCESS_MODE=READ_ONLY"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT count(*) FROM recommendations WHERE version = (SELECT version FROM active_version) AND item_id = 'fresh'";
            Assert.True(Convert.ToInt64(command.ExecuteScalar()) > 0, "no published list has the item of the latest sessions");
        }

        // The held-out model never saw a test session: evaluate --version judges it, not the refit one.
        var evaluate = await Cli.RunAsync("evaluate", "--work", work, "--version", "latest", "--models", "pop", "--out", Path.Combine(dir, "eval"));
        Assert.True(evaluate.ExitCode == 0, evaluate.Error);
    }
}
