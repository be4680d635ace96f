using System.Diagnostics;
using System.Globalization;
using HrnnPipeline.Features;

namespace HrnnPipeline.Tests.Evaluation;

/// <summary>Hand-made datasets and the reference lastfm split, loaded the way the Features stage shapes them.</summary>
static class TestData
{
    /// <summary>
    /// A dataset from (user, items of each session) in order; session ids are numbered from
    /// <paramref name="firstSessionId"/>, timestamps one minute apart.
    /// </summary>
    public static SessionDataset Sessions(int firstSessionId, params (int User, int[] Items)[] sessions)
    {
        var users = new List<int>();
        var ids = new List<int>();
        var items = new List<int>();
        var ts = new List<long>();
        for (int s = 0; s < sessions.Length; s++)
            foreach (int item in sessions[s].Items)
            {
                users.Add(sessions[s].User);
                ids.Add(firstSessionId + s);
                items.Add(item);
                ts.Add(60_000L * ts.Count);
            }
        return SessionDataset.FromSortedEvents(users.ToArray(), ids.ToArray(), items.ToArray(), ts.ToArray());
    }

    /// <summary>Items 1..n with the given training support.</summary>
    public static IdMap Items(params long[] supportOfItems1ToN)
    {
        var ids = new[] { "" }.Concat(supportOfItems1ToN.Select((_, i) => $"i{i + 1}")).ToArray();
        return new IdMap(ids, [0, .. supportOfItems1ToN], firstIndex: 1);
    }

    /// <summary>Items 1..n with support counted from the training events.</summary>
    public static IdMap ItemsOf(SessionDataset train, int catalogueSize)
    {
        var counts = new long[catalogueSize];
        foreach (int item in train.Items) counts[item - 1]++;
        return Items(counts);
    }

    /// <summary>The folder that holds shared/ (CI clones the repo beside it).</summary>
    public static string SharedFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var shared = Path.Combine(dir.FullName, "shared");
            if (Directory.Exists(Path.Combine(shared, "reference"))) return shared;
        }
        throw new DirectoryNotFoundException($"no shared/ folder above {AppContext.BaseDirectory}");
    }
}

/// <summary>
/// The lastfm split of shared/reference/prep.py (190 users, 768 items), written once per test class into a
/// temporary folder and loaded into SessionDataset + IdMap: users and items numbered by first appearance in train.
/// </summary>
public sealed class ReferenceSplit : IDisposable
{
    readonly string _folder = Path.Combine(Path.GetTempPath(), "hrnn-eval-" + Guid.NewGuid().ToString("N"));

    public ReferenceSplit()
    {
        var shared = TestData.SharedFolder();
        var start = new ProcessStartInfo("python3")
        {
            ArgumentList =
            {
                Path.Combine(shared, "reference", "prep.py"),
                Path.Combine(shared, "data", "lastfm-jodie-10pct", "lastfm.tsv"),
                _folder,
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        PrepOutput = process.StandardOutput.ReadToEnd();
        var errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"prep.py failed: {errors}");

        var users = new Dictionary<string, int>(StringComparer.Ordinal);
        var items = new Dictionary<string, int>(StringComparer.Ordinal);
        var trainRows = ReadTsv(Path.Combine(_folder, "train.tsv"));
        foreach (var row in trainRows)
        {
            users.TryAdd(row.User, users.Count);
            items.TryAdd(row.Item, items.Count + 1);
        }
        var testRows = ReadTsv(Path.Combine(_folder, "test.tsv"));
        Train = ToDataset(trainRows, users, items);
        Test = ToDataset(testRows, users, items);
        var ids = new string[items.Count + 1];
        ids[0] = "";
        foreach (var (id, index) in items) ids[index] = id;
        var counts = new long[items.Count + 1];
        foreach (int item in Train.Items) counts[item]++;
        Items = new IdMap(ids, counts, firstIndex: 1);
    }

    public string PrepOutput { get; }
    public SessionDataset Train { get; }
    public SessionDataset Test { get; }
    public IdMap Items { get; }

    readonly record struct Row(string User, int Session, string Item, long Time);

    static List<Row> ReadTsv(string path) => File.ReadLines(path).Skip(1).Select(line =>
    {
        var f = line.Split('\t');
        return new Row(f[0], int.Parse(f[1], CultureInfo.InvariantCulture), f[2],
            long.Parse(f[3], CultureInfo.InvariantCulture));
    }).ToList();

    static SessionDataset ToDataset(List<Row> rows, Dictionary<string, int> users, Dictionary<string, int> items) =>
        SessionDataset.FromSortedEvents(
            rows.Select(r => users[r.User]).ToArray(), rows.Select(r => r.Session).ToArray(),
            rows.Select(r => items[r.Item]).ToArray(), rows.Select(r => r.Time * 1000).ToArray());

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }
}
