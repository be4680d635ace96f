using HrnnPipeline.Features;

namespace HrnnPipeline.Tests.Features;

public sealed class SessionizingTests : IDisposable
{
    readonly TestWarehouse _w = new();
    public void Dispose() => _w.Dispose();

    [Fact]
    public async Task Explicit_session_ids_take_priority_over_the_idle_gap()
    {
        _w.Add(
            new("u", "a", 0, "s1"), new("u", "b", 120, "s1"), // two hours apart, same id: one session
            new("u", "a", 121, "s2"), new("u", "b", 122, "s2")); // a minute later, new id: new session
        await _w.PrepareAsync(TestWarehouse.NoFilters());
        Assert.Equal(["a b", "a b"], _w.Sessions().Select(s => s.Items));
    }

    [Fact]
    public async Task Events_without_session_id_fall_back_to_the_idle_gap()
    {
        _w.Add(new("u", "a", 0, ""), new("u", "b", 10), new("u", "b", 100), new("u", "a", 105));
        await _w.PrepareAsync(TestWarehouse.NoFilters());
        Assert.Equal(["a b", "b a"], _w.Sessions().Select(s => s.Items));
    }

    [Fact]
    public async Task Idle_gap_option_decides_where_sessions_split()
    {
        // gaps: 20, 30 (exactly the default threshold: not longer, so no split), 150, 5 minutes
        _w.Add(new("u", "a", 0), new("u", "b", 20), new("u", "c", 50), new("u", "a", 200), new("u", "b", 205));

        await _w.PrepareAsync(TestWarehouse.NoFilters());
        Assert.Equal(["a b c", "a b"], _w.Sessions().Select(s => s.Items));

        var tenMinutes = TestWarehouse.NoFilters();
        tenMinutes.SessionGap = TimeSpan.FromMinutes(10);
        await _w.PrepareAsync(tenMinutes);
        Assert.Equal(["a", "b", "c", "a b"], _w.Sessions().Select(s => s.Items));
    }

    [Fact]
    public async Task Sessions_follow_time_not_input_order_and_equal_timestamps_keep_file_and_line_order()
    {
        _w.Execute("""
            INSERT INTO events (file_id, line_no, user_id, item_id, ts_ms) VALUES
                (2, 1, 'u', 'w', 0),
                (1, 3, 'u', 'z', 0),
                (1, 1, 'u', 'x', 0),
                (1, 2, 'u', 'y', 0),
                (1, 4, 'u', 'x', 86400000),
                (1, 5, 'u', 'early', -60000)
            """);
        await _w.PrepareAsync(TestWarehouse.NoFilters());
        Assert.Equal(["early x y z w", "x"], _w.Sessions().Select(s => s.Items));
    }

    [Fact]
    public async Task Consecutive_repeats_are_dropped_but_returns_to_an_item_are_kept()
    {
        _w.Add(new("u", "a", 0), new("u", "a", 1), new("u", "b", 2), new("u", "b", 3), new("u", "a", 4),
            new("u", "a", 100)); // same item again, but in a new session: kept
        await _w.PrepareAsync(TestWarehouse.NoFilters());
        Assert.Equal(["a b a", "a"], _w.Sessions().Select(s => s.Items));
    }

    [Fact]
    public async Task A_repeat_with_another_event_type_is_kept()
    {
        _w.Add(new("u", "a", 0, EventType: "view"), new("u", "a", 1, EventType: "cart"), new("u", "a", 2, EventType: "cart"),
            new("u", "a", 100));
        await _w.PrepareAsync(TestWarehouse.NoFilters());
        Assert.Equal(["a a", "a"], _w.Sessions().Select(s => s.Items));
    }

    [Fact]
    public async Task Dropped_event_types_never_reach_sessions()
    {
        _w.Add(new("u", "a", 0, EventType: "view"), new("u", "x", 1, EventType: "delete"), new("u", "a", 2, EventType: "view"),
            new("u", "c", 3, EventType: "view"), new("u", "y", 50, EventType: "Delete"), new("u", "c", 100));
        var options = TestWarehouse.NoFilters();
        options.DropEventTypes = ["DELETE"];
        var summary = await _w.PrepareAsync(options);
        // without the deletes the two views of a are consecutive repeats, and the delete at minute 50 no longer
        // bridges the gap between minute 3 and minute 100
        Assert.Equal(["a c", "c"], _w.Sessions().Select(s => s.Items));
        Assert.Equal(6, summary.InputEvents);
        Assert.Equal(3, summary.Steps[0].Events);
    }
}
