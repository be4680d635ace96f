using System.Text.Json;
using System.Text.Json.Nodes;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;

namespace HrnnPipeline.Evaluation.Tuning;

/// <summary>
/// A preset file as `tune` writes it and `--preset FILE` reads it:
/// <code>
/// { "model": "sr-br", "settings": { "Steps": 8, "Weighting": "div", ... }, "tuned": { how the search went } }
/// </code>
/// <c>model</c> is the model the settings were tuned for and apply to; <c>settings</c> are that model's settings by
/// their option names (Training keys for the HRNN models); <c>tuned</c> records the search (seed, trials, the best
/// trial's validation figures) and is not read back. Every problem is one <see cref="PipelineException"/> line
/// naming the file and the key.
/// </summary>
public sealed record TunedPreset(string Path, string Model, JsonObject Settings)
{
    public const string ModelKey = "model";
    public const string SettingsKey = "settings";
    public const string TunedKey = "tuned";

    static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public bool IsRnn => TunableModels.IsRnn(Model);

    /// <summary>The Training settings of an HRNN preset (device: the default, for the configuration to set).</summary>
    public HrnnSettings Training => IsRnn
        ? RnnTunable.ToSettings(Settings)
        : throw new PipelineException($"{Path}: holds {Model}'s settings, a baseline's; train and run take HRNN presets " +
            $"(evaluate --models {Model} --preset {Path} applies it)");

    /// <summary>The baseline this preset configures, with its tuned settings.</summary>
    public IRanker Baseline() => IsRnn
        ? throw new InvalidOperationException($"{Path}: {Model} is not a baseline")
        : TunableModels.Baseline(Model, $"{Path}: model").CreateRanker(Settings);

    /// <summary>How a report names these settings: "tuned: FILE", then (for a baseline's few) the settings themselves.</summary>
    public string Describe() => IsRnn
        ? $"tuned: {Path}"
        : $"tuned: {Path} ({string.Join(", ", Flatten(Settings).Select(kv => $"{kv.Key}={SettingsJson.Show(kv.Value)}"))})";

    static IEnumerable<KeyValuePair<string, JsonNode?>> Flatten(JsonObject settings, string prefix = "") =>
        settings.SelectMany(kv => kv.Value is JsonObject nested
            ? Flatten(nested, $"{prefix}{kv.Key}:")
            : [new KeyValuePair<string, JsonNode?>(prefix + kv.Key, kv.Value)]);

    /// <summary>Whether a --preset value means a file rather than a named preset: it names an existing file, or ends
    /// in .json (then a missing file is an error, not an unknown preset name).</summary>
    public static bool IsFile(string preset) =>
        preset.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || File.Exists(preset);

    public static TunedPreset Read(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full)) throw new PipelineException($"--preset {path}: no such preset file");
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(full), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new PipelineException($"{path}: not a JSON preset file (line {e.LineNumber + 1}: {SettingsJson.Reason(e)})");
        }
        if (root is not JsonObject document)
            throw new PipelineException($"{path}: not a preset file (expected an object with \"{ModelKey}\" and \"{SettingsKey}\")");
        foreach (var (key, _) in document)
            if (key is not (ModelKey or SettingsKey or TunedKey))
                throw new PipelineException($"{path}: unknown key '{key}' (a preset file holds {ModelKey}, {SettingsKey} and {TunedKey})");
        var model = document[ModelKey] is JsonValue m && m.GetValueKind() == JsonValueKind.String ? m.GetValue<string>()
            : throw new PipelineException($"{path}: {ModelKey}: missing or not a model name");
        if (document[SettingsKey] is not JsonObject settings)
            throw new PipelineException($"{path}: {SettingsKey}: missing or not an object of the model's settings");
        var tunable = TunableModels.ByName(model, $"{path}: {ModelKey}");
        return new TunedPreset(full, model, tunable.Check(settings, $"{path}: {SettingsKey}"));
    }

    /// <summary>Writes the preset (atomically: a reader never sees half a file).</summary>
    public static void Write(string path, string model, JsonObject settings, JsonObject tuned)
    {
        var document = new JsonObject
        {
            [ModelKey] = model,
            [SettingsKey] = settings.DeepClone(),
            [TunedKey] = tuned.DeepClone(),
        };
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, document.ToJsonString(Indented) + Environment.NewLine);
        File.Move(tmp, path, overwrite: true);
    }
}
