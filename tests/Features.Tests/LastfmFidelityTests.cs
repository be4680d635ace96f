using HrnnPipeline.Features;

namespace HrnnPipeline.Tests.Features;

/// <summary>
/// The paper's preprocessing on the shared lastfm sample must give exactly the counts that
/// shared/reference/prep.py prints (190 users, 768 items, 11,392 / 78,102 train, 190 / 1,011 test).
/// </summary>
public sealed class LastfmFidelityTests : IClassFixture<LastfmFidelityTests.Prepared>
{
    public sealed class Prepared : IAsyncLifetime
    {
        public TestWarehouse Warehouse { get; } = new();
        public PrepareSummary Summary { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Warehouse.AddTsv(TestWarehouse.SharedFile("data/lastfm-jodie-10pct/lastfm.tsv"));
            Summary = await Warehouse.PrepareAsync();
        }

        public Task DisposeAsync()
        {
            Warehouse.Dispose();
            return Task.CompletedTask;
        }
    }

    readonly Prepared _prepared;
    public LastfmFidelityTests(Prepared prepared) => _prepared = prepared;

    [Fact]
    public void Default_options_reproduce_the_reference_counts_exactly()
    {
        var s = _prepared.Summary;
        Assert.Equal(129_310, s.InputEvents);
        Assert.Equal(190, s.Users);
        Assert.Equal(768, s.Items);
        Assert.Equal(11_392, s.TrainSessions);
        Assert.Equal(78_102, s.TrainEvents);
        Assert.Equal(190, s.TestSessions);
        Assert.Equal(1_011, s.TestEvents);
    }

    [Fact]
    public void Split_files_hold_the_counted_sessions_and_events()
    {
        var s = _prepared.Summary;
        var train = ArrowSessions.Read(_prepared.Warehouse.PreparedFile(PreparedFiles.Train));
        var fit = ArrowSessions.Read(_prepared.Warehouse.PreparedFile(PreparedFiles.Fit));
        var valid = ArrowSessions.Read(_prepared.Warehouse.PreparedFile(PreparedFiles.Valid));
        var test = ArrowSessions.Read(_prepared.Warehouse.PreparedFile(PreparedFiles.Test));
        Assert.Equal((s.TrainSessions, s.TrainEvents), (train.SessionCount, train.EventCount));
        Assert.Equal((s.FitSessions, s.FitEvents), (fit.SessionCount, fit.EventCount));
        Assert.Equal((s.ValidSessions, s.ValidEvents), (valid.SessionCount, valid.EventCount));
        Assert.Equal((190L, 1_011L), (test.SessionCount, test.EventCount));
        Assert.Equal(190, train.UserCount);
        // fit = train minus each user's last training session
        Assert.Equal(train.SessionCount - 190, fit.SessionCount);
        Assert.InRange(valid.SessionCount, 1, 190);
    }

    [Fact]
    public void Item_map_covers_exactly_the_training_items_by_descending_support()
    {
        var items = IdMap.Read(_prepared.Warehouse.PreparedFile(PreparedFiles.Items));
        var users = IdMap.Read(_prepared.Warehouse.PreparedFile(PreparedFiles.Users));
        Assert.Equal(768, items.Count);
        Assert.Equal(769, items.TableSize);
        Assert.Equal(1, items.FirstIndex);
        Assert.Equal(190, users.Count);
        Assert.Equal(0, users.FirstIndex);
        for (int i = 2; i <= items.Count; i++)
            Assert.True(items.Counts[i - 1] >= items.Counts[i], $"support of item {i - 1} < item {i}");

        var train = ArrowSessions.Read(_prepared.Warehouse.PreparedFile(PreparedFiles.Train));
        var support = new long[items.TableSize];
        foreach (var item in train.Items) support[item]++;
        Assert.Equal(items.Counts, support);
        Assert.Equal(78_102, items.Counts.Sum());
    }

    [Fact]
    public void Filter_steps_are_reported_in_order_and_only_shrink_the_data()
    {
        var steps = _prepared.Summary.Steps;
        Assert.Equal(["sessionized", "min_item_support", "min_session_length", "min_user_sessions"], steps.Select(x => x.Step));
        for (int i = 1; i < steps.Count; i++)
        {
            Assert.True(steps[i].Events <= steps[i - 1].Events);
            Assert.True(steps[i].Sessions <= steps[i - 1].Sessions);
            Assert.True(steps[i].Users <= steps[i - 1].Users);
            Assert.True(steps[i].Items <= steps[i - 1].Items);
        }
        Assert.Equal(304, steps[0].Users);
        Assert.Equal(789, steps[0].Items);
        Assert.Equal(190, steps[^1].Users);
        Assert.Equal(11_392 + 190, steps[^1].Sessions);
    }
}
