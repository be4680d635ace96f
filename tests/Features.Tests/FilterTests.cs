using HrnnPipeline.Features;
using static HrnnPipeline.Tests.Features.TestWarehouse;

namespace HrnnPipeline.Tests.Features;

public sealed class FilterTests : IDisposable
{
    readonly TestWarehouse _w = new();
    public void Dispose() => _w.Dispose();

    [Fact]
    public async Task Items_with_support_below_the_minimum_are_removed_counting_after_repeat_dropping()
    {
        // a: 3 events; b: 4 raw events but 2 after dropping repeats; c: 3
        _w.Add(UserSessions("u", "a b b c", "a b b c", "a c"));
        var options = TestWarehouse.NoFilters();
        options.MinItemSupport = 3;
        var summary = await _w.PrepareAsync(options);
        Assert.Equal(["a c", "a c", "a c"], _w.Sessions().Select(s => s.Items));
        var step = Assert.Single(summary.Steps, s => s.Step == "min_item_support");
        Assert.Equal(new FilterStepCounts("min_item_support", 6, 3, 1, 2), step);
        Assert.Equal(new FilterStepCounts("sessionized", 8, 3, 1, 3), summary.Steps[0]);
    }

    [Fact]
    public async Task Sessions_shorter_than_the_minimum_are_removed()
    {
        _w.Add(UserSessions("u", "a b c", "a b", "c b a", "h"));
        var options = TestWarehouse.NoFilters();
        options.MinSessionLength = 3;
        var summary = await _w.PrepareAsync(options);
        Assert.Equal(["a b c", "c b a"], _w.Sessions().Select(s => s.Items));
        Assert.Equal(new FilterStepCounts("min_session_length", 6, 2, 1, 3), summary.Steps.Single(s => s.Step == "min_session_length"));
    }

    [Fact]
    public async Task Users_with_too_few_sessions_are_removed()
    {
        _w.Add(UserSessions("many", "a", "b", "a"));
        _w.Add(UserSessions("few", "a", "b"));
        var options = TestWarehouse.NoFilters();
        options.MinUserSessions = 3;
        var summary = await _w.PrepareAsync(options);
        Assert.All(_w.Sessions(), s => Assert.Equal("many", s.User));
        Assert.Equal(1, summary.Users);
        Assert.Equal(new FilterStepCounts("min_user_sessions", 3, 3, 1, 2), summary.Steps.Single(s => s.Step == "min_user_sessions"));
    }

    [Fact]
    public async Task Max_sessions_per_user_keeps_the_most_recent_sessions()
    {
        _w.Add(UserSessions("u", "a", "b", "c", "c"));
        _w.Add(UserSessions("v", "e", "e"));
        var options = TestWarehouse.NoFilters();
        options.MaxSessionsPerUser = 2;
        var summary = await _w.PrepareAsync(options);
        Assert.Equal([("u", "c"), ("u", "c"), ("v", "e"), ("v", "e")], _w.Sessions().Select(s => (s.User, s.Items)));
        Assert.Equal("max_sessions_per_user", summary.Steps[^1].Step);
        Assert.Equal(4, summary.Steps[^1].Sessions);
    }

    [Fact]
    public async Task Each_filter_runs_once_so_later_removals_do_not_reapply_earlier_filters()
    {
        // x has support 2 (>= 2) but one of its sessions is too short; after that session goes, x's support is 1
        // and it stays, because the item filter is not applied again.
        _w.Add(UserSessions("u", "x", "x a b", "a b c", "c a b"));
        var options = TestWarehouse.NoFilters();
        options.MinItemSupport = 2;
        options.MinSessionLength = 2;
        await _w.PrepareAsync(options);
        Assert.Equal(["x a b", "a b c", "c a b"], _w.Sessions().Select(s => s.Items));
    }

    [Fact]
    public async Task Default_filters_apply_in_paper_order_items_then_sessions_then_users()
    {
        var events = new List<Event>();
        // "rich" has 5 sessions of 3 popular items; "poor" has 5 sessions whose third item is rare, so its
        // sessions fall to 2 events after the item filter, then out by length, and then the user goes too.
        string[] popular = ["p", "q", "r"];
        for (int s = 0; s < 5; s++)
        {
            events.AddRange(popular.Select((item, e) => new Event("rich", item, s * 100 + e)));
            events.AddRange(popular.Take(2).Select((item, e) => new Event("poor", item, s * 100 + e)));
            events.Add(new Event("poor", "rare" + s, s * 100 + 2));
        }
        _w.Add([.. events]);
        var options = new FeatureOptions { MinItemSupport = 5 };
        var summary = await _w.PrepareAsync(options);
        Assert.Equal(
            [
                new FilterStepCounts("sessionized", 30, 10, 2, 8),
                new FilterStepCounts("min_item_support", 25, 10, 2, 3),
                new FilterStepCounts("min_session_length", 15, 5, 1, 3),
                new FilterStepCounts("min_user_sessions", 15, 5, 1, 3),
            ],
            summary.Steps);
    }
}
