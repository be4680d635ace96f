using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using Microsoft.Extensions.Configuration;
using static HrnnPipeline.Tests.Features.TestWarehouse;

namespace HrnnPipeline.Tests.Features;

public sealed class RobustnessTests : IDisposable
{
    readonly TestWarehouse _w = new();
    public void Dispose() => _w.Dispose();

    static readonly string[] AllFiles =
    [
        PreparedFiles.Train, PreparedFiles.Fit, PreparedFiles.Valid, PreparedFiles.Test, PreparedFiles.Items,
        PreparedFiles.Users, ArrowSessions.SessionIndexPath(PreparedFiles.Train), ArrowSessions.SessionIndexPath(PreparedFiles.Test),
        PreparedFiles.Complete, ArrowSessions.SessionIndexPath(PreparedFiles.Complete), PreparedFiles.CompleteItems,
    ];

    Dictionary<string, byte[]> Files() => AllFiles.ToDictionary(f => f, f => File.ReadAllBytes(_w.PreparedFile(f)));

    const string TablesFingerprint = """
        SELECT (SELECT count(*) FROM session_events) * 1000000 + (SELECT count(*) FROM sessions) * 1000
             + (SELECT count(*) FROM item_map) * 10 + (SELECT count(*) FROM user_map)
        """;

    [Fact]
    public async Task Running_prepare_twice_replaces_outputs_with_identical_results()
    {
        _w.Add(UserSessions("u", "a b c", "b c a", "c a b", "a b"));
        _w.Add(UserSessions("v", "a b", "b c", "c a"));
        var first = await _w.PrepareAsync(TestWarehouse.NoFilters());
        var files = Files();
        var tables = _w.Scalar(TablesFingerprint);

        var second = await _w.PrepareAsync(TestWarehouse.NoFilters());
        Assert.Equal(first with { ElapsedSeconds = 0, EventsPerSecond = 0, Timings = [] },
            second with { ElapsedSeconds = 0, EventsPerSecond = 0, Steps = first.Steps, Timings = [] });
        Assert.Equal(first.Steps, second.Steps);
        Assert.Equal(files, Files());
        Assert.Equal(tables, _w.Scalar(TablesFingerprint));
        Assert.Empty(Directory.GetFiles(_w.Prepared, "*.tmp"));
    }

    [Fact]
    public async Task A_run_that_filters_everything_away_fails_clearly_and_keeps_the_previous_outputs()
    {
        _w.Add(UserSessions("u", "a b c", "b c a", "c a b"));
        await _w.PrepareAsync(TestWarehouse.NoFilters());
        var files = Files();
        var tables = _w.Scalar(TablesFingerprint);

        var options = TestWarehouse.NoFilters();
        options.MinItemSupport = 1000;
        var error = await Assert.ThrowsAsync<PipelineException>(() => _w.PrepareAsync(options));
        Assert.Contains("no sessions left", error.Message);
        Assert.DoesNotContain('\n', error.Message);
        Assert.Equal(files, Files());
        Assert.Equal(tables, _w.Scalar(TablesFingerprint));
    }

    [Fact]
    public async Task Users_with_a_single_session_only_leave_no_training_data_and_that_is_an_error()
    {
        _w.Add(new Event("u", "a", 0), new Event("u", "b", 1));
        var error = await Assert.ThrowsAsync<PipelineException>(() => _w.PrepareAsync(TestWarehouse.NoFilters()));
        Assert.Contains("no training sessions", error.Message);
        Assert.False(Directory.Exists(_w.Prepared) && Directory.GetFiles(_w.Prepared).Length > 0);
    }

    [Fact]
    public async Task Missing_warehouse_is_a_one_line_error_naming_the_file()
    {
        var missing = Path.Combine(_w.Root, "nope.duckdb");
        var error = await Assert.ThrowsAsync<PipelineException>(() =>
            new FeatureBuilder().BuildAsync(missing, _w.Prepared, new FeatureOptions(), CancellationToken.None));
        Assert.Contains(missing, error.Message);
        Assert.False(File.Exists(missing));
    }

    [Fact]
    public async Task Warehouse_without_events_table_is_a_one_line_error()
    {
        _w.Execute("DROP TABLE events");
        var error = await Assert.ThrowsAsync<PipelineException>(() => _w.PrepareAsync());
        Assert.Contains("table `events` not found", error.Message);
    }

    [Fact]
    public async Task Events_table_missing_a_contract_column_is_named_in_the_error()
    {
        _w.Execute("ALTER TABLE events DROP COLUMN session_id");
        var error = await Assert.ThrowsAsync<PipelineException>(() => _w.PrepareAsync());
        Assert.Contains("session_id", error.Message);
    }

    [Fact]
    public async Task Empty_events_table_is_a_one_line_error()
    {
        var error = await Assert.ThrowsAsync<PipelineException>(() => _w.PrepareAsync());
        Assert.Contains("is empty", error.Message);
    }

    [Theory]
    [InlineData("MinItemSupport")]
    [InlineData("MinSessionLength")]
    [InlineData("MinUserSessions")]
    [InlineData("MaxSessionsPerUser")]
    [InlineData("SessionGap")]
    [InlineData("MemoryLimit")]
    public async Task Invalid_options_are_rejected_naming_the_setting(string setting)
    {
        _w.Add(UserSessions("u", "a b", "b a"));
        var options = new FeatureOptions();
        switch (setting)
        {
            case "MinItemSupport": options.MinItemSupport = -1; break;
            case "MinSessionLength": options.MinSessionLength = -1; break;
            case "MinUserSessions": options.MinUserSessions = -1; break;
            case "MaxSessionsPerUser": options.MaxSessionsPerUser = 0; break;
            case "SessionGap": options.SessionGap = TimeSpan.Zero; break;
            case "MemoryLimit": options.MemoryLimit = "1GB'; DROP TABLE events; --"; break;
        }
        var error = await Assert.ThrowsAsync<PipelineException>(() => _w.PrepareAsync(options));
        Assert.Contains($"Features:{setting}", error.Message);
        Assert.Equal(4, _w.Scalar("SELECT count(*) FROM events"));
    }

    [Fact]
    public void Options_bind_from_the_Features_configuration_section()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Features:SessionGap"] = "01:00:00",
            ["Features:MinItemSupport"] = "5",
            ["Features:MinSessionLength"] = "2",
            ["Features:MinUserSessions"] = "3",
            ["Features:MaxSessionsPerUser"] = "50",
            ["Features:DropEventTypes:0"] = "delete",
        }).Build();
        var options = configuration.GetSection(FeatureOptions.SectionName).Get<FeatureOptions>()!;
        Assert.Equal(TimeSpan.FromHours(1), options.SessionGap);
        Assert.Equal((5, 2, 3, 50), (options.MinItemSupport, options.MinSessionLength, options.MinUserSessions, options.MaxSessionsPerUser));
        Assert.Equal(["delete"], options.DropEventTypes);

        var defaults = new ConfigurationBuilder().Build().GetSection(FeatureOptions.SectionName).Get<FeatureOptions>() ?? new FeatureOptions();
        Assert.Equal((TimeSpan.FromMinutes(30), 10, 3, 5, (int?)null), (defaults.SessionGap, defaults.MinItemSupport, defaults.MinSessionLength, defaults.MinUserSessions, defaults.MaxSessionsPerUser));
    }

    [Fact]
    public async Task Summary_serialises_in_snake_case_with_the_cli_filled_rejected_count()
    {
        _w.Add(UserSessions("u", "a b", "b a"));
        var summary = await _w.PrepareAsync(TestWarehouse.NoFilters());
        summary.Rejected = 7;
        var path = Path.Combine(_w.Root, "prepare-summary.json");
        Json.Write(path, summary);
        var text = File.ReadAllText(path);
        foreach (var key in new[] { "users", "items", "train_sessions", "train_events", "test_sessions", "test_events",
                     "valid_sessions", "valid_events", "fit_sessions", "fit_events", "rejected", "steps", "min_item_support" })
            Assert.Contains($"\"{key}\"", text);
        var back = Json.Read<PrepareSummary>(path);
        Assert.Equal(summary.Steps, back.Steps);
        Assert.Equal(7, back.Rejected);
    }
}
