using System.Text.Json;
using DuckDB.NET.Data;

namespace HrnnPipeline.Tests.EndToEnd;

/// <summary>
/// Which evaluation a published version carries: only one of that very version (`evaluate --version`), never
/// whatever `evaluate` last wrote in the work folder about other models.
/// </summary>
public sealed class PublishEvaluationTests
{
    static string? EvaluationOf(string work, string version)
    {
        using var connection = new DuckDBConnection($"Data Source={Path.Combine(work, "warehouse.duckdb")};ACCESS_MODE=READ_ONLY");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT evaluation_summary::varchar FROM model_versions WHERE version = $version";
        command.Parameters.Add(new DuckDBParameter("version", version));
        var value = command.ExecuteScalar();
        return value is null or DBNull ? null : (string)value;
    }

    [Fact]
    public async Task A_version_carries_only_an_evaluation_of_itself()
    {
        var dir = Cli.TempDir("publish-evaluation");
        var log = Path.Combine(dir, "log.csv");
        var work = Path.Combine(dir, "work");
        Assert.Equal(0, (await Cli.RunAsync("generate", "--users", "80", "--items", "150", "--seed", "5", "--out", log)).ExitCode);
        var run = await Cli.RunAsync("run", "--input", log, "--work", work, "--epochs", "1", "--session-hidden", "16",
            "--user-hidden", "16", "--k", "10");
        Assert.True(run.ExitCode == 0, run.Error);
        var version = File.ReadAllText(Path.Combine(work, "models", "latest")).Trim();
        Assert.Null(EvaluationOf(work, version));

        // An evaluation of other models (here a baseline) is the work folder's latest, but not this version's.
        var other = await Cli.RunAsync("evaluate", "--work", work, "--models", "pop", "--out", Path.Combine(dir, "pop"));
        Assert.True(other.ExitCode == 0, other.Error);
        Assert.True(File.Exists(Path.Combine(work, "evaluate-summary.json")));
        var republished = await Cli.RunAsync("publish", "--work", work, "--version", version);
        Assert.True(republished.ExitCode == 0, republished.Error);
        Assert.Null(EvaluationOf(work, version));

        // An evaluation of the version itself is attached, and says which version it evaluated.
        var own = await Cli.RunAsync("evaluate", "--work", work, "--version", "latest", "--models", "pop", "--out", Path.Combine(dir, "own"));
        Assert.True(own.ExitCode == 0, own.Error);
        var published = await Cli.RunAsync("publish", "--work", work, "--version", version);
        Assert.True(published.ExitCode == 0, published.Error);
        var attached = EvaluationOf(work, version);
        Assert.NotNull(attached);
        using var evaluation = JsonDocument.Parse(attached!);
        Assert.Equal(version, evaluation.RootElement.GetProperty("model_version").GetString());
        var models = evaluation.RootElement.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("model").GetString()).ToList();
        Assert.Contains(version, models);
        Assert.Contains("pop", models);
    }
}
