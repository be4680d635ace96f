using HrnnPipeline.Ingest.Synthetic;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.AppHost.Pipeline;

/// <summary>An epoch in run-summary.json: <see cref="Loss"/> is the next-item loss, <see cref="StartLoss"/> the
/// session-start objective's (null for models without one).</summary>
public sealed record SummaryEpoch(int Epoch, double Loss, double? StartLoss, double? ValidLoss, double? ValidMrr);

/// <summary>What `run` prints and writes to run-summary.json.</summary>
public sealed record RunSummary(
    string Input, long Events, long Rejected, int Users, int Items, long Sessions, long TrainSessions, long TestSessions,
    IReadOnlyList<SummaryEpoch> Epochs, int BestEpoch, double TrainSeconds, double EventsPerSecond, string Reminders,
    long Recommendations, long UsersWithRecommendations, int ListLength, long UsersWithSeenItems, string ModelVersion, string Store,
    double Seconds, RefitSummary? Refit = null)
{
    public string Describe() => string.Join(Environment.NewLine, Lines());

    IEnumerable<string> Lines() => new[]
    {
        $"input         {Input}",
        $"events        {Events:N0} accepted, {Rejected:N0} rejected",
        $"prepared      {Users:N0} users, {Items:N0} items, {Sessions:N0} sessions ({TrainSessions:N0} train, {TestSessions:N0} test)",
        $"training      {Epochs.Count} epochs, next-item loss {Epochs[0].Loss:F4} -> {Epochs[^1].Loss:F4}{StartLosses()}, best epoch {BestEpoch}, {EventsPerSecond:N0} events/s",
        Refit is { } r ? $"refit         {r.Epochs} epochs on every session ({r.Events:N0} events, {r.Items:N0} items), {r.EventsPerSecond:N0} events/s: the published model" : null,
        $"reminders     {Reminders} (chosen on validation)",
        $"published     {Recommendations:N0} rows: top-{ListLength} for {UsersWithRecommendations:N0} users, version {ModelVersion} ({Store})",
        UsersWithSeenItems > 0 ? $"seen items    {UsersWithSeenItems:N0} users had fewer unseen items than {ListLength}: their lists end with seen ones" : null,
        $"took          {Seconds:F1} s",
    }.OfType<string>();

    string StartLosses() => Epochs[0].StartLoss is { } first && Epochs[^1].StartLoss is { } last
        ? $", start loss {first:F4} -> {last:F4}"
        : "";
}

/// <summary>The nightly batch as one command: every stage in order, on the same work folder.</summary>
public sealed class BatchRun(PipelineConfiguration config)
{
    public async Task<RunSummary> RunAsync(CancellationToken ct)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var stages = new PipelineStages(config);
        if (config.Ingest.Input.Length == 0)
        {
            // No input: a seeded synthetic log, so `run` works on a fresh clone with nothing else.
            var path = Path.Combine(config.Work.Root, "input", "synthetic.csv");
            var events = new SyntheticLogGenerator(new SyntheticLogOptions { Users = 400, Items = 1000, Seed = 42 }).Write(path);
            Console.Error.WriteLine($"generated {events:N0} synthetic events -> {path}");
            config.Ingest.Input = [path];
        }
        var ingest = await stages.IngestAsync(ct);
        Console.Error.WriteLine(ingest.ToString());
        var prepared = await stages.PrepareAsync(ct);
        var trained = stages.Train(resume: false, ct);
        var scored = stages.Score(trained.ModelVersion, 0, 1, ct);
        var published = await stages.PublishAsync(trained.ModelVersion, 1, ct);
        var summary = new RunSummary(
            string.Join(", ", config.Ingest.Input), ingest.Accepted, prepared.Rejected ?? ingest.Rejected, prepared.Users, prepared.Items,
            prepared.TrainSessions + prepared.TestSessions, prepared.TrainSessions, prepared.TestSessions,
            trained.Epochs.Select(e => new SummaryEpoch(e.Epoch, e.Loss, e.StartLoss, e.ValidLoss, e.ValidMrr)).ToList(), trained.BestEpoch,
            trained.TrainSeconds, trained.EventsPerSecond, trained.Reminders.ToString(), published.Rows, published.Users, published.ListLength,
            scored.UsersWithSeenItems, published.Version, config.PostgresConnectionString is { Length: > 0 } ? "postgres" : "warehouse", clock.Elapsed.TotalSeconds,
            trained.Refit);
        Json.Write(config.Work.SummaryFile("run"), summary);
        return summary;
    }
}
