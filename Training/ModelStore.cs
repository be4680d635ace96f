using System.Text.Json.Nodes;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using TorchSharp;
using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>
/// Trained models on disk: <c>models/&lt;version&gt;/model.hrnn</c> (settings and weights), <c>items.arrow</c> (the
/// item map the weights are indexed by), <c>train-summary.json</c> and, once `evaluate --version` has evaluated it,
/// <c>evaluation.json</c>; <c>models/latest</c> names the newest version. A version refit on every session (
/// <see cref="HrnnSettings.Refit"/>) also keeps <c>held-out.hrnn</c> and <c>held-out-items.arrow</c>: the model early
/// stopping chose, trained without the held-out sessions, which is what `evaluate --version` evaluates.
/// Scoring and the read API load from here, so a model always travels with its item map.
/// </summary>
public static class ModelStore
{
    public const string ModelFile = "model.hrnn";
    public const string ItemsFile = "items.arrow";
    public const string SummaryFile = "train-summary.json";
    /// <summary>Written by `evaluate --version`: the evaluation of this very version, which publishing attaches to it.</summary>
    public const string EvaluationFile = "evaluation.json";
    public const string HeldOutFile = "held-out.hrnn";
    public const string HeldOutItemsFile = "held-out-items.arrow";
    const string LatestFile = "latest";

    public static string NewVersion(HrnnSettings settings) =>
        $"{DateTime.UtcNow:yyyyMMdd'T'HHmmss'Z'}-{HrnnSettings.ModelName(settings.Model)}-s{settings.Seed}";

    public static string Save(string modelsDir, string version, HrnnModel model, IdMap items, object summary,
        HrnnModel? heldOut = null, IdMap? heldOutItems = null)
    {
        var dir = Path.Combine(modelsDir, version);
        Directory.CreateDirectory(dir);
        Write(Path.Combine(dir, ModelFile), version, model);
        items.Write(Path.Combine(dir, ItemsFile));
        if (heldOut is not null)
        {
            Write(Path.Combine(dir, HeldOutFile), version, heldOut);
            (heldOutItems ?? items).Write(Path.Combine(dir, HeldOutItemsFile));
        }
        Json.Write(Path.Combine(dir, SummaryFile), summary);
        // The pointer moves last: a reader never finds a version whose files are incomplete.
        var tmp = Path.Combine(modelsDir, LatestFile + ".tmp");
        File.WriteAllText(tmp, version);
        File.Move(tmp, Path.Combine(modelsDir, LatestFile), overwrite: true);
        return dir;
    }

    static void Write(string path, string version, HrnnModel model)
    {
        var metadata = new JsonObject
        {
            ["version"] = version,
            ["settings"] = TensorArchive.ToJson(model.Settings),
            ["item_table_size"] = model.ItemTableSize,
            ["reminders"] = TensorArchive.ToJson(model.Reminders),
        };
        TensorArchive.Save(path, metadata, model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(model.MetadataFeatures()));
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

    /// <param name="heldOut">The version's held-out model where it was refit (evaluation); the published one otherwise.</param>
    public static LoadedModel Load(string modelsDir, string? version, string device, bool heldOut = false)
    {
        version ??= LatestVersion(modelsDir);
        var dir = Path.Combine(modelsDir, version);
        var dev = TorchRuntime.Resolve(device);
        heldOut = heldOut && File.Exists(Path.Combine(dir, HeldOutFile));
        using var archive = TensorArchive.Load(Path.Combine(dir, heldOut ? HeldOutFile : ModelFile));
        var settings = TensorArchive.FromJson<HrnnSettings>(archive.Metadata["settings"]!);
        var model = new HrnnModel(settings, archive.Metadata["item_table_size"]!.GetValue<int>(), ModelMetadata.Load(archive.Tensors))
        {
            // Models saved before the mix existed rank by the model alone.
            Reminders = archive.Metadata["reminders"] is { } mix ? TensorArchive.FromJson<ReminderMix>(mix) : ReminderMix.None,
        };
        HrnnTrainer.LoadParameters(model, archive.Tensors);
        model.to(dev);
        model.eval();
        return new LoadedModel(version, model, IdMap.Read(Path.Combine(dir, heldOut ? HeldOutItemsFile : ItemsFile)), dev);
    }
}
