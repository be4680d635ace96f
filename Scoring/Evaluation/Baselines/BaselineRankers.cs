namespace HrnnPipeline.Scoring.Evaluation.Baselines;

/// <summary>The paper's baselines with its settings, in the order the report lists them.</summary>
public static class BaselineRankers
{
    public static IReadOnlyList<IRanker> All(int itemKnnNeighbours = 300, int sessionKnnNeighbours = 100) =>
    [
        new PopRanker(),
        new PersonalPopRanker(),
        new ItemKnnRanker(itemKnnNeighbours),
        new SessionKnnRanker(sessionKnnNeighbours),
    ];
}
