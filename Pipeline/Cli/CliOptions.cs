using System.CommandLine;

namespace HrnnPipeline.AppHost.Cli;

/// <summary>
/// Command-line options, each mapped to the configuration key it overrides (so appsettings.json and environment
/// variables can set the same thing). Options are grouped by the stage they configure.
/// </summary>
static class CliOptions
{
    public sealed record Mapped(Option Option, string Key);

    public static readonly Option<string> Work = new("--work") { Description = "Work folder: warehouse, prepared splits, models, scores", DefaultValueFactory = _ => "./.hrnn" };

    public static Mapped[] Input() =>
    [
        new(new Option<string[]>("--input") { Description = "Log file(s), folder or glob (CSV, TSV, JSON lines, Parquet)", AllowMultipleArgumentsPerToken = true }, "Ingest:Input"),
        new(new Option<string>("--format") { Description = "csv|tsv|jsonl|parquet (default: from the extension)" }, "Ingest:Format"),
        new(new Option<string>("--columns") { Description = "Fields by position, e.g. user,item,timestamp[,session][,type]" }, "Ingest:Columns"),
        new(new Option<string>("--time-unit") { Description = "s|ms|auto for numeric timestamps (default: auto, reported)" }, "Ingest:TimeUnit"),
        new(new Option<double?>("--reject-threshold") { Description = "Largest share of rejected rows per file (default 0.01)" }, "Ingest:RejectThreshold"),
        new(new Option<string>("--session-gap") { Description = "Idle gap that starts a new session (default 00:30:00)" }, "Features:SessionGap"),
        new(new Option<int?>("--min-item-support") { Description = "Drop items with fewer events (default 10)" }, "Features:MinItemSupport"),
        new(new Option<int?>("--min-session-length") { Description = "Drop sessions with fewer events (default 3)" }, "Features:MinSessionLength"),
        new(new Option<int?>("--min-user-sessions") { Description = "Drop users with fewer sessions (default 5)" }, "Features:MinUserSessions"),
        new(new Option<int?>("--max-sessions-per-user") { Description = "Keep only each user's most recent N sessions" }, "Features:MaxSessionsPerUser"),
        new(new Option<string>("--items") { Description = "Item metadata file (CSV, TSV, JSON lines, Parquet): an id column plus categorical or numeric fields" }, "Ingest:Items"),
        new(new Option<string>("--users") { Description = "User metadata file, as --items" }, "Ingest:Users"),
        new(new Option<string>("--item-columns") { Description = "Item metadata columns, e.g. id,category:cat,price:num (default: inferred)" }, "Ingest:ItemColumns"),
        new(new Option<string>("--user-columns") { Description = "User metadata columns, as --item-columns" }, "Ingest:UserColumns"),
        new(new Option<string[]>("--drop-event-types") { Description = "Event types to drop before sessionizing", AllowMultipleArgumentsPerToken = true }, "Features:DropEventTypes"),
        new(new Option<string>("--event-type-values") { Description = "Outcome value per event type where an event has no value, e.g. view=1,cart=3,purchase=5" }, "Features:EventTypeValues"),
    ];

    public static Mapped[] Training() =>
    [
        new(new Option<string>("--model") { Description = "hrnn-init|hrnn-all|rnn|rnn-concat" }, "Training:Model"),
        new(new Option<string>("--preset") { Description = "Named settings (paper-small-init, paper-large-all, bprmax-init, xe-logq-init) or a preset file written by `tune` (FILE.json)" }, "Training:Preset"),
        new(new Option<string>("--loss") { Description = "top1|bpr|cross-entropy|bpr-max" }, "Training:Loss"),
        new(new Option<int?>("--epochs") { Description = "Training epochs (default 10)" }, "Training:Epochs"),
        new(new Option<int?>("--batch-size") { Description = "User-parallel slots per step (default 50)" }, "Training:BatchSize"),
        new(new Option<int?>("--session-hidden") { Description = "Session GRU size (default 100)" }, "Training:SessionHidden"),
        new(new Option<int?>("--user-hidden") { Description = "User GRU size (default 100)" }, "Training:UserHidden"),
        new(new Option<double?>("--learning-rate") { Description = "Learning rate" }, "Training:LearningRate"),
        new(new Option<int?>("--n-sample") { Description = "Extra negatives per step, sampled by popularity^alpha" }, "Training:NSample"),
        new(new Option<int?>("--seed") { Description = "Random seed (default 1)" }, "Training:Seed"),
        new(new Option<int?>("--patience") { Description = "Epochs without validation improvement before stopping (0 = off)" }, "Training:Patience"),
        new(new Option<string>("--device") { Description = "cpu|cuda (cuda needs HRNN_LIBTORCH_DIR)" }, "Training:Device"),
        new(new Option<bool?>("--reminders") { Description = "Mix the user's own history into the lists, weighted as validation prefers (default true)" }, "Training:Reminders"),
        new(new Option<string>("--outcome") { Description = "positive|binary|soft|regression: how event values train (default positive: every event is a click)" }, "Training:Outcome"),
        new(new Option<double?>("--outcome-weight") { Description = "Weight of the binary/regression value head beside the ranking loss (default 1)" }, "Training:OutcomeWeight"),
        new(new Option<string>("--outcome-loss") { Description = "mse|huber: the regression head's loss (default mse)" }, "Training:OutcomeLoss"),
        new(new Option<bool?>("--event-weights") { Description = "Weight each next-item target's ranking loss by its value, e.g. purchases over views (default false)" }, "Training:EventWeights"),
    ];

    public static Mapped[] Scoring() =>
    [
        new(new Option<int?>("--k") { Description = "List length per user (default 20)" }, "Scoring:K"),
        new(new Option<bool?>("--exclude-seen") { Description = "Put items the user already consumed after all unseen ones (seen items fill only lists with fewer than k unseen)" }, "Scoring:ExcludeSeen"),
        new(new Option<double?>("--min-outcome") { Description = "binary/regression models: leave out items whose predicted value is below this (binary default 0.5)" }, "Scoring:MinOutcome"),
        new(new Option<bool?>("--approximate") { Description = "Score each user against the best items of their cluster of users (Scoring:ApproximateCandidates, Scoring:ApproximateUsersPerCluster); not always the exact top-k (default false: exact)" }, "Scoring:Approximate"),
    ];

    /// <summary>`generate --outcomes`: the extra columns of the synthetic log.</summary>
    public static Option<string> GeneratedOutcomes() =>
        new("--outcomes") { Description = "none|ratings|purchases: also write a value column (0 = disliked, else rating/5) or event types (views, purchases of viewed items)", DefaultValueFactory = _ => "none" };

    public static HrnnPipeline.Ingest.Synthetic.SyntheticOutcomes ParseGeneratedOutcomes(string? text) =>
        Enum.TryParse<HrnnPipeline.Ingest.Synthetic.SyntheticOutcomes>(text, true, out var o) && !int.TryParse(text, out _) ? o
        : throw new HrnnPipeline.ServiceDefaults.PipelineException($"--outcomes {text}: expected none, ratings or purchases");

    public static void AddTo(Command command, IEnumerable<Mapped> options)
    {
        foreach (var o in options) command.Options.Add(o.Option);
    }

    /// <summary>The values given on the command line, as configuration keys (arrays as Key:0, Key:1, ...).</summary>
    public static Dictionary<string, string?> Overrides(ParseResult result, IEnumerable<Mapped> options)
    {
        var values = new Dictionary<string, string?>();
        foreach (var (option, key) in options)
        {
            var value = result.GetResult(option) is { Implicit: false } r ? r.GetValueOrDefault<object?>() : null;
            switch (value)
            {
                case null: break;
                case string[] array:
                    for (int i = 0; i < array.Length; i++) values[$"{key}:{i}"] = array[i];
                    break;
                case IFormattable f:
                    values[key] = f.ToString(null, System.Globalization.CultureInfo.InvariantCulture);
                    break;
                default:
                    values[key] = value.ToString();
                    break;
            }
        }
        return values;
    }
}
