using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Evaluation.Tuning;

/// <summary>One finished trial: what it ran (model, search seed, data fingerprint, full settings) and what it scored
/// on the validation split.</summary>
public sealed record TrialRecord(
    int Trial, string Model, int Seed, string Data, JsonObject Settings, IReadOnlyDictionary<string, double> Validation,
    double Seconds)
{
    /// <summary>The figure trials are ranked by: next-item MRR@20 on the validation split.</summary>
    public static readonly string ScoreKey = Metrics.Mrr(20);

    /// <summary>The figures every trial reports, in the order the progress lines show them.</summary>
    public static readonly string[] FigureKeys = [Metrics.Mrr(20), Metrics.Recall(5), Metrics.Mrr(5), Metrics.Recall(20)];

    public double Score => Validation[ScoreKey];

    public JsonObject ToJson()
    {
        var validation = new JsonObject();
        foreach (var (key, value) in Validation) validation[key] = value;
        return new JsonObject
        {
            ["trial"] = Trial,
            ["model"] = Model,
            ["seed"] = Seed,
            ["data"] = Data,
            ["settings"] = Settings.DeepClone(),
            ["validation"] = validation,
            ["seconds"] = Math.Round(Seconds, 2),
        };
    }

    public static TrialRecord FromJson(JsonObject json, string where)
    {
        try
        {
            var validation = json["validation"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<double>());
            foreach (var key in FigureKeys)
                if (!validation.ContainsKey(key)) throw new PipelineException($"{where}: validation lacks {key}");
            return new TrialRecord(json["trial"]!.GetValue<int>(), json["model"]!.GetValue<string>(), json["seed"]!.GetValue<int>(),
                json["data"]!.GetValue<string>(), json["settings"]!.AsObject(), validation, json["seconds"]!.GetValue<double>());
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException)
        {
            throw new PipelineException($"{where}: not a trial record (expected trial, model, seed, data, settings, validation, seconds)");
        }
    }

    /// <summary>"MRR@20 0.1234, R@5 0.2000, MRR@5 0.1100, R@20 0.3000".</summary>
    public string Figures() => string.Join(", ", FigureKeys.Select(k =>
        $"{k.Replace("recall@", "R@").Replace("mrr@", "MRR@")} {Validation[k].ToString("F4", CultureInfo.InvariantCulture)}"));
}

/// <summary>
/// The trials of one search, one JSON line per finished trial, next to the preset file (<c>best.json</c> ->
/// <c>best.trials.jsonl</c>). A line is appended and flushed when its trial finishes, so a killed search loses at
/// most the trial it was running; an unfinished last line (no newline) is dropped on reading.
/// </summary>
public sealed class TrialsFile(string path)
{
    public string Path { get; } = System.IO.Path.GetFullPath(path);

    /// <summary>The trials file of preset file <paramref name="presetPath"/>.</summary>
    public static TrialsFile For(string presetPath) => new(System.IO.Path.ChangeExtension(System.IO.Path.GetFullPath(presetPath), ".trials.jsonl"));

    public IReadOnlyList<TrialRecord> Read()
    {
        if (!File.Exists(Path)) return [];
        var text = File.ReadAllText(Path);
        int complete = text.LastIndexOf('\n') + 1;
        if (complete < text.Length)
        {
            // Killed while writing: the unfinished line is no trial; keep the file to the finished ones.
            text = text[..complete];
            File.WriteAllText(Path, text);
        }
        var records = new List<TrialRecord>();
        int line = 0;
        foreach (var raw in text.Split('\n'))
        {
            line++;
            if (raw.Trim().Length == 0) continue;
            JsonNode? node;
            try
            {
                node = JsonNode.Parse(raw);
            }
            catch (JsonException e)
            {
                throw new PipelineException($"{Path}:{line}: not a JSON line ({SettingsJson.Reason(e)})");
            }
            records.Add(TrialRecord.FromJson(node as JsonObject ?? throw new PipelineException($"{Path}:{line}: not a trial record"),
                $"{Path}:{line}"));
        }
        return records;
    }

    public void Append(TrialRecord record)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        using var stream = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read);
        using var writer = new StreamWriter(stream);
        writer.Write(SettingsJson.Canonical(record.ToJson()) + "\n");
        writer.Flush();
        stream.Flush(flushToDisk: true);
    }
}
