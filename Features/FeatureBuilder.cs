using System.Diagnostics;
using DuckDB.NET.Data;
using HrnnPipeline.Features.Prepare;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Features;

/// <summary>
/// The Features stage: turns the warehouse table <c>events</c> into cleaned sessions, the paper's splits
/// (train = fit + valid, test) and dense id maps, all in DuckDB SQL. Results land in the warehouse (<c>item_map</c>,
/// <c>complete_item_map</c>, <c>user_map</c>, <c>sessions</c>, <c>session_events</c>) and as Arrow files in the
/// prepared folder (<see cref="PreparedFiles"/>). Running it again replaces both.
/// </summary>
/// <remarks>
/// The work is five stages in <c>Prepare/</c>, run in this order on one connection: <see cref="SessionizeStage"/>,
/// <see cref="FilterStage"/>, <see cref="SplitStage"/> (dense ids and held-out cleaning), <see cref="PersistStage"/>
/// (warehouse tables) and <see cref="ExportStage"/> (Arrow files). Event-level work is a handful of passes: one
/// sort, one streaming pass that cuts sessions, a few hash aggregations, and one sort into the final table; the
/// filters and the split themselves run on per-session and per-item tables.
/// </remarks>
public sealed class FeatureBuilder
{
    public async Task<PrepareSummary> BuildAsync(
        string warehousePath, string preparedDir, FeatureOptions o, CancellationToken ct)
    {
        o.Validate();
        if (!File.Exists(warehousePath))
            throw new PipelineException($"{warehousePath}: warehouse not found; run `ingest` first");

        var clock = Stopwatch.StartNew();
        var sessionize = new SessionizeStage(o);
        var filter = new FilterStage(o);
        var persist = new PersistStage(sessionize);
        IPrepareStage[] stages = [sessionize, filter, new SplitStage(), persist, new ExportStage(preparedDir, sessionize)];

        var progress = new ProgressReporter("prepare", stages.Length, "stages");
        using var connection = Open(warehousePath);
        var run = new PrepareRun(connection, warehousePath, progress, ct);
        await run.ConfigureAsync(o.MemoryLimit);
        foreach (var stage in stages)
            await run.RunStageAsync(stage);
        var summary = persist.Summary;
        progress.Done($"{summary.Users:N0} users, {summary.Items:N0} items");

        return summary with
        {
            InputEvents = sessionize.InputEvents,
            Steps = filter.Steps,
            ElapsedSeconds = clock.Elapsed.TotalSeconds,
            EventsPerSecond = sessionize.InputEvents / Math.Max(clock.Elapsed.TotalSeconds, 1e-9),
            Timings = run.Timings.Steps,
        };
    }

    static DuckDBConnection Open(string warehousePath)
    {
        var connection = new DuckDBConnection($"Data Source={warehousePath}");
        try
        {
            connection.Open();
            return connection;
        }
        catch (DuckDBException e)
        {
            connection.Dispose();
            throw new PipelineException($"{warehousePath}: cannot open the warehouse: {PrepareRun.FirstLine(e.Message)}", isPermanent: false, e);
        }
    }
}
