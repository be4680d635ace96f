using HrnnPipeline.Features;

namespace HrnnPipeline.Evaluation.Baselines;

/// <summary>
/// PPOP: items ranked by how often the user played them in their training sessions, ties (and items the user never
/// played) by global popularity. Needs no prefix, so it also ranks the session start.
/// </summary>
public sealed class PersonalPopRanker : ScoringRanker
{
    PopularityTieBreak? _popularity;

    public override string Name => "ppop";
    public override bool CanRankSessionStart => true;

    protected override void FitModel(SessionDataset train, int catalogueSize) =>
        _popularity = new PopularityTieBreak(PopularityTieBreak.Count(train.Items, catalogueSize));

    protected override PrefixScorer CreateScorer() => new PersonalScorer(_popularity!);

    sealed class PersonalScorer(PopularityTieBreak popularity) : PrefixScorer
    {
        readonly float[] _userScores = new float[popularity.Levels.Length];
        readonly int[] _counts = new int[popularity.Levels.Length];
        readonly List<int> _played = [];

        public override void BeginUser(SessionDataset history, int block)
        {
            popularity.Levels.CopyTo(_userScores, 0);
            if (block < 0) return;
            _played.Clear();
            int first = history.SessionStarts[history.UserStarts[block]];
            int end = history.SessionStarts[history.UserStarts[block + 1]];
            foreach (int item in history.Items.AsSpan(first, end - first))
            {
                if ((uint)item >= (uint)_counts.Length) continue; // history beyond the fitted catalogue cannot be scored
                if (_counts[item]++ == 0) _played.Add(item);
            }
            var candidates = new Candidate[_played.Count];
            for (int c = 0; c < candidates.Length; c++)
            {
                int item = _played[c];
                candidates[c] = new Candidate(item, _counts[item]);
                _counts[item] = 0;
            }
            popularity.LiftInto(candidates, _userScores);
        }

        public override void Score(ReadOnlySpan<int> prefix, Span<float> scores) => _userScores.CopyTo(scores);
    }
}
