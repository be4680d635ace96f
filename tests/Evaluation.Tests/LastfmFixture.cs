using HrnnPipeline.Evaluation;
using HrnnPipeline.Evaluation.Baselines;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Tests.Evaluation;

/// <summary>
/// The reference split plus one run of each paper baseline and of the session-aware ones checked against
/// session-rec, computed once for the test collection.
/// </summary>
public sealed class LastfmFixture : IDisposable
{
    public LastfmFixture()
    {
        ProgressReporter.Quiet = true;
        Split = new ReferenceSplit();
        Runs = RunAll(BaselineRankers.All());
        SessionAwareRuns = RunAll(SessionAwareChecked.Select(n => BaselineRankers.ByName(n)!));
    }

    /// <summary>The session-aware presets whose session-rec figures on this split are known.</summary>
    public static IReadOnlyList<string> SessionAwareChecked { get; } = ["v-sknn", "v-sknn-ebr", "sr", "sr-br"];

    public static EvaluationOptions Options { get; } = new();
    public ReferenceSplit Split { get; }
    /// <summary>The paper's four baselines, the models the report tests expect.</summary>
    public IReadOnlyDictionary<string, ModelRun> Runs { get; }
    public IReadOnlyDictionary<string, ModelRun> SessionAwareRuns { get; }

    Dictionary<string, ModelRun> RunAll(IEnumerable<IRanker> rankers) => rankers
        .Select(r => Evaluator.Run(r, seed: 1, Split.Train, Split.Test, Split.Items, Options, CancellationToken.None))
        .ToDictionary(r => r.Model);

    public void Dispose() => Split.Dispose();
}

[CollectionDefinition(Name)]
public sealed class LastfmCollection : ICollectionFixture<LastfmFixture>
{
    public const string Name = "lastfm";
}
