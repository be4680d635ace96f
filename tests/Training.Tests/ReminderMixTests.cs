using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Tests.Training;

/// <summary>The user's own history and followers, computed by hand on tiny histories.</summary>
public sealed class ReminderMixTests
{
    // One user: sessions [1,2,3], [1,2,4], then the current one [1, 5, ...].
    static readonly Features.SessionDataset Data = TestData.FromLists([[[1, 2, 3], [1, 2, 4], [1, 5, 6]]]);

    static float[] Row(Tensor t) => t[0].data<float>().ToArray();

    [Fact]
    public void History_weighs_each_past_event_by_decay_to_the_power_of_its_age_and_leaves_out_the_current_item()
    {
        TorchRuntime.EnsureLoaded();
        var mixer = new ReminderMixer(Data, 8);
        // Predicting after the current session's first click (event 6, item 1): events 0..6, item 1 left out.
        var row = HistoryRow.Of(Data, 0, 6, position: 1, sessionStart: false, capture: false);
        Assert.Equal(new HistoryRow(0, 7, 1, false), row);
        var counts = Row(mixer.History([row], _ => 1f, CPU));
        // Without decay: 2 twice, 3 once, 4 once, out of 4 events.
        Assert.Equal([0, 0, 0.5f, 0.25f, 0.25f, 0, 0, 0], counts);
        var recent = Row(mixer.History([row], _ => 0.5f, CPU));
        // Ages (from event 6): 4 at 1, 2 at 2 and 5, 3 at 4, 1 (left out) at 0, 3 and 6; weights 0.5^age.
        float w4 = 0.5f, w2 = 0.25f + 0.03125f, w3 = 0.0625f, total = w4 + w2 + w3;
        Assert.Equal([0, 0, w2 / total, w3 / total, w4 / total, 0, 0, 0], recent, (a, b) => Math.Abs(a - b) < 1e-6);
    }

    [Fact]
    public void Followers_are_what_the_user_played_after_the_current_item_weighted_one_over_distance_squared()
    {
        TorchRuntime.EnsureLoaded();
        var mixer = new ReminderMixer(Data, 8);
        var row = HistoryRow.Of(Data, 0, 6, position: 1, sessionStart: false, capture: false);
        var (followers, has) = mixer.Followers([row], CPU);
        // After item 1: 2 at distance 1 (twice: weight 2), 3 and 4 at distance 2 (1/4 each); total 2.5.
        Assert.Equal([0, 0, 0.8f, 0.1f, 0.1f, 0, 0, 0], Row(followers), (a, b) => Math.Abs(a - b) < 1e-6);
        Assert.Equal(1f, has.item<float>());
        // A session start has no current item, so no followers.
        var start = HistoryRow.Of(Data, 0, 6, position: 0, sessionStart: true, capture: false);
        Assert.Equal(0f, mixer.Followers([start], CPU).Has.item<float>());
    }

    [Fact]
    public void The_fit_chooses_the_history_when_it_predicts_the_targets_and_the_model_alone_when_it_does_not()
    {
        TorchRuntime.EnsureLoaded();
        var mixer = new ReminderMixer(Data, 8);
        var row = HistoryRow.Of(Data, 0, 6, position: 1, sessionStart: false, capture: false);
        // The model puts the target last among the history items; the history ranks item 2 first.
        var scores = tensor(new float[] { -9, 0, 1, 3, 3, 2, 2, 2 }, [1, 8]);
        var helps = new ReminderFit(20);
        helps.Add(mixer, scores, tensor(new long[] { 2 }, [1, 1]), [row]);
        Assert.True(helps.Best().NextWeight > 0 || helps.Best().FollowWeight > 0, helps.Best().ToString());
        // When the model already ranks the target first and the history would not, the model stays alone.
        var hurts = new ReminderFit(20);
        hurts.Add(mixer, tensor(new float[] { -9, 0, 0, 0, 0, 0, 9, 0 }, [1, 8]), tensor(new long[] { 6 }, [1, 1]), [row]);
        Assert.Equal(ReminderMix.None with { StartDecay = 1, NextDecay = 1 }, hurts.Best());
    }

    [Fact]
    public void The_fit_ranks_from_a_few_columns_exactly_as_the_whole_catalogue_ranks()
    {
        TorchRuntime.EnsureLoaded();
        manual_seed(3);
        var rng = new Random(3);
        const int width = 400, cutoff = 20;
        int Item() => 1 + (int)((width - 1) * Math.Pow(rng.NextDouble(), 3));
        int[] Session()
        {
            var items = new List<int>();
            for (int n = rng.Next(2, 12); items.Count < n;)
                if (Item() is var item && (items.Count == 0 || items[^1] != item)) items.Add(item); // no consecutive repeats
            return items.ToArray();
        }
        var data = TestData.FromLists(Enumerable.Range(0, 40).Select(_ => Enumerable.Range(0, rng.Next(2, 7)).Select(_ => Session()).ToArray()).ToArray());
        // Every prediction of each user's last session: its start, then each next item.
        var rows = new List<HistoryRow>(); var targets = new List<long>();
        for (int u = 0; u < 40; u++)
        {
            int last = data.UserStarts[u + 1] - 1, first = data.SessionStarts[last], end = data.SessionStarts[last + 1];
            rows.Add(HistoryRow.Of(data, u, first, 0, sessionStart: true, capture: false)); targets.Add(data.Items[first]);
            for (int e = first; e + 1 < end; e++)
            {
                rows.Add(HistoryRow.Of(data, u, e, e - first + 1, sessionStart: false, capture: false)); targets.Add(data.Items[e + 1]);
            }
        }
        int n = rows.Count;
        var scores = randn(n, width).mul(3);
        var target = tensor(targets.ToArray(), [n, 1]);
        var mixer = new ReminderMixer(data, width);
        var fit = new ReminderFit(cutoff);
        // In two blocks, as inference hands them over.
        int half = n / 2;
        fit.Add(mixer, scores.narrow(0, 0, half), target.narrow(0, 0, half), rows.ToArray().AsSpan(0, half));
        fit.Add(mixer, scores.narrow(0, half, n - half), target.narrow(0, half, n - half), rows.ToArray().AsSpan(half));

        var isStart = rows.Select(r => r.Start).ToArray();
        var distinct = new HashSet<double>();
        int beyond = 0;
        foreach (float d in ReminderFit.Decays)
            foreach (float w in ReminderFit.Weights)
                foreach (float f in ReminderFit.FollowWeights)
                {
                    // The whole catalogue ranked as evaluate ranks it with this mix.
                    var ranked = mixer.Mix(scores, rows.ToArray(), new ReminderMix(w, d, w, d, f)) ?? scores;
                    var ranks = HrnnInference.ConservativeRanks(ranked, target).data<long>().ToArray();
                    double Mrr(bool start) => Enumerable.Range(0, n).Where(r => isStart[r] == start)
                        .Average(r => ranks[r] <= cutoff ? 1.0 / ranks[r] : 0);
                    beyond += ranks.Count(r => r > cutoff);
                    Assert.Equal(Mrr(false), fit.Mrr(false, w, d, f), 12);
                    if (f == 0) Assert.Equal(Mrr(true), fit.Mrr(true, w, d, f), 12);
                    distinct.Add(Mrr(false));
                }
        // The case is exercised: the mixes rank differently, and some targets are beyond the cutoff.
        Assert.True(distinct.Count > 10, $"{distinct.Count} distinct MRRs");
        Assert.True(beyond > 0);
    }
}
