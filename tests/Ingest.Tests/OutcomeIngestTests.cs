using HrnnPipeline.Ingest;

namespace HrnnPipeline.Tests.Ingest;

/// <summary>Outcome values and event types at ingest: OUTCOME is the value column; a missing value is allowed only
/// where an event type can give one (Features:EventTypeValues), and unreadable values are rejected rows.</summary>
public sealed class OutcomeIngestTests : IDisposable
{
    readonly Warehouse _warehouse = new();

    public void Dispose() => _warehouse.Dispose();

    [Fact]
    public async Task Values_and_types_are_kept_and_bad_or_missing_values_are_rejected_with_their_line()
    {
        var file = _warehouse.Write("outcomes.csv", """
            USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,OUTCOME
            u1,i1,1,view,1
            u1,i2,2,purchase,
            u2,i3,3,,
            u2,i4,4,view,lots
            u3,i5,5,view,nan
            u3,i6,6,cart,3.5
            u3,i7,7,view,-inf

            """);

        await _warehouse.Ingest(new IngestOptions { Input = [file], RejectThreshold = 1 });

        Assert.Equal(["1:2 u1 i1 1000", "1:3 u1 i2 2000", "1:7 u3 i6 6000"], _warehouse.Events());
        Assert.Equal([["view", 1.0], ["purchase", null], ["cart", 3.5]],
            _warehouse.Query("SELECT event_type, value FROM events ORDER BY line_no").Select(r => r.ToArray()));
        Assert.Equal(["4: missing value (and no event type)", "5: bad value: lots", "6: bad value: nan", "8: bad value: -inf"],
            _warehouse.Rejected());
    }

    [Fact]
    public async Task The_columns_option_names_the_outcome_column_by_position()
    {
        var file = _warehouse.Write("positional.csv", "u1,0.0,i1,10\nu1,1.0,i2,20\nu2,,i3,30\n");

        await _warehouse.Ingest(new IngestOptions { Input = [file], Columns = "user,outcome,item,timestamp", RejectThreshold = 1 });

        Assert.Equal([0.0, 1.0], _warehouse.Query("SELECT value FROM events ORDER BY line_no").Select(r => r[0]));
        Assert.Equal(["3: missing value"], _warehouse.Rejected());
    }
}
