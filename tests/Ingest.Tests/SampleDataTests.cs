namespace HrnnPipeline.Tests.Ingest;

public sealed class SampleDataTests : IDisposable
{
    readonly Warehouse _warehouse = new();

    public void Dispose() => _warehouse.Dispose();

    [Fact]
    public async Task The_lastfm_sample_loads_every_line_as_an_event_in_seconds()
    {
        var lastfm = Warehouse.SharedFile("data/lastfm-jodie-10pct/lastfm.tsv");

        var report = await _warehouse.Ingest(lastfm);

        Assert.Equal((129_310L, 0L), (report.Accepted, report.Rejected));
        Assert.Equal(("tsv", "s", true), (report.Files[0].Format, report.Files[0].TimeUnit, report.Files[0].TimeUnitDetected));
        Assert.Equal("0b15b33a5bc2dec51afab7786d9485991a794bebcb095633b1a396147a68bcd1", report.Files[0].Sha256);
        var summary = _warehouse.Query("""
            SELECT count(*), count(DISTINCT user_id), count(DISTINCT item_id), min(line_no), max(line_no), max(ts_ms)
            FROM events
            """)[0];
        Assert.Equal([129_310L, 304L, 789L, 1L, 129_310L, 34_062_945_000L], summary);
    }
}
