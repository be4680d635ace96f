using DuckDB.NET.Data;
using HrnnPipeline.Features;

namespace HrnnPipeline.Tests.Features;

public sealed class DuckDbArrowExportTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "features-export-" + Guid.NewGuid().ToString("N"));
    readonly DuckDBConnection _db = new("Data Source=:memory:");

    public DuckDbArrowExportTests()
    {
        Directory.CreateDirectory(_dir);
        _db.Open();
    }

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    const string Rows = """
        SELECT (range // 1000)::INTEGER AS user_idx, (range // 10)::INTEGER AS session_idx,
            (1 + range % 97)::INTEGER AS item_idx, range * 1000 AS ts
        FROM range(200000)
        """;

    [Fact]
    public async Task Query_rows_arrive_in_order_in_full_batches_across_duckdb_chunks()
    {
        var path = Path.Combine(_dir, "x.arrow");
        long rows = await DuckDbArrowExport.WriteAsync(_db, Rows, ArrowSessions.EventSchema, path, "session_idx", CancellationToken.None);
        Assert.Equal(200_000, rows);
        var data = ArrowSessions.Read(path);
        Assert.Equal(200_000, data.EventCount);
        Assert.Equal(20_000, data.SessionCount);
        Assert.Equal(200, data.UserCount);
        Assert.Equal(Enumerable.Range(0, 200_000).Select(r => 1 + r % 97), data.Items);
        Assert.Equal(Enumerable.Range(0, 200_000).Select(r => r * 1000L), data.Timestamps);
    }

    [Fact]
    public async Task Rows_out_of_session_order_are_refused_and_leave_no_file()
    {
        var path = Path.Combine(_dir, "x.arrow");
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => DuckDbArrowExport.WriteAsync(
            _db, Rows + " ORDER BY range DESC", ArrowSessions.EventSchema, path, "session_idx", CancellationToken.None));
        Assert.Contains("out of order", error.Message);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public async Task Columns_of_the_wrong_type_or_with_nulls_are_refused()
    {
        var path = Path.Combine(_dir, "x.arrow");
        await Assert.ThrowsAsync<InvalidOperationException>(() => DuckDbArrowExport.WriteAsync(
            _db, "SELECT 1::BIGINT AS user_idx, 1 AS session_idx, 1 AS item_idx, 1::BIGINT AS ts",
            ArrowSessions.EventSchema, path, "session_idx", CancellationToken.None));
        var nulls = await Assert.ThrowsAsync<InvalidOperationException>(() => DuckDbArrowExport.WriteAsync(
            _db, "SELECT 1 AS user_idx, 1 AS session_idx, NULL::INTEGER AS item_idx, 1::BIGINT AS ts",
            ArrowSessions.EventSchema, path, "session_idx", CancellationToken.None));
        Assert.Contains("item_idx", nulls.Message);
        Assert.Empty(Directory.GetFiles(_dir));
    }
    [Fact]
    public async Task One_scan_routes_each_row_to_the_files_its_mask_names_in_order_and_batches()
    {
        var even = Path.Combine(_dir, "even.arrow");
        var all = Path.Combine(_dir, "all.arrow");
        var rows = await SplitEventsExport.WriteAsync(_db, """
            SELECT (range // 1000)::INTEGER AS user_idx, (range // 10)::INTEGER AS session_idx,
                (1 + range % 97)::INTEGER AS item_idx, (1000 + range % 89)::INTEGER AS complete_item_idx, range * 1000 AS ts,
                (CASE WHEN range % 2 = 0 THEN 1 ELSE 0 END + 2)::INTEGER AS mask
            FROM range(200000)
            """, [new SplitTarget(even, 0, CompleteItems: false), new SplitTarget(all, 1, CompleteItems: true)], CancellationToken.None);
        Assert.Equal([100_000L, 200_000L], rows);
        var evens = ArrowSessions.Read(even);
        Assert.Equal(Enumerable.Range(0, 100_000).Select(r => 1 + 2 * r % 97), evens.Items);
        Assert.Equal(Enumerable.Range(0, 100_000).Select(r => 2L * r * 1000), evens.Timestamps);
        var everything = ArrowSessions.Read(all);
        Assert.Equal(Enumerable.Range(0, 200_000).Select(r => 1000 + r % 89), everything.Items);
        Assert.Equal(20_000, everything.SessionCount);
    }

    [Fact]
    public async Task One_scan_refuses_nulls_and_rows_out_of_order_and_leaves_no_file()
    {
        SplitTarget[] targets = [new(Path.Combine(_dir, "a.arrow"), 0, false), new(Path.Combine(_dir, "b.arrow"), 1, false)];
        await Assert.ThrowsAsync<InvalidOperationException>(() => SplitEventsExport.WriteAsync(_db,
            "SELECT 1 AS user_idx, 1 AS session_idx, NULL::INTEGER AS item_idx, 1 AS complete_item_idx, 1::BIGINT AS ts, 3 AS mask",
            targets, CancellationToken.None));
        var order = await Assert.ThrowsAsync<InvalidOperationException>(() => SplitEventsExport.WriteAsync(_db, """
            SELECT 0 AS user_idx, (10 - range)::INTEGER AS session_idx, 1 AS item_idx, 1 AS complete_item_idx,
                range AS ts, 2 AS mask
            FROM range(10)
            """, targets, CancellationToken.None));
        Assert.Contains("out of order", order.Message);
        Assert.Empty(Directory.GetFiles(_dir));
    }
}
