using System.CommandLine;
using HrnnPipeline.AppHost.Pipeline;
using HrnnPipeline.Features;
using HrnnPipeline.Scoring.Evaluation;
using HrnnPipeline.Scoring.Evaluation.Baselines;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;

namespace HrnnPipeline.AppHost.Cli;

/// <summary>
/// `evaluate`: prepares the input, then runs every requested model through the paper's protocol (train on fit,
/// early-stop on valid, full-ranking next-item evaluation of each user's last session after bootstrapping their
/// history) for several seeds, and writes evaluation.json, report.md and its charts.
/// </summary>
static class EvaluateCommand
{
    static readonly string[] PaperBaselines = ["pop", "ppop", "item-knn", "sknn"];
    /// <summary>The paper's baselines and, on request only, the session-aware ones (V-SKNN and SR families).</summary>
    static readonly string[] Baselines = [.. PaperBaselines, .. BaselineRankers.SessionAwareNames];
    static readonly string[] Rnns = ["rnn", "rnn-concat", "hrnn-init", "hrnn-all"];

    public static Command Build()
    {
        var models = new Option<string>("--models")
        {
            Description = $"Comma-separated models: {string.Join(",", Baselines.Concat(Rnns))} (the session-aware baselines only on request)",
            DefaultValueFactory = _ => string.Join(",", PaperBaselines.Concat(Rnns)),
        };
        var seeds = new Option<int>("--seeds") { Description = "Seeds per trained model (mean and std reported)", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out") { Description = "Folder for evaluation.json, report.md and charts", Required = true };
        var command = new Command("evaluate", "Compare HRNN with session-only RNNs and simple baselines on the input (paper protocol, full ranking).")
        {
            models, seeds, output,
        };
        var options = CliOptions.Input().Concat(CliOptions.Training()).ToArray();
        CliOptions.AddTo(command, options);
        command.Options.Add(CliOptions.Work);
        command.SetAction((result, ct) => PipelineCli.Execute(result, options, ct, async (config, token) =>
        {
            var names = result.GetValue(models)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var n in names)
                if (!Baselines.Contains(n) && !Rnns.Contains(n))
                    throw new PipelineException($"--models: unknown model '{n}' (known: {string.Join(", ", Baselines.Concat(Rnns))})");
            int seedCount = result.GetValue(seeds);
            if (seedCount < 1) throw new PipelineException("--seeds must be >= 1");
            var stages = new PipelineStages(config);
            if (config.Ingest.Input.Length > 0) await stages.IngestAsync(token);
            await stages.PrepareAsync(token);
            var report = Evaluate(config, names, seedCount, token);
            var outDir = Path.GetFullPath(result.GetValue(output)!);
            EvaluationWriter.Write(outDir, report);
            File.Copy(Path.Combine(outDir, EvaluationWriter.JsonFile), config.Work.SummaryFile("evaluate"), overwrite: true);
            Console.WriteLine(File.ReadAllText(Path.Combine(outDir, EvaluationWriter.ReportFile)).Split("\n\n").Take(3).Aggregate((a, b) => a + "\n\n" + b));
            Console.WriteLine($"-> {Path.Combine(outDir, EvaluationWriter.JsonFile)}, {Path.Combine(outDir, EvaluationWriter.ReportFile)}");
            return 0;
        }));
        return command;
    }

    static EvaluationReport Evaluate(PipelineConfiguration config, string[] names, int seeds, CancellationToken ct)
    {
        var work = config.Work;
        var items = IdMap.Read(work.PreparedFile(PreparedFiles.Items));
        var train = ArrowSessions.Read(work.PreparedFile(PreparedFiles.Train));
        var fit = ArrowSessions.Read(work.PreparedFile(PreparedFiles.Fit));
        var valid = ArrowSessions.Read(work.PreparedFile(PreparedFiles.Valid));
        var test = ArrowSessions.Read(work.PreparedFile(PreparedFiles.Test));
        var options = new EvaluationOptions();
        var runs = new List<ModelRun>();
        foreach (var name in Baselines.Where(names.Contains))
            runs.Add(Evaluator.Run(BaselineRankers.ByName(name)!, 1, train, test, items, options, ct));
        foreach (var name in Rnns.Where(names.Contains))
        {
            for (int seed = 1; seed <= seeds; seed++)
            {
                var settings = config.Training with { Model = HrnnSettings.ParseModel(name), Seed = config.Training.Seed + seed - 1 };
                var device = TorchRuntime.Resolve(settings.Device);
                using var ranker = new RnnRanker(settings, fit, valid, Path.Combine(work.Checkpoints, $"evaluate-{name}-{settings.Seed}"), device);
                ranker.Fit(train, items);
                var stats = new TrainingStats(ranker.Result!.TrainSeconds, ranker.Result.EventsPerSecond);
                runs.Add(Evaluator.Run(ranker, settings.Seed, train, test, items, options, ct, stats));
            }
        }
        return Evaluator.Summarise(DatasetStats.Of(train, test, items), train, items, runs, options);
    }
}
