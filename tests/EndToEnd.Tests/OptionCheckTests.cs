namespace HrnnPipeline.Tests.EndToEnd;

/// <summary>
/// The command line checks everything it is given before the first stage: an option a command does not know is
/// refused (never read as a value of a multi-value option such as --input), and so is a bad value of one it does.
/// </summary>
public sealed class OptionCheckTests
{
    static void AssertRefusedBeforeWork(Cli.Outcome outcome, string work, params string[] mentions)
    {
        Assert.Equal(1, outcome.ExitCode);
        var lines = outcome.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, outcome.Error);
        Assert.StartsWith("error: ", lines[0]);
        foreach (var m in mentions) Assert.Contains(m, lines[0]);
        // Nothing ran: no warehouse, no prepared split, no generated input.
        Assert.False(File.Exists(Path.Combine(work, "warehouse.duckdb")), "the warehouse was created before the error");
        Assert.False(Directory.Exists(Path.Combine(work, "input")), "the synthetic input was generated before the error");
    }

    static string Log(string dir)
    {
        var path = Path.Combine(dir, "log.csv");
        File.WriteAllLines(path, ["user_id,item_id,timestamp", "u1,i1,1700000000", "u1,i2,1700000060"]);
        return path;
    }

    [Theory]
    [InlineData("run", "--input", "LOG", "--format", "csv", "--bogus", "1")]
    [InlineData("run", "--input", "LOG", "--bogus")]
    [InlineData("prepare", "--input", "LOG", "--drop-event-types", "view", "--nope", "x")]
    [InlineData("evaluate", "--input", "LOG", "--out", "OUT", "--epochz", "3")]
    [InlineData("trigger", "--input", "LOG", "--wait", "--bogus")]
    [InlineData("serve", "--urls", "http://127.0.0.1:0", "--bogus")]
    [InlineData("worker", "--queues", "gpu", "--bogus")]
    public async Task An_unknown_option_is_refused_in_one_line_before_anything_runs(params string[] template)
    {
        var dir = Cli.TempDir("unknown");
        var work = Path.Combine(dir, "w");
        var unknown = template.First(a => a is "--bogus" or "--nope" or "--epochz");
        var args = template.Select(a => a switch { "LOG" => Log(dir), "OUT" => Path.Combine(dir, "out"), _ => a })
            .Append("--work").Append(work).ToArray();
        AssertRefusedBeforeWork(await Cli.RunAsync(args), work, unknown);
    }

    [Theory]
    [InlineData("epochs -3", "--epochs", "-3")]
    [InlineData("Scoring:K 0", "--k", "0")]
    [InlineData("SessionGap", "--session-gap", "-00:10:00")]
    [InlineData("Ingest:Format 'xml'", "--format", "xml")]
    [InlineData("Ingest:Columns", "--columns", "user,user,timestamp")]
    [InlineData("Ingest:TimeUnit", "--time-unit", "fortnights")]
    [InlineData("RejectThreshold", "--reject-threshold", "2")]
    [InlineData("MinItemSupport", "--min-item-support", "-1")]
    [InlineData("device 'tpu'", "--device", "tpu")]
    [InlineData("batch size 0", "--batch-size", "0")]
    public async Task A_bad_option_value_fails_run_before_ingest(string mention, params string[] option)
    {
        var dir = Cli.TempDir("badvalue");
        var work = Path.Combine(dir, "w");
        AssertRefusedBeforeWork(await Cli.RunAsync(["run", "--input", Log(dir), .. option, "--work", work]), work, mention);
    }

    [Fact]
    public async Task Run_without_input_checks_its_options_before_generating_the_synthetic_log()
    {
        var work = Path.Combine(Cli.TempDir("badvalue-synthetic"), "w");
        AssertRefusedBeforeWork(await Cli.RunAsync("run", "--epochs", "0", "--work", work), work, "epochs 0");
    }
}
