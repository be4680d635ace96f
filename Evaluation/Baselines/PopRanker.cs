using HrnnPipeline.Features;

namespace HrnnPipeline.Evaluation.Baselines;

/// <summary>POP: the most popular training items for everyone; equal support ties (conservatively).</summary>
public sealed class PopRanker : ScoringRanker
{
    PopularityTieBreak? _popularity;

    public override string Name => "pop";
    public override bool CanRankSessionStart => true;

    protected override void FitModel(SessionDataset train, int catalogueSize) =>
        _popularity = new PopularityTieBreak(PopularityTieBreak.Count(train.Items, catalogueSize));

    protected override PrefixScorer CreateScorer() => new PopScorer(_popularity!);

    sealed class PopScorer(PopularityTieBreak popularity) : PrefixScorer
    {
        public override void Score(ReadOnlySpan<int> prefix, Span<float> scores) => popularity.Levels.CopyTo(scores);
    }
}
