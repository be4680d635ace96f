using HrnnPipeline.Ingest;

namespace HrnnPipeline.Tests.Ingest;

public sealed class TimestampTests : IDisposable
{
    readonly Warehouse _warehouse = new();

    public void Dispose() => _warehouse.Dispose();

    [Fact]
    public async Task Seconds_are_detected_from_magnitude_and_reported()
    {
        var file = _warehouse.Write("s.csv", "user,item,ts\nu1,i1,1600000000\nu2,i2,1600000000.25\n");

        var report = await _warehouse.Ingest(file);

        Assert.Equal(("s", true), (report.Files[0].TimeUnit, report.Files[0].TimeUnitDetected));
        Assert.Equal(["1:2 u1 i1 1600000000000", "1:3 u2 i2 1600000000250"], _warehouse.Events());
        Assert.Contains("seconds (detected)", report.ToString());
        Assert.Equal("s", _warehouse.Query("SELECT time_unit FROM ingested_files")[0][0]);
    }

    [Fact]
    public async Task Milliseconds_are_detected_when_a_timestamp_exceeds_1e11()
    {
        var file = _warehouse.Write("ms.csv", "user,item,ts\nu1,i1,1600000000123\nu2,i2,5\n");

        var report = await _warehouse.Ingest(file);

        Assert.Equal(("ms", true), (report.Files[0].TimeUnit, report.Files[0].TimeUnitDetected));
        Assert.Equal(["1:2 u1 i1 1600000000123", "1:3 u2 i2 5"], _warehouse.Events());
        Assert.Contains("milliseconds (detected)", report.ToString());
    }

    [Fact]
    public async Task Small_relative_numbers_are_seconds()
    {
        var file = _warehouse.Write("rel.tsv", "0\t0\t0\n1\t1\t34062945\n");

        var report = await _warehouse.Ingest(file);

        Assert.Equal("s", report.Files[0].TimeUnit);
        Assert.Equal(["1:1 0 0 0", "1:2 1 1 34062945000"], _warehouse.Events());
    }

    [Fact]
    public async Task TimeUnit_option_overrides_detection()
    {
        var file = _warehouse.Write("forced.csv", "user,item,ts\nu1,i1,1600000000\n");

        var report = await _warehouse.Ingest(new IngestOptions { Input = [file], TimeUnit = "ms" });

        Assert.Equal(("ms", false), (report.Files[0].TimeUnit, report.Files[0].TimeUnitDetected));
        Assert.Equal(["1:2 u1 i1 1600000000"], _warehouse.Events());
    }

    [Fact]
    public async Task Iso_text_is_utc_unless_it_names_a_zone()
    {
        var file = _warehouse.Write("iso.csv", """
            user,item,ts
            u1,i1,2020-09-13T12:26:40Z
            u2,i2,2020-09-13 12:26:40
            u3,i3,2020-09-13T14:26:40+02:00
            u4,i4,2020-09-13T12:26:40.123
            u5,i5,2020-09-13T12:26Z
            u6,i6,2020-09-13
            """ + "\n");

        var report = await _warehouse.Ingest(file);

        Assert.Equal(("iso", 0L), (report.Files[0].TimeUnit, report.Rejected));
        Assert.Equal(
            [1600000000000, 1600000000000, 1600000000000, 1600000000123, 1599999960000, 1599955200000],
            _warehouse.Query("SELECT ts_ms FROM events ORDER BY line_no").Select(r => (long)r[0]!));
    }
}
