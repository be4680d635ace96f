using HrnnPipeline.Ingest;
using HrnnPipeline.Ingest.Metadata;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Tests.Ingest;

public sealed class MetadataTests : IDisposable
{
    readonly Warehouse _warehouse = new();

    public void Dispose() => _warehouse.Dispose();

    string Events() => _warehouse.Write("events.csv", "user_id,item_id,timestamp\nu1,i1,100\nu1,i2,101\n");

    List<string> Values(string table = "item_metadata") =>
        _warehouse.Query($"SELECT * FROM {table} ORDER BY ALL").Select(r => string.Join(" ", r.Select(v => v?.ToString() ?? "null"))).ToList();

    [Fact]
    public async Task Item_metadata_types_are_inferred_multi_values_split_and_cold_items_kept()
    {
        var items = _warehouse.Write("items.csv", "item_id,genres,price,in_stock\ni1,drama|comedy,9.5,true\ni2,drama,12,false\ni9,horror,,true\n");

        var report = await _warehouse.Ingest(new IngestOptions { Input = [Events()], Items = items });

        var meta = Assert.Single(report.Metadata);
        Assert.Equal(["genres:cat", "price:num", "in_stock:cat"], meta.Fields.Select(f => $"{f.Name}:{f.TypeName}"));
        Assert.True(meta.Inferred);
        Assert.Equal((3L, 0L), (meta.Accepted, meta.Rejected));
        Assert.Equal([
            "i1 genres comedy null", "i1 genres drama null", "i1 in_stock true null", "i1 price 9.5 9.5",
            "i2 genres drama null", "i2 in_stock false null", "i2 price 12 12",
            "i9 genres horror null", "i9 in_stock true null",
        ], Values());
        Assert.Contains("price:num", report.ToString());
    }

    [Fact]
    public async Task Bad_rows_are_rejected_with_file_line_and_reason_and_the_threshold_applies()
    {
        var items = _warehouse.Write("items.tsv", "id\tcategory\tprice\ni1\tdrama\t1\ni2\tcomedy\tcheap\n\ti3\t3\ni1\tdrama\t4\ni5\tdrama\ni6\tkids\t6\n");
        var options = new IngestOptions { Input = [Events()], Items = items, ItemColumns = "id,category:cat,price:num", RejectThreshold = 0.9 };

        var report = await _warehouse.Ingest(options);

        Assert.Equal((2L, 4L), (report.Metadata[0].Accepted, report.Metadata[0].Rejected));
        Assert.Equal([
            $"{items} 3 bad number in price: 'cheap'",
            $"{items} 4 missing id (id)",
            $"{items} 5 duplicate id 'i1' (first on line 2)",
            $"{items} 6 expected 3 fields, found 2",
        ], _warehouse.Query("SELECT path, line_no, reason FROM rejected_metadata ORDER BY line_no").Select(r => string.Join(" ", r)));
        Assert.Equal(["i1", "i6"], _warehouse.Query("SELECT item_id FROM item_metadata_ids ORDER BY 1").Select(r => (string)r[0]!));

        // Over the threshold: refused, naming the file and the first bad lines; what was loaded stays.
        var worse = _warehouse.Write("worse.tsv", "id\tcategory\tprice\ni7\tdrama\tx\ni8\tdrama\t8\n");
        var error = await Assert.ThrowsAsync<PipelineException>(() => _warehouse.Ingest(
            new IngestOptions { Input = [Events()], Items = worse, ItemColumns = "id,category:cat,price:num", RejectThreshold = 0.1 }));
        Assert.Contains("worse.tsv: 1 of 2 rows rejected", error.Message);
        Assert.Contains("line 2: bad number in price: 'x'", error.Message);
        Assert.Equal(["i1", "i6"], _warehouse.Query("SELECT item_id FROM item_metadata_ids ORDER BY 1").Select(r => (string)r[0]!));
    }

    [Fact]
    public async Task Json_lines_and_parquet_metadata_load_like_csv()
    {
        var jsonl = _warehouse.Write("users.jsonl", """
            {"user_id": "u1", "country": "fr", "age": 31, "tags": ["a", "b"]}
            {"user_id": "u2", "country": "de", "age": 40}
            {"user_id": "u3", "nested": {"x": 1}}
            not json
            """);
        var report = await _warehouse.Ingest(new IngestOptions { Input = [Events()], Users = jsonl, RejectThreshold = 0.6 });
        Assert.Equal(["country:cat", "age:num", "tags:cat", "nested:cat"], report.Metadata[0].Fields.Select(f => $"{f.Name}:{f.TypeName}"));
        Assert.Equal(["3 unsupported value in nested: object", "4 invalid JSON"],
            _warehouse.Query("SELECT line_no, reason FROM rejected_metadata ORDER BY line_no").Select(r => $"{r[0]} {r[1]}"));
        Assert.Equal(["u1 age 31 31", "u1 country fr null", "u1 tags a null", "u1 tags b null", "u2 age 40 40", "u2 country de null"],
            Values("user_metadata"));

        var parquet = Path.Combine(_warehouse.Folder, "items.parquet");
        _warehouse.Query($"COPY (SELECT 'i1' AS item, ['x', 'y'] AS tags, 2.5 AS price UNION ALL SELECT 'i2', ['z'], NULL) TO '{parquet}' (FORMAT parquet)", scratch: true);
        var fromParquet = await _warehouse.Ingest(new IngestOptions { Input = [Events()], Items = parquet });
        Assert.Equal(["tags:cat", "price:num"], fromParquet.Metadata[0].Fields.Select(f => $"{f.Name}:{f.TypeName}"));
        Assert.Equal(["i1 price 2.5 2.5", "i1 tags x null", "i1 tags y null", "i2 tags z null"], Values());
    }

    [Fact]
    public async Task Metadata_is_exported_beside_the_splits_and_a_new_file_replaces_the_catalogue()
    {
        var first = _warehouse.Write("a.csv", "item_id,category\ni1,drama\ni2,kids\n");
        await _warehouse.Ingest(new IngestOptions { Input = [Events()], Items = first });
        var again = await _warehouse.Ingest(new IngestOptions { Input = [Events()], Items = first });
        Assert.True(again.Metadata[0].Skipped);
        var second = _warehouse.Write("b.csv", "item_id,category\ni2,drama\ni3,new\n");
        await _warehouse.Ingest(new IngestOptions { Input = [Events()], Items = second });

        var prepared = Directory.CreateDirectory(Path.Combine(_warehouse.Folder, "prepared")).FullName;
        MetadataTables.Export(_warehouse.Path, prepared);
        var exported = _warehouse.Query($"SELECT id, field, value FROM '{Path.Combine(prepared, MetadataTables.FileName(MetadataKind.Items))}' ORDER BY ALL", scratch: true);
        Assert.Equal(["i2 category drama", "i3 category new"], exported.Select(r => string.Join(" ", r)));
        Assert.False(File.Exists(Path.Combine(prepared, MetadataTables.FileName(MetadataKind.Users))));
    }

    [Theory]
    [InlineData("id,price:money", "column 'price' has unknown type 'money'")]
    [InlineData("id,price", "column 'price' needs a type")]
    [InlineData("id:cat,price:num", "the first column is the id")]
    public void Bad_column_lists_are_refused_before_anything_is_read(string columns, string message)
    {
        var error = Assert.Throws<PipelineException>(() => new IngestOptions { Input = ["x"], ItemColumns = columns }.Validate());
        Assert.Contains("Ingest:ItemColumns", error.Message);
        Assert.Contains(message, error.Message);
    }
}
