using HrnnPipeline.Ingest;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Tests.Ingest;

public sealed class BadRowTests : IDisposable
{
    readonly Warehouse _warehouse = new();

    public void Dispose() => _warehouse.Dispose();

    const string MixedCsv = """
        user_id,item_id,timestamp
        u1,i1,100
        ,i2,101
        u3,,102
        u4,i4,yesterday
        u5,i5
        u6,i6,106,extra
        u7,i7,107
        """;

    [Fact]
    public async Task Bad_rows_go_to_rejected_events_with_line_number_raw_line_and_reason()
    {
        var file = _warehouse.Write("mixed.csv", MixedCsv + "\n");

        var report = await _warehouse.Ingest(new IngestOptions { Input = [file], RejectThreshold = 0.9 });

        Assert.Equal(["1:2 u1 i1 100000", "1:8 u7 i7 107000"], _warehouse.Events());
        Assert.Equal([
            "3: missing user",
            "4: missing item",
            "5: bad timestamp: yesterday",
            "6: expected 3 fields, found 2",
            "7: expected 3 fields, found 4",
        ], _warehouse.Rejected());
        Assert.Equal([1, file, ",i2,101"], _warehouse.Query("SELECT file_id, path, raw_line FROM rejected_events WHERE line_no = 3")[0]);
        Assert.Equal((2L, 5L), (report.Accepted, report.Rejected));
        Assert.Equal([2L, 5L], _warehouse.Query("SELECT accepted, rejected FROM ingested_files")[0]);
    }

    [Fact]
    public async Task Out_of_range_timestamps_and_unreadable_values_are_rejected()
    {
        var file = _warehouse.Write("values.csv", "user,item,ts,value\nu1,i1,1,2.5\nu2,i2,2,lots\nu3,i3,1e300,1\nu4,i4,inf,1\nu5,i5,6,\n");

        await _warehouse.Ingest(new IngestOptions { Input = [file], RejectThreshold = 1 });

        Assert.Equal(["1:2 u1 i1 1000"], _warehouse.Events());
        Assert.Equal([2.5], _warehouse.Query("SELECT value FROM events ORDER BY line_no").Select(r => r[0]));
        Assert.Equal(["3: bad value: lots", "4: timestamp out of range: 1e300", "5: bad timestamp: inf", "6: missing value"],
            _warehouse.Rejected());
    }

    [Fact]
    public async Task Bad_json_lines_are_rejected_not_fatal()
    {
        var file = _warehouse.Write("bad.jsonl", """
            {"user": "u1", "item": "i1", "ts": 1}
            {"user": "u2", "item": "i2", "ts": 2
            [1, 2, 3]
            {"user": "u4", "item": null, "ts": 4}
            """ + "\n");

        await _warehouse.Ingest(new IngestOptions { Input = [file], RejectThreshold = 1 });

        Assert.Equal(["1:1 u1 i1 1000"], _warehouse.Events());
        Assert.Equal(["2: invalid JSON", "3: not a JSON object", "4: missing item"], _warehouse.Rejected());
    }

    [Fact]
    public async Task Too_many_bad_rows_refuse_the_file_naming_it_and_its_first_bad_lines()
    {
        var good = _warehouse.Write("good.csv", "user,item,ts\nu0,i0,1\n");
        var bad = _warehouse.Write("mixed.csv", MixedCsv + "\n");

        var error = await Assert.ThrowsAsync<PipelineException>(() => _warehouse.Ingest(good, bad));

        Assert.Equal(
            "mixed.csv: 5 of 7 rows rejected (71.43% > 1% allowed), nothing loaded (rejected_events file_id 2): " +
            "line 3: missing user; line 4: missing item; line 5: bad timestamp: yesterday",
            error.Message.Replace(_warehouse.Folder + Path.DirectorySeparatorChar, ""));
        Assert.DoesNotContain('\n', error.Message);
        Assert.True(error.IsPermanent);
        // The refused file added no event, but its bad rows and the refusal stay to inspect; earlier files stay.
        Assert.Equal(["1:2 u0 i0 1000"], _warehouse.Events());
        Assert.Equal(5, _warehouse.Count("rejected_events WHERE file_id = 2"));
        Assert.Equal([2, 2L, 5L], _warehouse.Query("SELECT file_id, accepted, rejected FROM ingest_failures")[0]);
        Assert.Equal(1, _warehouse.Count("ingested_files"));
    }

    [Fact]
    public async Task A_refused_file_loads_once_allowed_and_its_earlier_rejections_are_replaced()
    {
        var bad = _warehouse.Write("mixed.csv", MixedCsv + "\n");
        await Assert.ThrowsAsync<PipelineException>(() => _warehouse.Ingest(bad));
        await Assert.ThrowsAsync<PipelineException>(() => _warehouse.Ingest(bad));

        var report = await _warehouse.Ingest(new IngestOptions { Input = [bad], RejectThreshold = 0.9 });

        Assert.Equal((2L, 5L), (report.Accepted, report.Rejected));
        Assert.Equal(2, _warehouse.Count("events"));
        Assert.Equal(5, _warehouse.Count("rejected_events"));
        Assert.Equal(0, _warehouse.Count("ingest_failures"));
    }

    [Fact]
    public async Task A_share_of_bad_rows_at_the_threshold_is_allowed()
    {
        var lines = Enumerable.Range(1, 99).Select(i => $"u{i},i{i},{i}").Append("u100,,100");
        var file = _warehouse.Write("hundred.csv", "user,item,ts\n" + string.Join("\n", lines) + "\n");

        var report = await _warehouse.Ingest(file);

        Assert.Equal((99L, 1L), (report.Accepted, report.Rejected));
    }
}
