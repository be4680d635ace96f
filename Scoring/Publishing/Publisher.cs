using System.Diagnostics;
using System.Text.Json;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HrnnPipeline.Scoring.Publishing;

public sealed record PublishOptions
{
    /// <summary>How long to wait for shards still being scored (e.g. on other machines); zero checks once.</summary>
    public TimeSpan ShardWaitTimeout { get; init; } = TimeSpan.Zero;
    /// <summary>Versions whose rows are kept (the active one included), so rollback has somewhere to go.</summary>
    public int KeepVersions { get; init; } = 3;
    public bool ExportParquet { get; init; } = true;
    /// <summary>Root of the Parquet exports; by default <c>exports</c> beside the <c>scores</c> folder (<c>&lt;work&gt;/exports</c>).</summary>
    public string? ExportsDirectory { get; init; }
}

public sealed record PublishResult(string Version, long Rows, long Users, int ListLength, TimeSpan Duration, string? ExportDirectory)
{
    /// <summary>How the published lists were scored (<see cref="ScoreShardReader.ScoringMode"/>), also kept in the
    /// version's <c>model_versions</c> row.</summary>
    public string ScoringMode { get; init; } = "exact";

    public double UsersPerSecond => Users / Math.Max(Duration.TotalSeconds, 1e-9);
}

/// <summary>
/// Publishes a scored version: waits for all its shards, loads it into the store and switches readers to it
/// atomically, keeps the last few versions, and exports it to Parquet. Publishing the same version again is safe.
/// </summary>
public sealed class Publisher(PublishOptions? options = null, ILogger<Publisher>? logger = null)
{
    readonly PublishOptions _options = options ?? new PublishOptions();
    readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;

    public async Task<PublishResult> PublishAsync(string versionDir, string version, int shardCount, IdMap items,
        string trainingSummaryJson, string? evaluationSummaryJson, IRecommendationStore store, CancellationToken ct)
    {
        ScoreShardFiles.ValidateVersion(version);
        RequireJson(trainingSummaryJson, "training summary", version);
        if (evaluationSummaryJson is not null) RequireJson(evaluationSummaryJson, "evaluation summary", version);
        var clock = Stopwatch.StartNew();

        var shards = await ScoreShardReader.WaitAsync(versionDir, shardCount, _options.ShardWaitTimeout, ct);
        await store.EnsureSchemaAsync(ct);
        PublishLog.Loading(_logger, store.Kind, version, shards.ShardCount);

        // The export reads the same shards on another core while the store loads; it only goes into place once
        // the store has the version.
        var exportsRoot = _options.ExportsDirectory
            ?? Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(versionDir).TrimEnd(Path.DirectorySeparatorChar)))!, "exports");
        Task<ParquetExport?> exportTask = _options.ExportParquet
            ? Task.Run<ParquetExport?>(async () => await ParquetExport.WriteAsync(exportsRoot, version, shards, items, ct), ct)
            : Task.FromResult<ParquetExport?>(null);

        LoadCounts counts;
        try
        {
            counts = await store.PublishVersionAsync(
                new VersionToPublish(version, shards, items, trainingSummaryJson, evaluationSummaryJson, _options.KeepVersions), ct);
        }
        catch
        {
            try
            {
                (await exportTask)?.Discard();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The store's error is the one that matters; the export's side folder is cleared next time.
            }
            throw;
        }

        ParquetExport? export;
        try
        {
            export = await exportTask;
        }
        catch (Exception e) when (e is not OperationCanceledException and not PipelineException)
        {
            throw new PipelineException($"version {version} is published, but its Parquet export to {exportsRoot} failed: {e.Message}", isPermanent: false, e);
        }
        if (export is not null)
        {
            export.Commit();
            ExportPointer.Write(exportsRoot, version, counts.ListLength);
            PublishLog.Exported(_logger, version, export.Directory, clock.Elapsed.TotalSeconds);
        }
        var result = new PublishResult(version, counts.Rows, counts.Users, counts.ListLength, clock.Elapsed, export?.Directory)
        {
            ScoringMode = shards.ScoringMode,
        };
        PublishLog.Activated(_logger, store.Kind, version, result.Users, result.Rows, result.Duration.TotalSeconds, result.UsersPerSecond);
        return result;
    }

    /// <summary>Points readers back to the previous ready version, in the store and the exports' pointer; returns it.</summary>
    public async Task<string> RollbackAsync(IRecommendationStore store, CancellationToken ct)
    {
        var version = await store.RollbackAsync(ct);
        if (_options.ExportsDirectory is { } exports && Directory.Exists(Path.Combine(exports, version)))
        {
            var record = (await store.ListVersionsAsync(ct)).FirstOrDefault(v => v.Version == version);
            ExportPointer.Write(exports, version, record?.ListLength ?? 0);
        }
        return version;
    }

    static void RequireJson(string json, string what, string version)
    {
        try
        {
            using var _ = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new PipelineException($"version {version}: the {what} is not valid JSON ({e.Message})");
        }
    }
}
