using HrnnPipeline.Scoring.Evaluation;
using HrnnPipeline.Scoring.Evaluation.Baselines;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Tests.Evaluation;

/// <summary>The reference split plus one run of each baseline on it, computed once for the test collection.</summary>
public sealed class LastfmFixture : IDisposable
{
    public LastfmFixture()
    {
        ProgressReporter.Quiet = true;
        Split = new ReferenceSplit();
        Runs = BaselineRankers.All()
            .Select(r => Evaluator.Run(r, seed: 1, Split.Train, Split.Test, Split.Items, Options, CancellationToken.None))
            .ToDictionary(r => r.Model);
    }

    public static EvaluationOptions Options { get; } = new();
    public ReferenceSplit Split { get; }
    public IReadOnlyDictionary<string, ModelRun> Runs { get; }

    public void Dispose() => Split.Dispose();
}

[CollectionDefinition(Name)]
public sealed class LastfmCollection : ICollectionFixture<LastfmFixture>
{
    public const string Name = "lastfm";
}
