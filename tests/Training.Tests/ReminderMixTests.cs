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
}
