using HrnnPipeline.Features;
using static HrnnPipeline.Tests.Features.TestWarehouse;

namespace HrnnPipeline.Tests.Features;

public sealed class SplitTests : IDisposable
{
    readonly TestWarehouse _w = new();
    public void Dispose() => _w.Dispose();

    [Fact]
    public async Task Last_session_is_test_the_one_before_is_valid_and_the_rest_fit()
    {
        _w.Add(UserSessions("u", "a b", "b c", "c a", "a b c"));
        var summary = await _w.PrepareAsync(TestWarehouse.NoFilters());
        Assert.Equal(["fit", "fit", "valid", "test"], _w.Sessions().Select(s => s.Split));
        Assert.Equal((3L, 6L), (summary.TrainSessions, summary.TrainEvents));
        Assert.Equal((2L, 4L), (summary.FitSessions, summary.FitEvents));
        Assert.Equal((1L, 2L), (summary.ValidSessions, summary.ValidEvents));
        Assert.Equal((1L, 3L), (summary.TestSessions, summary.TestEvents));
    }

    [Fact]
    public async Task Test_items_unseen_in_train_are_removed_and_tests_left_shorter_than_two_are_dropped()
    {
        _w.Add(UserSessions("u", "a b", "b c", "a new1 b"));   // test keeps "a b"
        _w.Add(UserSessions("v", "a b", "c a", "new2 new3 a")); // test keeps only "a": dropped
        var summary = await _w.PrepareAsync(TestWarehouse.NoFilters());

        var test = ArrowSessions.Read(_w.PreparedFile(PreparedFiles.Test));
        var items = IdMap.Read(_w.PreparedFile(PreparedFiles.Items));
        var user = IdMap.Read(_w.PreparedFile(PreparedFiles.Users));
        Assert.Equal(1, test.SessionCount);
        Assert.Equal("u", user.Ids[test.Users[0]]);
        Assert.Equal(["a", "b"], test.SessionItems(0).ToArray().Select(i => items.Ids[i]));
        Assert.Equal((1L, 2L), (summary.TestSessions, summary.TestEvents));
        Assert.Equal(3, summary.Items); // a, b, c: held-out-only items never get an index
        Assert.False(items.TryGetIndex("new1", out _));
        Assert.Equal(2, summary.Users); // v keeps its training sessions
    }

    [Fact]
    public async Task Valid_items_unseen_in_fit_are_removed_and_short_valid_sessions_dropped()
    {
        _w.Add(UserSessions("u", "a b", "b a", "a c b", "a b"));  // valid "a c b" -> "a b" (c only in valid)
        _w.Add(UserSessions("v", "a b", "d e a", "a b"));         // valid "d e a" -> "a": dropped
        var summary = await _w.PrepareAsync(TestWarehouse.NoFilters());

        var valid = ArrowSessions.Read(_w.PreparedFile(PreparedFiles.Valid));
        var train = ArrowSessions.Read(_w.PreparedFile(PreparedFiles.Train));
        var items = IdMap.Read(_w.PreparedFile(PreparedFiles.Items));
        Assert.Equal(1, valid.SessionCount);
        Assert.Equal(["a", "b"], valid.SessionItems(0).ToArray().Select(i => items.Ids[i]));
        // train keeps the valid sessions whole, so c, d and e are training items
        Assert.Equal(5, train.SessionCount);
        Assert.Equal(5, items.Count);
        Assert.Equal((1L, 2L), (summary.ValidSessions, summary.ValidEvents));
    }

    [Fact]
    public async Task Users_and_items_are_densely_numbered_items_by_descending_support_then_id()
    {
        _w.Add(UserSessions("zed", "b c", "c b", "x y"));
        _w.Add(UserSessions("amy", "c a", "c d", "c b"));
        await _w.PrepareAsync(TestWarehouse.NoFilters());
        var items = IdMap.Read(_w.PreparedFile(PreparedFiles.Items));
        var users = IdMap.Read(_w.PreparedFile(PreparedFiles.Users));
        // train support: c 4, b 2, a 1, d 1 (x, y only in zed's test session)
        Assert.Equal(["", "c", "b", "a", "d"], items.Ids);
        Assert.Equal([0L, 4, 2, 1, 1], items.Counts);
        Assert.Equal(["amy", "zed"], users.Ids);
        Assert.Equal([3L, 3], users.Counts);
        Assert.Equal(4, _w.Scalar("SELECT count(*) FROM item_map"));
        Assert.Equal(1, _w.Scalar("SELECT item_idx FROM item_map WHERE item_id = 'c'"));
        Assert.Equal(1, _w.Scalar("SELECT user_idx FROM user_map WHERE user_id = 'zed'"));
    }
}
