using System.Globalization;
using System.Text.Json;
using HrnnPipeline.Training;

namespace HrnnPipeline.Tests.EndToEnd;

/// <summary>No test-set information reaches training or early stopping: two logs that differ only inside each user's
/// last session (the test split) must train exactly the same model through `evaluate`, while scoring differently.</summary>
public sealed class TestSetIsolationTests
{
    /// <summary>The log with the items of every user's last session (after the last 30-minute gap) in reverse order,
    /// timestamps kept: item supports and session lengths stay the same, so the filters keep the same data.</summary>
    static void WriteWithReversedTestSessions(string source, string target)
    {
        var lines = File.ReadAllLines(source);
        var rows = lines.Skip(1).Select(l => l.Split(',')).Select(f => (User: f[0], Item: f[1], Ts: long.Parse(f[2], CultureInfo.InvariantCulture))).ToList();
        var output = new List<string> { lines[0] };
        foreach (var user in rows.GroupBy(r => r.User))
        {
            var events = user.OrderBy(r => r.Ts).ToList();
            int last = Enumerable.Range(1, events.Count - 1).LastOrDefault(i => events[i].Ts - events[i - 1].Ts > 1800);
            var reversed = events.Take(last).Concat(events.Skip(last).Select((e, i) => e with { Item = events[^(i + 1)].Item }));
            output.AddRange(reversed.Select(e => $"{e.User},{e.Item},{e.Ts.ToString(CultureInfo.InvariantCulture)}"));
        }
        File.WriteAllLines(target, output);
    }

    [Fact]
    public async Task Changing_the_test_sessions_changes_no_weight_and_no_epoch_choice()
    {
        var dir = Cli.TempDir("isolation");
        var log = Path.Combine(dir, "log.csv");
        Assert.Equal(0, (await Cli.RunAsync("generate", "--users", "80", "--items", "150", "--seed", "8", "--out", log)).ExitCode);
        var changed = Path.Combine(dir, "changed.csv");
        WriteWithReversedTestSessions(log, changed);

        async Task<(TensorArchive.Contents Best, double Mrr)> Evaluate(string input, string name)
        {
            var work = Path.Combine(dir, name);
            var outcome = await Cli.RunAsync("evaluate", "--input", input, "--work", work, "--models", "hrnn-init", "--epochs", "3",
                "--session-hidden", "16", "--user-hidden", "16", "--out", Path.Combine(dir, name + "-out"));
            Assert.True(outcome.ExitCode == 0, outcome.Error);
            using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, name + "-out", "evaluation.json")));
            double mrr = report.RootElement.GetProperty("results").EnumerateArray().Single(r => r.GetProperty("model").GetString() == "hrnn-init")
                .GetProperty("mrr@20").GetDouble();
            return (TensorArchive.Load(Path.Combine(work, "checkpoints", "evaluate-hrnn-init-1", "best.hrnn")), mrr);
        }
        var (a, mrrA) = await Evaluate(log, "original");
        var (b, mrrB) = await Evaluate(changed, "changed");
        using (a)
        using (b)
        {
            Assert.NotEqual(mrrA, mrrB);
            Assert.Equal(a.Metadata["best_epoch"]!.GetValue<int>(), b.Metadata["best_epoch"]!.GetValue<int>());
            var epochs = (TensorArchive.Contents c) => TensorArchive.FromJson<List<EpochResult>>(c.Metadata["epochs"]!)
                .Select(e => (e.Loss, e.ValidLoss, e.ValidMrr)).ToList();
            Assert.Equal(epochs(a), epochs(b));
            Assert.Equal(a.Tensors.Keys.Order(), b.Tensors.Keys.Order());
            foreach (var (name, tensor) in a.Tensors) Assert.True(tensor.shape.SequenceEqual(b.Tensors[name].shape) && tensor.eq(b.Tensors[name]).all().item<bool>(), $"{name} differs");
        }
    }
}
