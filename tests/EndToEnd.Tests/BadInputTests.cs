namespace HrnnPipeline.Tests.EndToEnd;

/// <summary>Bad input is a one-line error naming the file (and line) and a non-zero exit code, never a crash.</summary>
public sealed class BadInputTests
{
    static void AssertOneLineError(Cli.Outcome outcome, params string[] mentions)
    {
        Assert.NotEqual(0, outcome.ExitCode);
        var lines = outcome.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.DoesNotContain("   at ", outcome.Error);
        foreach (var m in mentions) Assert.Contains(m, lines[0]);
    }

    [Fact]
    public async Task A_missing_input_file_is_named()
    {
        var dir = Cli.TempDir("missing");
        var path = Path.Combine(dir, "nope.csv");
        AssertOneLineError(await Cli.RunAsync("run", "--input", path, "--work", Path.Combine(dir, "w")), "nope.csv");
    }

    [Fact]
    public async Task An_empty_input_file_is_named()
    {
        var dir = Cli.TempDir("empty");
        var path = Path.Combine(dir, "empty.csv");
        File.WriteAllText(path, "");
        AssertOneLineError(await Cli.RunAsync("run", "--input", path, "--work", Path.Combine(dir, "w")), "empty.csv");
    }

    [Fact]
    public async Task A_line_with_the_wrong_number_of_columns_is_named_with_its_line()
    {
        var dir = Cli.TempDir("columns");
        var path = Path.Combine(dir, "bad.csv");
        var lines = new List<string> { "user_id,item_id,timestamp" };
        for (int i = 0; i < 20; i++) lines.Add($"u{i % 3},i{i},{1_700_000_000 + i * 60}");
        lines.Insert(6, "u1,i9"); // physical line 7
        File.WriteAllLines(path, lines);
        AssertOneLineError(await Cli.RunAsync("run", "--input", path, "--work", Path.Combine(dir, "w")), "bad.csv", "7");
    }
}
