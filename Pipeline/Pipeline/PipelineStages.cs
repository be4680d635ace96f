using HrnnPipeline.Features;
using HrnnPipeline.Ingest;
using HrnnPipeline.Scoring;
using HrnnPipeline.Scoring.Publishing;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;

namespace HrnnPipeline.AppHost.Pipeline;

/// <summary>The summary `train` writes: the settings used, per-epoch losses and validation, speed.</summary>
public sealed record TrainSummary(string ModelVersion, HrnnSettings Settings, IReadOnlyList<EpochResult> Epochs, int BestEpoch,
    bool StoppedEarly, int ResumedFromEpoch, double TrainSeconds, double EventsPerSecond, long TrainEvents, string Device,
    ReminderMix Reminders, OutcomeSummary? Outcome = null, RefitSummary? Refit = null);

/// <summary>The refit on every session (<see cref="HrnnSettings.Refit"/>): its epochs, time, speed and data.</summary>
public sealed record RefitSummary(int Epochs, double Seconds, double EventsPerSecond, long Events, int Items);

/// <summary>
/// The stages of one batch, each a step the CLI and the scheduled jobs both call: Ingest → Features → Training →
/// Scoring → Publish. Each reads what the previous one left in the work folder and writes its own summary there.
/// </summary>
public sealed class PipelineStages(PipelineConfiguration config)
{
    readonly WorkDirectory _work = config.Work;

    public async Task<IngestReport> IngestAsync(CancellationToken ct)
    {
        if (config.Ingest.Input.Length == 0) throw new PipelineException("no input: pass --input FILE|FOLDER|GLOB");
        var report = await new EventIngestor().IngestAsync(_work.Warehouse, config.Ingest, ct);
        Json.Write(_work.SummaryFile("ingest"), new
        {
            accepted = report.Accepted,
            rejected = report.Rejected,
            skipped_files = report.SkippedFiles,
            files = report.Files,
            timings = report.Timings,
        });
        return report;
    }

    public async Task<PrepareSummary> PrepareAsync(CancellationToken ct)
    {
        var summary = await new FeatureBuilder().BuildAsync(_work.Warehouse, _work.Prepared, config.Features, ct);
        Ingest.Metadata.MetadataTables.Export(_work.Warehouse, _work.Prepared);
        summary.Rejected = await WarehouseCounts.RejectedAsync(_work.Warehouse, ct);
        Json.Write(_work.SummaryFile("prepare"), summary);
        return summary;
    }

    public TrainSummary Train(bool resume, CancellationToken ct)
    {
        var settings = config.Training;
        var device = TorchRuntime.Resolve(settings.Device);
        var items = IdMap.Read(_work.PreparedFile(PreparedFiles.Items));
        var fit = ArrowSessions.Read(_work.PreparedFile(PreparedFiles.Fit));
        var valid = ArrowSessions.Read(_work.PreparedFile(PreparedFiles.Valid));
        if (fit.EventCount == 0) throw new PipelineException($"{_work.PreparedFile(PreparedFiles.Fit)}: no training sessions left after the filters");
        // The refit learns from every session, the latest included (the split is for model selection only).
        var (allItems, all) = UserHistories.Complete(_work.Prepared);
        using var trained = HrnnTrainer.TrainAndRefit(settings, items, fit, valid, allItems, all, device, _work.Checkpoints, resume, ct,
            MetadataSource.Read(_work.Prepared));
        var result = trained.Result;
        var version = ModelStore.NewVersion(settings);
        var summary = new TrainSummary(version, settings, result.Epochs, result.BestEpoch, result.StoppedEarly,
            result.ResumedFromEpoch, result.TrainSeconds, result.EventsPerSecond, fit.EventCount, settings.Device, result.Reminders,
            result.Outcome, result.Refit is { } r ? new RefitSummary(r.Epochs.Count, r.TrainSeconds, r.EventsPerSecond, all.EventCount, trained.Model.ItemTableSize - 1) : null);
        ModelStore.Save(_work.Models, version, trained.Model, trained.Trainer.Items, summary, trained.HeldOut?.Model, trained.HeldOutItems);
        Json.Write(_work.SummaryFile("train"), summary);
        LossCurve.Write(_work.Root, result.Epochs);
        return summary;
    }

    public ScoreResult Score(string? version, int shard, int shardCount, CancellationToken ct)
    {
        var result = Scorer.Score(_work, version, shard, shardCount, config.Scoring, ct);
        Json.Write(_work.SummaryFile(shardCount == 1 ? "score" : $"score-{shard}-of-{shardCount}"), result);
        return result;
    }

    public async Task<PublishResult> PublishAsync(string? version, int shardCount, CancellationToken ct)
    {
        version ??= ModelStore.LatestVersion(_work.Models);
        var modelDir = Path.Combine(_work.Models, version);
        var items = IdMap.Read(Path.Combine(modelDir, ModelStore.ItemsFile));
        var trainingSummary = File.ReadAllText(Path.Combine(modelDir, ModelStore.SummaryFile));
        // Only an evaluation of this very version (`evaluate --version`, kept in the version's folder) is attached;
        // what `evaluate` last wrote in the work folder may be of other models trained on other data.
        var evaluation = Path.Combine(modelDir, ModelStore.EvaluationFile);
        await using var store = await OpenStoreAsync(ct);
        var result = await new Publisher(new PublishOptions { ExportsDirectory = _work.Exports })
            .PublishAsync(Path.Combine(_work.Scores, version), version, shardCount, items, trainingSummary,
                File.Exists(evaluation) ? File.ReadAllText(evaluation) : null, store, ct);
        Json.Write(_work.SummaryFile("publish"), result);
        return result;
    }

    public async Task<string> RollbackAsync(CancellationToken ct)
    {
        await using var store = await OpenStoreAsync(ct);
        return await new Publisher(new PublishOptions { ExportsDirectory = _work.Exports }).RollbackAsync(store, ct);
    }

    /// <summary>PostgreSQL when ConnectionStrings:postgres is set; otherwise the warehouse (the embedded default).</summary>
    public async Task<IRecommendationStore> OpenStoreAsync(CancellationToken ct) =>
        config.PostgresConnectionString is { Length: > 0 } cs
            ? new PostgresRecommendationStore(cs)
            : await DuckDbRecommendationStore.OpenAsync(_work.Warehouse, ct: ct);
}
