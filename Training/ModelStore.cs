using System.Text.Json.Nodes;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using TorchSharp;
using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>
/// Trained models on disk: <c>models/&lt;version&gt;/model.hrnn</c> (settings and weights), <c>items.arrow</c> (the
/// item map the weights are indexed by), <c>train-summary.json</c> and, once `evaluate --version` has evaluated it,
/// <c>evaluation.json</c>; <c>models/latest</c> names the newest version.
/// Scoring and the read API load from here, so a model always travels with its item map.
/// </summary>
public static class ModelStore
{
    public const string ModelFile = "model.hrnn";
    public const string ItemsFile = "items.arrow";
    public const string SummaryFile = "train-summary.json";
    /// <summary>Written by `evaluate --version`: the evaluation of this very version, which publishing attaches to it.</summary>
    public const string EvaluationFile = "evaluation.json";
    const string LatestFile = "latest";

    public static string NewVersion(HrnnSettings settings) =>
        $"{DateTime.UtcNow:yyyyMMdd'T'HHmmss'Z'}-{HrnnSettings.ModelName(settings.Model)}-s{settings.Seed}";

    public static string Save(string modelsDir, string version, HrnnModel model, IdMap items, object summary)
    {
        var dir = Path.Combine(modelsDir, version);
        Directory.CreateDirectory(dir);
        var metadata = new JsonObject
        {
            ["version"] = version,
            ["settings"] = TensorArchive.ToJson(model.Settings),
            ["item_table_size"] = model.ItemTableSize,
            ["reminders"] = TensorArchive.ToJson(model.Reminders),
        };
        TensorArchive.Save(Path.Combine(dir, ModelFile), metadata, model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)));
        items.Write(Path.Combine(dir, ItemsFile));
        Json.Write(Path.Combine(dir, SummaryFile), summary);
        // The pointer moves last: a reader never finds a version whose files are incomplete.
        var tmp = Path.Combine(modelsDir, LatestFile + ".tmp");
        File.WriteAllText(tmp, version);
        File.Move(tmp, Path.Combine(modelsDir, LatestFile), overwrite: true);
        return dir;
    }

    public static string LatestVersion(string modelsDir)
    {
        var path = Path.Combine(modelsDir, LatestFile);
        if (!File.Exists(path)) throw new PipelineException($"{modelsDir}: no trained model; run `train` first");
        return File.ReadAllText(path).Trim();
    }

    public sealed record LoadedModel(string Version, HrnnModel Model, IdMap Items, Device Device) : IDisposable
    {
        public void Dispose() => Model.Dispose();
    }

    public static LoadedModel Load(string modelsDir, string? version, string device)
    {
        version ??= LatestVersion(modelsDir);
        var dir = Path.Combine(modelsDir, version);
        var dev = TorchRuntime.Resolve(device);
        using var archive = TensorArchive.Load(Path.Combine(dir, ModelFile));
        var settings = TensorArchive.FromJson<HrnnSettings>(archive.Metadata["settings"]!);
        var model = new HrnnModel(settings, archive.Metadata["item_table_size"]!.GetValue<int>())
        {
            // Models saved before the mix existed rank by the model alone.
            Reminders = archive.Metadata["reminders"] is { } mix ? TensorArchive.FromJson<ReminderMix>(mix) : ReminderMix.None,
        };
        HrnnTrainer.LoadParameters(model, archive.Tensors);
        model.to(dev);
        model.eval();
        return new LoadedModel(version, model, IdMap.Read(Path.Combine(dir, ItemsFile)), dev);
    }
}
