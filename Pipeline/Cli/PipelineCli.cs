using System.CommandLine;
using System.CommandLine.Parsing;
using HrnnPipeline.AppHost.Hosting;
using HrnnPipeline.AppHost.Pipeline;
using HrnnPipeline.Ingest.Synthetic;
using HrnnPipeline.Scoring;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.AppHost.Cli;

/// <summary>The command line: one command per stage, plus <c>run</c> (the whole nightly batch) and the hosts.</summary>
public static class PipelineCli
{
    public static RootCommand Build()
    {
        var root = new RootCommand("HrnnPipeline: raw interaction logs to personalised next-session recommendations with a hierarchical RNN (Quadrana et al. 2017).");
        root.Subcommands.Add(RunCommand());
        root.Subcommands.Add(GenerateCommand());
        root.Subcommands.Add(PrepareCommand());
        root.Subcommands.Add(TrainCommand());
        root.Subcommands.Add(EvaluateCommand.Build());
        root.Subcommands.Add(TuneCommand.Build());
        root.Subcommands.Add(ScoreCommand());
        root.Subcommands.Add(PublishCommand());
        root.Subcommands.Add(HostCommands.Serve());
        root.Subcommands.Add(HostCommands.Worker());
        root.Subcommands.Add(HostCommands.Trigger());
        RejectOptionsTakenAsValues(root, []);
        return root;
    }

    /// <summary>
    /// Parses and runs a command line. A parse error (an unknown option, a missing or malformed value) is one line
    /// on stderr and exit code 1, before anything runs.
    /// </summary>
    public static Task<int> InvokeAsync(string[] args)
    {
        var result = Build().Parse(args);
        if (result.Errors.Count == 0) return result.InvokeAsync();
        var command = result.CommandResult.Command;
        var name = command is RootCommand ? "" : command.Name + " ";
        Console.Error.WriteLine($"error: {string.Join("; ", result.Errors.Select(e => e.Message.TrimEnd('.')))} (see `{name}--help`)");
        return Task.FromResult(1);
    }

    /// <summary>
    /// A multi-value option (<c>--input a b</c>) takes every following token that is not one of its command's options,
    /// so an option the command does not know would be read as a value (a path named "--format"). No value of ours
    /// starts with "--": such a token is an unknown option. Negative numbers (<c>--epochs -3</c>) still parse.
    /// </summary>
    static void RejectOptionsTakenAsValues(Command command, HashSet<Option> done)
    {
        foreach (var option in command.Options)
            if (done.Add(option))
                option.Validators.Add(r =>
                {
                    foreach (var token in r.Tokens)
                        if (token.Value.StartsWith("--", StringComparison.Ordinal))
                            r.AddError($"unknown option '{token.Value}' for `{(r.Parent as CommandResult)?.Command.Name}`");
                });
        foreach (var sub in command.Subcommands) RejectOptionsTakenAsValues(sub, done);
    }

    /// <summary>Runs a command body with the configuration chain, turning user-facing errors into one line and exit 1.
    /// Only a command that applies baseline presets (`evaluate`) passes <paramref name="acceptsBaselinePreset"/>.</summary>
    internal static Task<int> Execute(ParseResult result, IEnumerable<CliOptions.Mapped> options, CancellationToken ct,
        Func<PipelineConfiguration, CancellationToken, Task<int>> body, bool acceptsBaselinePreset = false) => Guard(() =>
    {
        var configuration = PipelineConfiguration.Sources(CliOptions.Overrides(result, options)).Build();
        var config = new PipelineConfiguration(configuration, result.GetValue(CliOptions.Work)!).Validate(acceptsBaselinePreset);
        return body(config, ct);
    });

    /// <summary>Runs a command body, turning failures into one line on stderr and a non-zero exit code.</summary>
    internal static async Task<int> Guard(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e) when (UserFacing(e) is { } message)
        {
            Console.Error.WriteLine($"error: {message}");
            return 1;
        }
        catch (Exception e)
        {
            // A bug, not bad input: still one line by default; the trace on request.
            Console.Error.WriteLine($"error: unexpected {e.GetType().Name}: {e.Message.Split('\n')[0]}" +
                (Environment.GetEnvironmentVariable("HRNN_DEBUG") == "1" ? Environment.NewLine + e : " (set HRNN_DEBUG=1 for details)"));
            return 2;
        }
    }

    static string? UserFacing(Exception e) => e switch
    {
        PipelineException p => p.Message,
        FileNotFoundException f => f.Message,
        DirectoryNotFoundException d => d.Message,
        UnauthorizedAccessException u => u.Message,
        OperationCanceledException => "cancelled",
        AggregateException { InnerExceptions.Count: 1 } a => UserFacing(a.InnerException!),
        _ => null,
    };

    static Command RunCommand()
    {
        var command = new Command("run", "Run the whole batch: ingest, prepare, train, score every user, publish the lists. With no --input, a seeded synthetic log is generated first.");
        var options = CliOptions.Input().Concat(CliOptions.Training()).Concat(CliOptions.Scoring()).ToArray();
        CliOptions.AddTo(command, options);
        command.Options.Add(CliOptions.Work);
        command.SetAction((result, ct) => Execute(result, options, ct, async (config, token) =>
        {
            var summary = await new BatchRun(config).RunAsync(token);
            Console.WriteLine(summary.Describe());
            return 0;
        }));
        return command;
    }

    static Command GenerateCommand()
    {
        var users = new Option<int>("--users") { Description = "Number of users", Required = true };
        var items = new Option<int>("--items") { Description = "Catalogue size", Required = true };
        var output = new Option<string>("--out") { Description = "CSV file to write (user_id,item_id,timestamp in Unix seconds)", Required = true };
        var seed = new Option<int>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 42 };
        var sessions = new Option<double>("--mean-sessions") { Description = "Mean sessions per user", DefaultValueFactory = _ => 12 };
        var metadata = new Option<bool>("--metadata") { Description = "Also write FILE.items.csv and FILE.users.csv: categories that drive the users' tastes" };
        var newItems = new Option<int>("--new-items") { Description = "With --metadata: items added late (clicked only after day 40), the cold items" };
        var outcomes = CliOptions.GeneratedOutcomes();
        var command = new Command("generate", "Write a seeded synthetic interaction log: Zipf popularity, persistent user tastes that drift, skewed session lengths and gaps.")
        {
            users, items, output, seed, sessions, metadata, newItems, outcomes,
        };
        command.SetAction((result, ct) => Guard(() =>
        {
            if (result.GetValue(users) < 1 || result.GetValue(items) < 2)
                throw new PipelineException("--users must be >= 1 and --items >= 2");
            var generator = new SyntheticLogGenerator(new SyntheticLogOptions
            {
                Users = result.GetValue(users), Items = result.GetValue(items), Seed = result.GetValue(seed),
                MeanSessions = result.GetValue(sessions), Metadata = result.GetValue(metadata), NewItems = result.GetValue(newItems),
                Outcomes = CliOptions.ParseGeneratedOutcomes(result.GetValue(outcomes)),
            });
            if (result.GetValue(newItems) < 0 || (result.GetValue(newItems) > 0 && !result.GetValue(metadata)))
                throw new PipelineException("--new-items must be >= 0 and needs --metadata (new items are known by their metadata)");
            // The outcome log draws its own events; the late new items of --new-items are not among them.
            if (result.GetValue(newItems) > 0 && CliOptions.ParseGeneratedOutcomes(result.GetValue(outcomes)) != SyntheticOutcomes.None)
                throw new PipelineException("--new-items cannot be combined with --outcomes yet: the outcome log has no late new items");
            var path = result.GetValue(output)!;
            var progress = new ProgressReporter("generate", result.GetValue(users) * 12L * 6, "events");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            long events = generator.Write(path, new Progress<long>(n => progress.Report(n)));
            Console.WriteLine($"wrote {events:N0} events for {result.GetValue(users):N0} users to {path} in {clock.Elapsed.TotalSeconds:F1} s");
            if (result.GetValue(metadata))
            {
                var (itemsFile, usersFile) = generator.WriteMetadata(path);
                Console.WriteLine($"wrote item metadata to {itemsFile} and user metadata to {usersFile}");
                if (result.GetValue(newItems) > 0)
                    Console.WriteLine($"the {result.GetValue(newItems):N0} new items are clicked from {generator.NewItemsFrom:yyyy-MM-dd'T'HH:mm:ss'Z'} on: " +
                        "evaluate --cold-start with that time tests them as cold items");
            }
            return Task.FromResult(0);
        }));
        return command;
    }

    static Command PrepareCommand()
    {
        var command = new Command("prepare", "Ingest the input into the warehouse and build the sessions, filters, splits and Arrow files (writes prepare-summary.json).");
        var options = CliOptions.Input();
        CliOptions.AddTo(command, options);
        command.Options.Add(CliOptions.Work);
        command.SetAction((result, ct) => Execute(result, options, ct, async (config, token) =>
        {
            var stages = new PipelineStages(config);
            var ingest = await stages.IngestAsync(token);
            Console.WriteLine(ingest.ToString());
            var summary = await stages.PrepareAsync(token);
            Console.WriteLine($"prepared: {summary.Users:N0} users, {summary.Items:N0} items, {summary.TrainSessions:N0} training sessions ({summary.TrainEvents:N0} events), {summary.TestSessions:N0} test sessions ({summary.TestEvents:N0} events); complete: {summary.CompleteSessions:N0} sessions ({summary.CompleteEvents:N0} events), {summary.CompleteItems:N0} items -> {config.Work.SummaryFile("prepare")}");
            return 0;
        }));
        return command;
    }

    static Command TrainCommand()
    {
        var resume = new Option<bool>("--resume") { Description = "Continue from the last epoch checkpoint" };
        var command = new Command("train", "Train on what `prepare` left in the work folder (early stopping on the validation split); writes train-summary.json, loss.csv and loss.png.") { resume };
        var options = CliOptions.Training();
        CliOptions.AddTo(command, options);
        command.Options.Add(CliOptions.Work);
        command.SetAction((result, ct) => Execute(result, options, ct, (config, token) =>
        {
            var summary = new PipelineStages(config).Train(result.GetValue(resume), token);
            var best = summary.Epochs.First(e => e.Epoch == summary.BestEpoch);
            Console.WriteLine($"trained {summary.ModelVersion}: {summary.Epochs.Count} epochs, best {summary.BestEpoch} (valid MRR@{summary.Settings.ValidationCutoff} {best.ValidMrr:F4}), {summary.EventsPerSecond:N0} events/s -> {config.Work.SummaryFile("train")}");
            return Task.FromResult(0);
        }));
        return command;
    }

    static Command ScoreCommand()
    {
        var shard = new Option<string>("--shard") { Description = "This worker's part of the users, i/N (default 0/1: everyone)", DefaultValueFactory = _ => "0/1" };
        var version = new Option<string>("--version") { Description = "Model version (default: the latest trained)" };
        var batchUsers = new Option<string>("--users") { Description = "Batch inference: JSON lines {\"userId\": ..., \"filterValues\": {...}} to answer into --out (instead of scoring every user)" };
        var batchOut = new Option<string>("--out") { Description = "Batch inference: folder for FILE.out (one result or error per input line)" };
        var batchFilter = new Option<string>("--filter") { Description = "Batch inference: the configured filter (Scoring:Filters) each line's filterValues fill" };
        var command = new Command("score", "Bootstrap every user's history through the model and compute the next session's initial state and top-k.") { shard, version, batchUsers, batchOut, batchFilter };
        var options = CliOptions.Scoring();
        CliOptions.AddTo(command, options);
        command.Options.Add(CliOptions.Work);
        command.SetAction((result, ct) => Execute(result, options, ct, (config, token) =>
        {
            if (result.GetValue(batchUsers) is { } file)
            {
                var batch = Scoring.Batch.BatchInference.Run(config.Work, result.GetValue(version), file,
                    result.GetValue(batchOut) ?? throw new PipelineException("--users needs --out DIR"), result.GetValue(batchFilter), config.Scoring, token);
                Console.WriteLine($"batch inference with {batch.Version}: {batch.Lines:N0} lines, {batch.Answered:N0} answered, {batch.Errors:N0} errors -> {batch.Output} ({batch.Seconds:F1} s)");
                return Task.FromResult(0);
            }
            if (result.GetValue(batchOut) is not null || result.GetValue(batchFilter) is not null)
                throw new PipelineException("--out and --filter are for batch inference: give --users FILE.jsonl too");
            var (i, n) = UserShards.Parse(result.GetValue(shard)!);
            var scored = new PipelineStages(config).Score(result.GetValue(version), i, n, token);
            Console.WriteLine($"scored shard {i}/{n} of {scored.Version}: {scored.Users:N0} users in {scored.Seconds:F1} s ({scored.UsersPerSecond:N0} users/s), " +
                (scored.CandidateIndex is { } index ? $"approximate ({index}, rescored exactly)" : "exact"));
            if (scored.UsersWithSeenItems > 0)
                Console.WriteLine($"{scored.UsersWithSeenItems:N0} users had fewer unseen items than the list length: their lists end with seen items");
            foreach (var fill in scored.Filters)
                Console.WriteLine($"filter {fill.Filter}: {fill.Users:N0} lists of {fill.ListLength}, {fill.ShortLists:N0} shorter (shortest {fill.ShortestList})");
            if (scored.ListsWithColdItems > 0)
                Console.WriteLine($"exploration: {scored.ListsWithColdItems:N0} lists end with cold items ({scored.ColdItems:N0} cold items)");
            return Task.FromResult(0);
        }));
        return command;
    }

    static Command PublishCommand()
    {
        var shards = new Option<int>("--shards") { Description = "Number of score shards to wait for", DefaultValueFactory = _ => 1 };
        var version = new Option<string>("--version") { Description = "Model version (default: the latest trained)" };
        var rollback = new Option<bool>("--rollback") { Description = "Point readers back to the previous version instead" };
        var command = new Command("publish", "Load a scored version into the store (PostgreSQL when ConnectionStrings:postgres is set, else the warehouse) and switch readers to it atomically.") { shards, version, rollback };
        command.Options.Add(CliOptions.Work);
        command.SetAction((result, ct) => Execute(result, [], ct, async (config, token) =>
        {
            var stages = new PipelineStages(config);
            if (result.GetValue(rollback))
            {
                Console.WriteLine($"active version is now {await stages.RollbackAsync(token)}");
                return 0;
            }
            var published = await stages.PublishAsync(result.GetValue(version), result.GetValue(shards), token);
            Console.WriteLine($"published {published.Version}: {published.Users:N0} users, {published.Rows:N0} rows in {published.Duration.TotalSeconds:F1} s, scored {published.ScoringMode}");
            return 0;
        }));
        return command;
    }
}
