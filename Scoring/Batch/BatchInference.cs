using System.Text.Json;
using System.Text.Json.Nodes;
using HrnnPipeline.Features;
using HrnnPipeline.Scoring.Filters;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;

namespace HrnnPipeline.Scoring.Batch;

/// <summary>What a batch inference job did: lines read, answered, and answered with an error.</summary>
public sealed record BatchInferenceResult(string Input, string Output, string Version, long Lines, long Answered, long Errors, double Seconds);

/// <summary>
/// Batch inference for systems that take files rather than a database: <c>score --users FILE.jsonl --out DIR</c>
/// reads JSON lines <c>{"userId": "...", "filterValues": {...}}</c> and writes <c>DIR/FILE.jsonl.out</c>, one line per
/// input line in the same order: <c>{"input": {...}, "output": {"recommendedItems": [...], "scores": [...]}, "error":
/// null}</c>, or <c>"output": null</c> and the line's error (invalid JSON, no userId, an unknown user, a missing or bad
/// filter value) instead of a failed job. Users are run through the model as scoring does (their whole prepared
/// history); <c>--filter NAME</c> applies that configured filter with each line's values, ranking deep enough that
/// every list is k long whenever the catalogue has k items passing the filter.
/// </summary>
public static class BatchInference
{
    public static BatchInferenceResult Run(WorkDirectory work, string? version, string input, string outDir, string? filterName,
        ScoringOptions options, CancellationToken ct = default)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (!File.Exists(input)) throw new PipelineException($"{input}: no such file");
        var filters = FilterSet.From(options.Filters);
        FilterExpression? filter;
        try
        {
            filter = filterName is null ? null : filters.Get(filterName);
        }
        catch (FilterRequestException e)
        {
            throw new PipelineException($"--filter: {e.Message}");
        }

        using var loaded = ModelStore.Load(work.Models, version, options.Device);
        using var threads = TorchRuntime.AllCores();
        var users = IdMap.Read(work.PreparedFile(PreparedFiles.Users));
        var history = UserHistories.ScoredBy(work.Prepared, loaded.Items);
        var blockOf = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int b = 0; b < history.UserCount; b++) blockOf[users.Ids[history.Users[b]]] = b;
        var fields = ItemFields.Read(work.Prepared);
        var selected = filter is null ? FilterSet.From(null) : FilterSet.From(new Dictionary<string, string> { [filter.Name] = filter.Text });
        var lists = new FilteredLists(selected, fields, loaded.Items, history, new ScoringOptions { K = options.K, FilterDepth = options.K });

        var lines = File.ReadLines(input).Select((text, i) => Parse(text, i + 1, filter, fields, blockOf)).ToList();
        var wanted = lines.Where(l => !l.Blank && l.Error is null).Select(l => l.Block).Distinct().ToArray();
        // A filter with parameters may keep only a few items of the catalogue: rank it all.
        int depth = filter is { Parameters.Count: > 0 } ? loaded.Items.Count : lists.Depth(options.K);
        var ranked = new Dictionary<int, (int[] Items, float[] Scores)>();
        if (wanted.Length > 0)
            new HrnnInference(loaded.Model, loaded.Device).Run(
                new HrnnInference.Request(history, options.BatchSize, depth) { CaptureFinal = true, ExcludeSeen = options.ExcludeSeen, UserOrder = wanted },
                null,
                rows =>
                {
                    for (int r = 0; r < rows.UserBlock.Length; r++)
                        ranked[rows.UserBlock[r]] = (rows.TopK.AsSpan(r * rows.K, rows.K).ToArray(), rows.TopScores.AsSpan(r * rows.K, rows.K).ToArray());
                }, ct);

        Directory.CreateDirectory(outDir);
        var output = Path.Combine(outDir, Path.GetFileName(input) + ".out");
        long errors = 0;
        using (var writer = new StreamWriter(output + ".tmp"))
            foreach (var line in lines)
            {
                if (line.Blank) continue;
                JsonNode? result = null;
                var error = line.Error;
                if (error is null)
                {
                    var (items, scores) = ranked[line.Block];
                    var recent = line.Filter?.HistoryDays is { } days
                        ? lists.Recent(line.Block, double.IsPositiveInfinity(days) ? long.MaxValue : (long)(days * 86_400_000)) : null;
                    var ids = new JsonArray();
                    var kept = new JsonArray();
                    for (int j = 0; j < items.Length && ids.Count < options.K; j++)
                    {
                        var id = loaded.Items.Ids[items[j]];
                        if (line.Filter is { } f && (!f.KeepItem(fields, id) || recent?.Contains(items[j]) == true)) continue;
                        ids.Add(id);
                        kept.Add(scores[j]);
                    }
                    result = new JsonObject { ["recommendedItems"] = ids, ["scores"] = kept };
                }
                else errors++;
                var answer = new JsonObject { ["input"] = line.Input, ["output"] = result, ["error"] = error };
                writer.WriteLine(answer.ToJsonString(Output));
            }
        File.Move(output + ".tmp", output, overwrite: true);
        long answered = lines.Count(l => !l.Blank);
        return new BatchInferenceResult(input, output, loaded.Version, answered, answered - errors, errors, clock.Elapsed.TotalSeconds);
    }

    // Ids and messages as written ('u1', not \u0027u1\u0027): the file is for other programs and for people.
    static readonly JsonSerializerOptions Output = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    sealed record Line(bool Blank, JsonNode? Input, int Block, BoundFilter? Filter, string? Error);

    static Line Parse(string text, int number, FilterExpression? filter, ItemFields fields, Dictionary<string, int> blockOf)
    {
        if (text.Trim().Length == 0) return new Line(true, null, -1, null, null);
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text);
        }
        catch (JsonException e)
        {
            return new Line(false, JsonValue.Create(text), -1, null, $"line {number}: invalid JSON ({e.Message.Split('.')[0]})");
        }
        if (node is not JsonObject obj) return new Line(false, node, -1, null, $"line {number}: not a JSON object");
        if (obj["userId"] is not JsonValue idValue || idValue.GetValueKind() != JsonValueKind.String)
            return new Line(false, node, -1, null, $"line {number}: no userId (a string)");
        var userId = idValue.GetValue<string>();
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (obj["filterValues"] is JsonObject given)
            foreach (var (key, value) in given)
                values[key] = value is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : value?.ToJsonString() ?? "";
        else if (obj["filterValues"] is not null)
            return new Line(false, node, -1, null, $"line {number}: filterValues must be an object");
        BoundFilter? bound = null;
        if (filter is null && values.Count > 0)
            return new Line(false, node, -1, null, $"line {number}: filterValues given but the job has no filter (--filter NAME)");
        if (filter is not null)
        {
            try
            {
                bound = BoundFilter.Bind(filter, values, fields);
            }
            catch (FilterRequestException e)
            {
                return new Line(false, node, -1, null, $"line {number}: {e.Message}");
            }
        }
        if (!blockOf.TryGetValue(userId, out var block))
            return new Line(false, node, -1, null, $"line {number}: unknown user '{userId}' (no history in the prepared data)");
        return new Line(false, node, block, bound, null);
    }
}
