using HrnnPipeline.Features;
using static HrnnPipeline.Tests.Features.TestWarehouse;

namespace HrnnPipeline.Tests.Features;

/// <summary>
/// The complete dataset (complete.arrow, items-complete.arrow): every kept session whole, for the model that is
/// published. The evaluation files beside it stay as the split makes them.
/// </summary>
public sealed class CompleteDatasetTests : IDisposable
{
    readonly TestWarehouse _w = new();
    public void Dispose() => _w.Dispose();

    /// <summary>A prepared events file as (user id, item ids) per session, in file order.</summary>
    List<(string User, string Items)> Read(string file, string itemsFile)
    {
        var data = ArrowSessions.Read(_w.PreparedFile(file));
        var items = IdMap.Read(_w.PreparedFile(itemsFile));
        var users = IdMap.Read(_w.PreparedFile(PreparedFiles.Users));
        var result = new List<(string, string)>();
        for (int u = 0; u < data.UserCount; u++)
            for (int s = data.UserStarts[u]; s < data.UserStarts[u + 1]; s++)
                result.Add((users.Ids[data.Users[u]], string.Join(' ', data.SessionItems(s).ToArray().Select(i => items.Ids[i]))));
        return result;
    }

    [Fact]
    public async Task An_item_only_in_a_last_session_is_in_the_complete_map_and_dataset_and_nowhere_else()
    {
        _w.Add(UserSessions("u", "a b", "b c", "a new b"));
        await _w.PrepareAsync(NoFilters());

        var items = IdMap.Read(_w.PreparedFile(PreparedFiles.Items));
        var complete = IdMap.Read(_w.PreparedFile(PreparedFiles.CompleteItems));
        Assert.False(items.TryGetIndex("new", out _));
        Assert.True(complete.TryGetIndex("new", out int index));
        Assert.Equal(items.Count + 1, index);
        Assert.Equal([("u", "a b"), ("u", "b c"), ("u", "a new b")], Read(PreparedFiles.Complete, PreparedFiles.CompleteItems));
        // The evaluation files are cleaned as before: test without the item train never saw.
        Assert.Equal([("u", "a b")], Read(PreparedFiles.Test, PreparedFiles.Items));
        Assert.Equal(["", "b", "a", "c"], items.Ids);
    }

    [Fact]
    public async Task A_last_session_with_one_known_item_is_dropped_from_test_but_kept_whole_in_complete()
    {
        _w.Add(UserSessions("u", "a b", "b c", "a b"));
        _w.Add(UserSessions("v", "a b", "c a", "x y a")); // test keeps only "a": dropped
        var summary = await _w.PrepareAsync(NoFilters());

        Assert.Equal([("u", "a b")], Read(PreparedFiles.Test, PreparedFiles.Items));
        Assert.Equal(
            [("u", "a b"), ("u", "b c"), ("u", "a b"), ("v", "a b"), ("v", "c a"), ("v", "x y a")],
            Read(PreparedFiles.Complete, PreparedFiles.CompleteItems));
        Assert.Equal((1L, 6L, 13L, 5), (summary.TestSessions, summary.CompleteSessions, summary.CompleteEvents, summary.CompleteItems));
    }

    [Fact]
    public async Task The_complete_map_extends_the_train_map_and_complete_holds_every_event_of_the_kept_sessions()
    {
        _w.Add(UserSessions("u", "a b", "q", "b c", "c x y")); // "q" is too short: filtered, in neither dataset
        _w.Add(UserSessions("v", "a b", "c a", "y z a"));
        var options = NoFilters();
        options.MinSessionLength = 2;
        var summary = await _w.PrepareAsync(options);

        var items = IdMap.Read(_w.PreparedFile(PreparedFiles.Items));
        var complete = IdMap.Read(_w.PreparedFile(PreparedFiles.CompleteItems));
        // train support: a 3, b 3, c 2; then the test-only items by support over all kept sessions: y 2, x 1, z 1
        Assert.Equal(["", "a", "b", "c"], items.Ids);
        Assert.Equal(items.Ids, complete.Ids.Take(items.TableSize));
        Assert.Equal(["", "a", "b", "c", "y", "x", "z"], complete.Ids);
        // counts over all kept sessions (fit, valid and test), as the model trained on them samples negatives
        Assert.Equal([0L, 4, 3, 3, 2, 1, 1], complete.Counts);

        var data = ArrowSessions.Read(_w.PreparedFile(PreparedFiles.Complete));
        var train = ArrowSessions.Read(_w.PreparedFile(PreparedFiles.Train));
        Assert.Equal(14, data.EventCount);
        Assert.Equal(_w.Scalar("SELECT sum(events)::BIGINT FROM sessions"), data.EventCount);
        Assert.Equal((6L, 14L, 6), (summary.CompleteSessions, summary.CompleteEvents, summary.CompleteItems));
        Assert.Equal(6, data.SessionCount);
        // the same session and user indices as the split files
        Assert.Equal(train.SessionIds.Length + 2, data.SessionIds.Length);
        Assert.Subset(data.SessionIds.ToHashSet(), train.SessionIds.ToHashSet());
        Assert.Equal(train.Users, data.Users);
        Assert.Equal(0, summary.TestSessions); // both last sessions keep a single known item
    }

    [Fact]
    public async Task Outcome_values_of_the_complete_dataset_are_written_beside_it()
    {
        _w.Add(
            new Event("u", "a", 0, Value: 2), new Event("u", "b", 1, Value: 3),
            new Event("u", "b", 100, Value: 4), new Event("u", "c", 101),
            new Event("u", "new", 200, Value: 5), new Event("u", "a", 201, Value: 6));
        await _w.PrepareAsync(NoFilters());

        // The last session keeps a single known item: not in test, but its values are in complete's.
        Assert.Equal(0, ArrowSessions.Read(_w.PreparedFile(PreparedFiles.Test)).SessionCount);
        Assert.True(File.Exists(_w.PreparedFile("complete.values.arrow")));
        Assert.Equal([2f, 3f, 4f, 1f, 5f, 6f], ArrowSessions.Read(_w.PreparedFile(PreparedFiles.Complete)).Values!);
    }
}
