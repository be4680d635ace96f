using HrnnPipeline.Ingest;

namespace HrnnPipeline.Tests.Ingest;

public sealed class IdempotencyTests : IDisposable
{
    readonly Warehouse _warehouse = new();

    public void Dispose() => _warehouse.Dispose();

    [Fact]
    public async Task Ingesting_the_same_file_twice_adds_each_event_once()
    {
        var file = _warehouse.Write("a.csv", "user,item,ts\nu1,i1,1\nu2,i2,2\n");
        var copy = _warehouse.Write("copy-of-a.csv", File.ReadAllText(file));

        await _warehouse.Ingest(file);
        var again = await _warehouse.Ingest(file, copy);

        Assert.Equal(["1:2 u1 i1 1000", "1:3 u2 i2 2000"], _warehouse.Events());
        Assert.All(again.Files, f => Assert.True(f.Skipped));
        Assert.Equal((0L, 2), (again.Accepted, again.SkippedFiles));
        Assert.Contains("2 skipped", again.ToString());
    }

    [Fact]
    public async Task A_failure_in_the_middle_of_a_file_then_a_rerun_leaves_every_event_exactly_once()
    {
        var first = _warehouse.Write("1.csv", "user,item,ts\nu1,i1,1\nu2,i2,2\n");
        var second = _warehouse.Write("2.csv", "user,item,ts\nu3,i3,3\n,i4,4\n" +
            string.Concat(Enumerable.Range(5, 200).Select(i => $"u{i},i{i},{i}\n")));
        var crashing = new IngestOptions
        {
            Input = [first, second],
            RejectThreshold = 0.5,
            BeforeCommit = f => { if (f.Path == second) throw new IOException("simulated crash"); },
        };

        await Assert.ThrowsAsync<IOException>(() => _warehouse.Ingest(crashing));
        Assert.Equal(2, _warehouse.Count("events")); // the first file committed; nothing of the second
        Assert.Equal(0, _warehouse.Count("rejected_events"));
        Assert.Equal(1, _warehouse.Count("ingested_files"));

        var rerun = await _warehouse.Ingest(new IngestOptions { Input = [first, second], RejectThreshold = 0.5 });

        Assert.Equal([true, false], rerun.Files.Select(f => f.Skipped));
        Assert.Equal(203, _warehouse.Count("events"));
        Assert.Equal(0, (long)_warehouse.Query(
            "SELECT count(*) FROM (SELECT user_id FROM events GROUP BY ALL HAVING count(*) > 1)")[0][0]!);
        Assert.Equal(["3: missing user"], _warehouse.Rejected());
        Assert.Equal([1, 2], _warehouse.Query("SELECT file_id FROM ingested_files ORDER BY file_id").Select(r => (int)r[0]!));
    }

    [Fact]
    public async Task Cancelling_in_the_middle_of_a_file_rolls_that_file_back()
    {
        var file = _warehouse.Write("a.csv", "user,item,ts\nu1,i1,1\n");
        using var cancel = new CancellationTokenSource();
        var options = new IngestOptions { Input = [file], BeforeCommit = _ => cancel.Cancel() };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _warehouse.Ingest(options, cancel.Token));

        Assert.Equal((0L, 0L), (_warehouse.Count("events"), _warehouse.Count("ingested_files")));
        await _warehouse.Ingest(file);
        Assert.Equal(["1:2 u1 i1 1000"], _warehouse.Events());
    }

    [Fact]
    public async Task The_warehouse_file_is_not_held_open_after_ingest()
    {
        await _warehouse.Ingest(_warehouse.Write("a.csv", "user,item,ts\nu1,i1,1\n"));

        var open = new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos()
            .Select(fd => fd.LinkTarget).Where(target => target?.StartsWith(_warehouse.Path, StringComparison.Ordinal) == true);
        Assert.Empty(open);
    }

    [Fact]
    public async Task File_ids_follow_input_order_across_runs()
    {
        var a = _warehouse.Write("a.csv", "user,item,ts\nua,ia,1\n");
        var b = _warehouse.Write("b.csv", "user,item,ts\nub,ib,1\n");

        await _warehouse.Ingest(a);
        await _warehouse.Ingest(a, b);

        Assert.Equal(["1:2 ua ia 1000", "2:2 ub ib 1000"], _warehouse.Events());
    }
}
