using HrnnPipeline.Evaluation;

namespace HrnnPipeline.Tests.Evaluation;

public sealed class RankingTests
{
    [Fact]
    public void A_constant_scorer_ranks_every_target_last()
    {
        var scores = Enumerable.Repeat(0.5f, 8).ToArray(); // slot 0 + 7 items
        for (int target = 1; target <= 7; target++)
            Assert.Equal(7, Ranking.ConservativeRank(scores, target));
    }

    [Fact]
    public void Equal_scores_count_against_the_target()
    {
        float[] scores = [0f, 0.9f, 0.5f, 0.5f, 0.1f, 0.5f];
        Assert.Equal(1, Ranking.ConservativeRank(scores, 1));
        Assert.Equal(4, Ranking.ConservativeRank(scores, 2));
        Assert.Equal(4, Ranking.ConservativeRank(scores, 5));
        Assert.Equal(5, Ranking.ConservativeRank(scores, 4));
    }

    [Fact]
    public void The_padding_slot_never_counts()
    {
        float[] scores = [100f, 0.2f, 0.1f];
        Assert.Equal(1, Ranking.ConservativeRank(scores, 1));
        Assert.Equal(new[] { 1, 2 }, Ranking.TopK(scores, 5));
    }

    [Fact]
    public void A_NaN_score_ranks_last_and_never_beats_a_target()
    {
        float[] scores = [0f, float.NaN, 0.3f, 0.7f, float.NaN];
        Assert.Equal(4, Ranking.ConservativeRank(scores, 1));
        Assert.Equal(2, Ranking.ConservativeRank(scores, 2));
        Assert.Equal(new[] { 3, 2, 1, 4 }, Ranking.TopK(scores, 4));
    }

    [Fact]
    public void A_target_outside_the_catalogue_is_rejected()
    {
        float[] scores = [0f, 0.3f, 0.7f];
        Assert.Throws<ArgumentOutOfRangeException>(() => Ranking.ConservativeRank(scores, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Ranking.ConservativeRank(scores, 3));
    }

    [Fact]
    public void Vectorised_rank_matches_a_plain_count_at_every_catalogue_size()
    {
        var random = new Random(7);
        for (int n = 1; n <= 80; n++)
        {
            // Few distinct values, so ties are common.
            var scores = Enumerable.Range(0, n + 1).Select(_ => random.Next(5) / 4f).ToArray();
            for (int target = 1; target <= n; target++)
            {
                int expected = scores.Skip(1).Count(s => s >= scores[target]);
                Assert.Equal(expected, Ranking.ConservativeRank(scores, target));
            }
        }
    }

    [Fact]
    public void Top_k_is_descending_with_ties_to_the_lower_index()
    {
        float[] scores = [9f, 0.5f, 0.9f, 0.5f, 0.1f, 0.9f];
        Assert.Equal(new[] { 2, 5, 1, 3 }, Ranking.TopK(scores, 4));
    }

    [Fact]
    public void Top_k_returns_the_whole_catalogue_when_k_exceeds_it()
    {
        float[] scores = [0f, 0.1f, 0.3f, 0.2f];
        Assert.Equal(new[] { 2, 3, 1 }, Ranking.TopK(scores, 10));
        Assert.Empty(Ranking.TopK(scores, 0));
    }

    [Fact]
    public void Top_k_matches_a_full_sort_on_random_scores()
    {
        var random = new Random(11);
        var scores = Enumerable.Range(0, 1001).Select(_ => random.Next(100) / 10f).ToArray();
        var expected = Enumerable.Range(1, 1000).OrderByDescending(i => scores[i]).ThenBy(i => i).Take(20);
        Assert.Equal(expected, Ranking.TopK(scores, 20));
    }
}
