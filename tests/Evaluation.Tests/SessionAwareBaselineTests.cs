using HrnnPipeline.Scoring.Evaluation;
using Xunit.Abstractions;

namespace HrnnPipeline.Tests.Evaluation;

[Collection(LastfmCollection.Name)]
public sealed class SessionAwareReferenceTests(LastfmFixture lastfm, ITestOutputHelper output)
{
    [Fact]
    public void Print()
    {
        foreach (var (model, run) in lastfm.Runs)
        {
            var next = run.Predictions.Where(p => p.Position >= 1).ToList();
            var m = Metrics.Compute(next, [5, 20], lastfm.Split.Items.Counts);
            output.WriteLine($"{model,-12} {m["recall@5"]:F4} {m["mrr@5"]:F4} {m["recall@20"]:F4} {m["mrr@20"]:F4} n={next.Count} fit={run.TrainSeconds:F2}s");
        }
    }
}
