using HrnnPipeline.Ingest;

namespace HrnnPipeline.Tests.Ingest;

public sealed class FormatTests : IDisposable
{
    readonly Warehouse _warehouse = new();

    public void Dispose() => _warehouse.Dispose();

    [Fact]
    public async Task Csv_with_header_loads_every_row_with_its_physical_line_number()
    {
        var file = _warehouse.Write("a.csv", "user_id,item_id,timestamp\nu1,i1,1600000000\nu2,i2,1600000060\n");

        var report = await _warehouse.Ingest(file);

        Assert.Equal(["1:2 u1 i1 1600000000000", "1:3 u2 i2 1600000060000"], _warehouse.Events());
        var only = Assert.Single(report.Files);
        Assert.Equal(("csv", 2L, 0L, false), (only.Format, only.Accepted, only.Rejected, only.Skipped));
    }

    [Fact]
    public async Task Headerless_tsv_reads_user_item_timestamp_by_position()
    {
        var file = _warehouse.Write("b.tsv", "7\t42\t100\n8\t43\t200\n");

        var report = await _warehouse.Ingest(file);

        Assert.Equal(["1:1 7 42 100000", "1:2 8 43 200000"], _warehouse.Events());
        Assert.Equal("tsv", report.Files[0].Format);
    }

    [Fact]
    public async Task Json_lines_match_keys_by_name_whatever_their_case_and_keep_optional_fields()
    {
        var file = _warehouse.Write("c.jsonl", """
            {"User_Id": "u1", "ITEM": 5, "Ts": 1600000000, "session_id": "s1", "event_type": "view", "value": 2.5}

            {"user": "u2", "item_id": "i2", "time": "2020-09-13T12:26:40Z"}
            """ + "\n");

        await _warehouse.Ingest(file);

        Assert.Equal(["1:1 u1 5 1600000000000", "1:3 u2 i2 1600000000000"], _warehouse.Events());
        var optional = _warehouse.Query("SELECT session_id, event_type, value FROM events ORDER BY line_no");
        Assert.Equal(["s1", "view", 2.5], optional[0]);
        Assert.Equal([null, null, null], optional[1]);
    }

    [Fact]
    public async Task Parquet_written_by_duckdb_loads_with_row_numbers_and_typed_timestamps()
    {
        var file = Path.Combine(_warehouse.Folder, "d.parquet");
        _warehouse.Query($"""
            COPY (SELECT * FROM (VALUES ('u1', 10, TIMESTAMP '2020-09-13 12:26:40', 'buy'),
                                        ('u2', 11, TIMESTAMP '2020-09-13 12:27:40', 'view'))
                  t("UserID", "Item", "Time", "Event_Type"))
            TO '{file}' (FORMAT parquet)
            """, scratch: true);

        var report = await _warehouse.Ingest(file);

        Assert.Equal(["1:1 u1 10 1600000000000", "1:2 u2 11 1600000060000"], _warehouse.Events());
        Assert.Equal(["buy", "view"], _warehouse.Query("SELECT event_type FROM events ORDER BY line_no").Select(r => r[0]));
        Assert.Equal(("parquet", "iso"), (report.Files[0].Format, report.Files[0].TimeUnit));
    }

    [Fact]
    public async Task Header_names_match_case_insensitively_in_any_order()
    {
        var file = _warehouse.Write("e.csv", "TS,ItemID,Event-Type,USER_ID,Value\n1600000000,i1,click,u1,3\n");

        await _warehouse.Ingest(file);

        Assert.Equal(["1:2 u1 i1 1600000000000"], _warehouse.Events());
        Assert.Equal(["click", 3.0], _warehouse.Query("SELECT event_type, value FROM events")[0]);
    }

    [Fact]
    public async Task Columns_option_maps_fields_by_position_and_skips_blank_names()
    {
        var file = _warehouse.Write("f.csv", "i1,ignored,u1,1600000000,s9\ni2,ignored,u2,1600000001,s9\n");

        await _warehouse.Ingest(new IngestOptions { Input = [file], Columns = "item,,user,timestamp,session" });

        Assert.Equal(["1:1 u1 i1 1600000000000", "1:2 u2 i2 1600000001000"], _warehouse.Events());
        Assert.Equal(["s9", "s9"], _warehouse.Query("SELECT session_id FROM events").Select(r => r[0]));
    }

    [Fact]
    public async Task Columns_option_skips_a_header_row_of_unknown_names()
    {
        var file = _warehouse.Write("g.csv", "who,what,when\nu1,i1,5\n");

        await _warehouse.Ingest(new IngestOptions { Input = [file], Columns = "user,item,timestamp" });

        Assert.Equal(["1:2 u1 i1 5000"], _warehouse.Events());
    }

    [Fact]
    public async Task Quoted_csv_fields_keep_their_delimiters_and_quotes()
    {
        var file = _warehouse.Write("h.csv", "user,item,ts\n\"u,1\",\"say \"\"hi\"\"\",7\n u2 , i2 , 8 \n");

        await _warehouse.Ingest(file);

        Assert.Equal(["1:2 u,1 say \"hi\" 7000", "1:3 u2 i2 8000"], _warehouse.Events());
    }

    [Fact]
    public async Task Delimiter_is_sniffed_when_the_extension_does_not_tell()
    {
        var semicolons = _warehouse.Write("logs/a.log", "user;item;timestamp\nu1;i1;1\nu2;i2;2\n");
        var tabs = _warehouse.Write("logs/b.txt", "u3\ti3\t3\n");

        var report = await _warehouse.Ingest(semicolons, tabs);

        Assert.Equal(["csv(;)", "tsv"], report.Files.Select(f => f.Format));
        Assert.Equal(["1:2 u1 i1 1000", "1:3 u2 i2 2000", "2:1 u3 i3 3000"], _warehouse.Events());
    }

    [Fact]
    public async Task Crlf_endings_and_blank_lines_keep_physical_line_numbers()
    {
        var file = _warehouse.Write("i.csv", "user,item,ts\r\n\r\nu1,i1,1\r\n   \r\nu2,i2,2");

        var report = await _warehouse.Ingest(file);

        Assert.Equal(["1:3 u1 i1 1000", "1:5 u2 i2 2000"], _warehouse.Events());
        Assert.Equal(0, report.Rejected);
    }

    [Fact]
    public async Task A_byte_order_mark_and_quoted_header_names_are_understood()
    {
        var file = _warehouse.Write("bom.csv", "\uFEFF\"user_id\",\"item_id\",\"ts\"\nu1,i1,1\n");

        await _warehouse.Ingest(file);

        Assert.Equal(["1:2 u1 i1 1000"], _warehouse.Events());
    }

    [Fact]
    public async Task Line_numbers_stay_exact_when_duckdb_reads_a_large_file_in_parallel()
    {
        // Over 32 MB, DuckDB splits the file between threads; rowid must still be the physical line number.
        var path = Path.Combine(_warehouse.Folder, "large.csv");
        using (var writer = new StreamWriter(path))
        {
            writer.Write("user_id,item_id,timestamp\n");
            for (int line = 2; line <= 1_300_000; line++)
                writer.Write(line % 100_000 == 0 ? "\n" : $"user-{line % 5000:D6},item-{line % 7919:D6},{line}\n");
        }

        var report = await _warehouse.Ingest(path);

        Assert.Equal(1_300_000 - 1 - 13, report.Accepted);
        Assert.Equal(0L, (long)_warehouse.Query(
            "SELECT count(*) FROM events WHERE ts_ms <> line_no * 1000 OR user_id <> printf('user-%06d', line_no % 5000)")[0][0]!);
    }

    [Fact]
    public async Task Format_option_overrides_the_extension()
    {
        var file = _warehouse.Write("j.csv", "{\"user\": \"u1\", \"item\": \"i1\", \"ts\": 9}\n");

        var report = await _warehouse.Ingest(new IngestOptions { Input = [file], Format = "jsonl" });

        Assert.Equal("jsonl", report.Files[0].Format);
        Assert.Equal(["1:1 u1 i1 9000"], _warehouse.Events());
    }

    [Fact]
    public async Task Folder_input_ingests_its_files_in_name_order_and_globs_expand()
    {
        _warehouse.Write("in/2.csv", "user,item,ts\nu2,i2,2\n");
        _warehouse.Write("in/1.csv", "user,item,ts\nu1,i1,1\n");
        _warehouse.Write("in/_SUCCESS", "");
        _warehouse.Write("more/x/3.tsv", "u3\ti3\t3\n");

        var report = await _warehouse.Ingest(Path.Combine(_warehouse.Folder, "in"), Path.Combine(_warehouse.Folder, "more", "**", "*.tsv"));

        Assert.Equal(["1.csv", "2.csv", "3.tsv"], report.Files.Select(f => Path.GetFileName(f.Path)));
        Assert.Equal(["1:2 u1 i1 1000", "2:2 u2 i2 2000", "3:1 u3 i3 3000"], _warehouse.Events());
    }
}
