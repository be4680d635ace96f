using System.Text.Json;
using DuckDB.NET.Data;
using HrnnPipeline.Scoring.Api;
using HrnnPipeline.Scoring.Publishing;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Tests.EndToEnd;

/// <summary>`run --outcome binary` on a generated ratings log: the published rows carry the predicted value, and no
/// listed item is one the model expects the user to reject.</summary>
public sealed class OutcomeRunTests : IAsyncLifetime
{
    readonly string _dir = Cli.TempDir("outcome-run");
    Cli.Outcome _run = null!;
    string Work => Path.Combine(_dir, "work");

    public async Task InitializeAsync()
    {
        var log = Path.Combine(_dir, "ratings.csv");
        var generated = await Cli.RunAsync("generate", "--users", "150", "--items", "300", "--seed", "7", "--outcomes", "ratings", "--out", log);
        Assert.True(generated.ExitCode == 0, generated.Error);
        _run = await Cli.RunAsync("run", "--input", log, "--work", Work, "--epochs", "2", "--session-hidden", "32",
            "--user-hidden", "32", "--batch-size", "32", "--k", "10", "--outcome", "binary", "--min-outcome", "0.4");
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public void Binary_lists_carry_the_predicted_value_and_none_below_the_threshold()
    {
        Assert.True(_run.ExitCode == 0, _run.Error);
        using var connection = new DuckDBConnection($"Data Source={Path.Combine(Work, "warehouse.duckdb")};ACCESS_MODE=READ_ONLY");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT count(*), count(predicted_value), min(predicted_value), max(predicted_value), count(DISTINCT user_id)
            FROM recommendations WHERE version = (SELECT version FROM active_version)
            """;
        using var reader = command.ExecuteReader();
        Assert.True(reader.Read());
        long rows = reader.GetInt64(0), valued = reader.GetInt64(1);
        Assert.True(rows > 0);
        Assert.Equal(rows, valued);
        Assert.InRange(reader.GetFloat(2), 0.4f, 1f);
        Assert.InRange(reader.GetFloat(3), 0.4f, 1f);

        using var train = JsonDocument.Parse(File.ReadAllText(Path.Combine(Work, "train-summary.json")));
        var outcome = train.RootElement.GetProperty("outcome");
        Assert.Equal("binary", outcome.GetProperty("mode").GetString());
        Assert.True(outcome.GetProperty("negative_targets").GetInt64() > 0);
        using var score = JsonDocument.Parse(File.ReadAllText(Path.Combine(Work, "score-summary.json")));
        Assert.Equal(reader.GetInt64(4) + score.RootElement.GetProperty("users_filtered_out").GetInt64(),
            score.RootElement.GetProperty("users").GetInt64());
    }

    /// <summary>The read API's readers (the exports, as `serve` reads them with no PostgreSQL, and the warehouse store)
    /// return each listed item's predicted value, and the response carries it.</summary>
    [Fact]
    public async Task The_read_api_returns_the_predicted_value_of_each_listed_item()
    {
        Assert.True(_run.ExitCode == 0, _run.Error);
        string user;
        var stored = new List<(string Item, float Value)>();
        using (var connection = new DuckDBConnection($"Data Source={Path.Combine(Work, "warehouse.duckdb")};ACCESS_MODE=READ_ONLY"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = """
                SELECT user_id, item_id, predicted_value FROM recommendations
                WHERE version = (SELECT version FROM active_version)
                  AND user_id = (SELECT min(user_id) FROM recommendations WHERE version = (SELECT version FROM active_version))
                ORDER BY rank
                """;
            using var reader = command.ExecuteReader();
            user = "";
            while (reader.Read()) { user = reader.GetString(0); stored.Add((reader.GetString(1), reader.GetFloat(2))); }
        }
        Assert.NotEmpty(stored);
        await using var exports = new ExportedVersionReader(Path.Combine(Work, "exports"));
        await using var warehouse = await DuckDbRecommendationStore.OpenAsync(Path.Combine(Work, "warehouse.duckdb"));
        foreach (IRecommendationReader source in new IRecommendationReader[] { exports, warehouse })
        {
            var lookup = await source.GetRecommendationsAsync(user, 10);
            Assert.Equal(stored, lookup.Items.Select(i => (i.ItemId, i.PredictedValue!.Value)));
            var json = JsonSerializer.Serialize(new RecommendationsResponse(user, lookup.Version!, lookup.Items), Json.Options);
            using var body = JsonDocument.Parse(json);
            Assert.Equal(stored[0].Value, body.RootElement.GetProperty("items")[0].GetProperty("predicted_value").GetSingle());
        }
    }
}
