namespace HrnnPipeline.Features;

/// <summary>
/// What <c>prepare</c> produced, written by the CLI to <c>prepare-summary.json</c> (snake_case via
/// <see cref="HrnnPipeline.ServiceDefaults.Json"/>). Train = fit + valid sessions; test never feeds fitting.
/// </summary>
public sealed record PrepareSummary
{
    /// <summary>Rows rejected by Ingest; Features does not know it, the CLI fills it in.</summary>
    public long? Rejected { get; set; }

    public long InputEvents { get; init; }
    public int Users { get; init; }
    /// <summary>Distinct items in the training split = the item map's size without padding.</summary>
    public int Items { get; init; }
    public long TrainSessions { get; init; }
    public long TrainEvents { get; init; }
    public long FitSessions { get; init; }
    public long FitEvents { get; init; }
    public long ValidSessions { get; init; }
    public long ValidEvents { get; init; }
    public long TestSessions { get; init; }
    public long TestEvents { get; init; }
    /// <summary>Every kept session, with all its events (no held-out cleaning): <see cref="PreparedFiles.Complete"/>.</summary>
    public long CompleteSessions { get; init; }
    public long CompleteEvents { get; init; }
    /// <summary>Distinct items of the complete dataset: <see cref="Items"/> plus the items only test has.</summary>
    public int CompleteItems { get; init; }

    /// <summary>Counts after sessionizing and after each filter, in the order they were applied.</summary>
    public IReadOnlyList<FilterStepCounts> Steps { get; init; } = [];

    public double ElapsedSeconds { get; init; }
    public double EventsPerSecond { get; init; }
    /// <summary>Wall seconds per step ("stage: step"), in the order they ran.</summary>
    public IReadOnlyList<HrnnPipeline.ServiceDefaults.StepTime> Timings { get; init; } = [];
}

/// <summary>Data left after one step of <c>prepare</c>.</summary>
public sealed record FilterStepCounts(string Step, long Events, long Sessions, long Users, long Items);
