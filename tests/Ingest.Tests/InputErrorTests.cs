using HrnnPipeline.Ingest;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Tests.Ingest;

public sealed class InputErrorTests : IDisposable
{
    readonly Warehouse _warehouse = new();

    public void Dispose() => _warehouse.Dispose();

    async Task<string> FailureOf(IngestOptions options)
    {
        var error = await Assert.ThrowsAsync<PipelineException>(() => _warehouse.Ingest(options));
        Assert.DoesNotContain('\n', error.Message);
        return error.Message.Replace(_warehouse.Folder + Path.DirectorySeparatorChar, "");
    }

    Task<string> FailureOf(params string[] inputs) => FailureOf(new IngestOptions { Input = inputs });

    [Fact]
    public async Task A_missing_path_fails_naming_it()
    {
        var missing = Path.Combine(_warehouse.Folder, "nope.csv");

        Assert.Equal("nope.csv: no such file or folder", await FailureOf(missing));
        Assert.False(File.Exists(_warehouse.Path)); // nothing was opened or created
    }

    [Fact]
    public async Task A_glob_matching_nothing_fails_naming_it()
    {
        Assert.Equal("logs/*.csv: no files match", await FailureOf(Path.Combine(_warehouse.Folder, "logs", "*.csv")));
    }

    [Fact]
    public async Task An_empty_file_fails_naming_it()
    {
        Assert.Equal("empty.csv: empty file", await FailureOf(_warehouse.Write("empty.csv", "")));
    }

    [Fact]
    public async Task A_header_without_data_rows_is_an_empty_file()
    {
        Assert.Equal("header.csv: empty file (no data rows)",
            await FailureOf(_warehouse.Write("header.csv", "user_id,item_id,timestamp\n\n")));
    }

    [Fact]
    public async Task A_header_without_the_needed_columns_fails_listing_what_it_found()
    {
        Assert.Equal("x.csv:1: no user/item/timestamp columns (found: a, b, c)",
            await FailureOf(_warehouse.Write("x.csv", "a,b,c\n1,2,3\n")));
        Assert.Equal("y.csv:1: no timestamp column (found: user, item, when)",
            await FailureOf(_warehouse.Write("y.csv", "user,item,when\nu,i,2020-01-01\n")));
    }

    [Fact]
    public async Task Json_lines_without_the_needed_keys_fail_listing_the_keys()
    {
        Assert.Equal("k.jsonl: no item column (found: user, ts, extra)",
            await FailureOf(_warehouse.Write("k.jsonl", "{\"user\": 1, \"ts\": 2, \"extra\": 3}\n")));
    }

    [Fact]
    public async Task A_file_that_is_not_utf8_text_fails_naming_it()
    {
        var file = Path.Combine(_warehouse.Folder, "latin1.csv");
        File.WriteAllBytes(file, [.. "user,item,ts\nu1,caf"u8, 0xE9, .. ",1\n"u8]);

        var message = await FailureOf(file);

        Assert.StartsWith("latin1.csv: cannot read as csv: ", message);
        Assert.Contains("Line: 2", message);
    }

    [Fact]
    public async Task A_failing_file_keeps_what_earlier_files_stored()
    {
        var good = _warehouse.Write("good.csv", "user,item,ts\nu1,i1,1\n");
        var empty = _warehouse.Write("empty.csv", "");

        await FailureOf(good, empty);

        Assert.Equal(1, _warehouse.Count("events"));
    }

    [Theory]
    [InlineData("Format", "xml", "Ingest:Format 'xml' is not csv, tsv, jsonl or parquet")]
    [InlineData("TimeUnit", "us", "Ingest:TimeUnit 'us' is not s, ms or auto")]
    [InlineData("Columns", "user,thing,timestamp", "Ingest:Columns 'user,thing,timestamp': unknown column 'thing' (use user, item, timestamp, session, type, value)")]
    [InlineData("Columns", "user,timestamp", "Ingest:Columns 'user,timestamp': no item column")]
    public async Task Bad_options_fail_naming_the_option(string option, string value, string message)
    {
        var options = new IngestOptions { Input = [_warehouse.Write("a.csv", "user,item,ts\nu,i,1\n")] };
        typeof(IngestOptions).GetProperty(option)!.SetValue(options, value);

        Assert.Equal(message, await FailureOf(options));
    }
}
