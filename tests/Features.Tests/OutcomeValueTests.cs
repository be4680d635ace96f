using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Tests.Features;

/// <summary>Outcome values through prepare: an event's own value, else its type's (Features:EventTypeValues), else a
/// click's 1, written beside each split and read back with it.</summary>
public sealed class OutcomeValueTests : IDisposable
{
    readonly TestWarehouse _warehouse = new();

    public void Dispose() => _warehouse.Dispose();

    // One user, three sessions (an hour apart): fit, valid, test.
    static Event[] Log() =>
    [
        new("u1", "a", 0, EventType: "view", Value: 2.0),
        new("u1", "b", 1, EventType: "purchase"),
        new("u1", "c", 2, EventType: "cart"),
        new("u1", "a", 100, EventType: "VIEW"),
        new("u1", "b", 101, EventType: "purchase", Value: 0.5),
        new("u1", "a", 200, EventType: "view"),
        new("u1", "c", 201, EventType: "purchase"),
    ];

    [Fact]
    public async Task Events_get_their_own_value_else_their_types_else_one()
    {
        _warehouse.Add(Log());
        var options = TestWarehouse.NoFilters();
        options.EventTypeValues = "view=1, Purchase=5";
        await _warehouse.PrepareAsync(options);

        var train = ArrowSessions.Read(_warehouse.PreparedFile(PreparedFiles.Train));
        Assert.Equal([2f, 5f, 1f, 1f, 0.5f], train.Values!);
        Assert.Equal([1f, 5f], ArrowSessions.Read(_warehouse.PreparedFile(PreparedFiles.Test)).Values!);
        Assert.Equal([1f, 0.5f], ArrowSessions.Read(_warehouse.PreparedFile(PreparedFiles.Valid)).Values!);
    }

    [Fact]
    public async Task A_log_without_values_has_no_value_files_and_a_stale_one_is_removed()
    {
        _warehouse.Add(Log());
        var options = TestWarehouse.NoFilters();
        options.EventTypeValues = "view=1";
        await _warehouse.PrepareAsync(options);
        Assert.True(File.Exists(OutcomeValues.PathOf(_warehouse.PreparedFile(PreparedFiles.Train))));

        await _warehouse.PrepareAsync(TestWarehouse.NoFilters());
        // Only own values left (the first and fifth event): still a log with values.
        Assert.Equal([2f, 1f, 1f, 1f, 0.5f], ArrowSessions.Read(_warehouse.PreparedFile(PreparedFiles.Train)).Values!);

        _warehouse.Execute("UPDATE events SET value = NULL");
        await _warehouse.PrepareAsync(TestWarehouse.NoFilters());
        Assert.False(File.Exists(OutcomeValues.PathOf(_warehouse.PreparedFile(PreparedFiles.Train))));
        Assert.Null(ArrowSessions.Read(_warehouse.PreparedFile(PreparedFiles.Train)).Values!);
    }

    [Theory]
    [InlineData("view=1,purchase", "Features:EventTypeValues 'view=1,purchase': 'purchase' is not type=number (e.g. view=1,purchase=5)")]
    [InlineData("view=lots", "Features:EventTypeValues 'view=lots': 'view=lots' is not type=number (e.g. view=1,purchase=5)")]
    [InlineData("view=1,VIEW=2", "Features:EventTypeValues 'view=1,VIEW=2': type 'VIEW' given twice")]
    public void Bad_event_type_values_fail_naming_the_pair(string option, string message)
    {
        var options = new FeatureOptions { EventTypeValues = option };
        Assert.Equal(message, Assert.Throws<PipelineException>(options.Validate).Message);
    }
}
