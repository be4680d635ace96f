using HrnnPipeline.Training;

namespace HrnnPipeline.Tests.Training;

public sealed class BatcherTests
{
    static readonly int[][][] Users =
    [
        [[1, 2, 3], [4, 5]],          // user 0: sessions of 3 and 2 items
        [[6, 7, 8, 9]],               // user 1: one session of 4
        [[1, 3], [2, 4], [5, 6, 7]],  // user 2: three sessions
    ];

    static List<(int Slot, int Input, int Target, StepFlags Flags, int User)> Rows(int batch, int[] order, int maxSessionsPerSlot = 0)
    {
        var data = TestData.FromLists(Users);
        var rows = new List<(int, int, int, StepFlags, int)>();
        foreach (var chunk in new UserParallelBatcher(data, ModelKind.HrnnInit, batch, order, maxSessionsPerSlot: maxSessionsPerSlot).Chunks(3))
            for (int t = 0; t < chunk.Steps; t++)
                for (int b = 0; b < batch; b++)
                {
                    int r = t * batch + b;
                    rows.Add((b, chunk.Input[r], chunk.Target[r], (StepFlags)chunk.Flags[r], chunk.User[r]));
                }
        return rows;
    }

    [Fact]
    public void Every_event_pair_is_trained_once_including_the_tail()
    {
        var rows = Rows(batch: 2, order: [0, 1, 2]);
        var pairs = rows.Where(r => r.Target != 0).Select(r => (r.Input, r.Target)).ToList();
        var expected = Users.SelectMany(u => u).SelectMany(s => s.Zip(s.Skip(1))).ToList();
        Assert.Equal(expected.OrderBy(p => p).ToList(), pairs.OrderBy(p => p).ToList());
    }

    [Fact]
    public void Session_and_user_starts_are_flagged_on_the_first_step_of_each()
    {
        var rows = Rows(batch: 1, order: [0, 1, 2]).Where(r => r.Flags != StepFlags.None).ToList();
        // One slot: the steps are exactly the users' sessions in order.
        var starts = rows.Select(r => ((r.Flags & StepFlags.SessionStart) != 0, (r.Flags & StepFlags.UserStart) != 0)).ToList();
        // Each session: n-1 steps with targets, then one feeding its last item (no target).
        var expected = new List<(bool, bool)>
        {
            (true, true), (false, false), (false, false), (true, false), (false, false), // user 0: [1,2,3], [4,5]
            (true, true), (false, false), (false, false), (false, false),                 // user 1: [6,7,8,9]
            (true, true), (false, false), (true, false), (false, false), (true, false), (false, false), (false, false), // user 2
        };
        Assert.Equal(expected, starts);
    }

    [Fact]
    public void A_freed_slot_takes_the_next_user_in_the_given_order()
    {
        var rows = Rows(batch: 2, order: [2, 0, 1]);
        var firstUsers = rows.Where(r => (r.Flags & StepFlags.UserStart) != 0).Select(r => r.User).ToList();
        Assert.Equal([2, 0, 1], firstUsers);
    }

    [Fact]
    public void A_user_with_more_sessions_than_a_slot_takes_runs_in_parts_side_by_side_from_fresh_states()
    {
        // User 2's three sessions become parts of 1 and 2 sessions, each a user start, in two slots at once.
        var rows = Rows(batch: 2, order: [2], maxSessionsPerSlot: 2);
        var starts = rows.Where(r => (r.Flags & StepFlags.UserStart) != 0).Select(r => (r.Slot, r.Input)).ToList();
        Assert.Equal([(0, 1), (1, 2)], starts);
        var pairs = rows.Where(r => r.Target != 0).Select(r => (r.Input, r.Target)).OrderBy(p => p).ToList();
        Assert.Equal([(1, 3), (2, 4), (5, 6), (6, 7)], pairs);
    }

    [Fact]
    public void A_sessions_last_item_is_fed_before_the_next_session_starts_for_models_with_a_user_gru()
    {
        var rows = Rows(batch: 1, order: [0]);
        // User 0: [1,2,3] then [4,5]: 3 and 5 are inputs (with no target) right before the next start and the end.
        Assert.Equal([(1, 2), (2, 3), (3, 0), (4, 5), (5, 0)], rows.Where(r => r.Flags != StepFlags.None).Select(r => (r.Input, r.Target)));
        // A session-only rnn resets at every session: nothing would read that step.
        var data = TestData.FromLists(Users);
        var rnnInputs = new List<int>();
        foreach (var chunk in new UserParallelBatcher(data, ModelKind.Rnn, 1, [0]).Chunks(8))
            for (int t = 0; t < chunk.Steps; t++) rnnInputs.Add(chunk.Input[t]);
        Assert.Equal([1, 2, 4], rnnInputs);
    }

    [Fact]
    public void With_burn_in_a_later_part_continues_its_previous_parts_stored_states_instead_of_a_user_start()
    {
        // User 2's three sessions in parts of 1 and 2 sessions: one boundary, stored at part 1's last row (the step
        // feeding its last item 3) and read at part 2's first row, which is a session start but not a user start.
        var data = TestData.FromLists(Users);
        var batcher = new UserParallelBatcher(data, ModelKind.HrnnInit, 2, [0, 2, 1], maxSessionsPerSlot: 2, burnIn: true);
        // Users 0 (2 sessions) and 1 (1) are not split; user 2 is: one boundary, numbered by user index, not by order.
        Assert.Equal(1, batcher.PartCount);
        var saves = new List<int>();
        var reads = new List<(int Input, StepFlags Flags, int Part)>();
        foreach (var chunk in batcher.Chunks(3))
            for (int r = 0; r < chunk.Steps * chunk.Batch; r++)
            {
                if (chunk.SaveAs[r] >= 0) { saves.Add(chunk.Input[r]); Assert.Equal(0, chunk.SaveAs[r]); }
                if (chunk.ContinueFrom[r] >= 0) reads.Add((chunk.Input[r], (StepFlags)chunk.Flags[r], chunk.ContinueFrom[r]));
            }
        Assert.Equal([3], saves);
        Assert.Equal([(2, StepFlags.Active | StepFlags.SessionStart, 0)], reads);
        // Without burn-in every part starts fresh and nothing is stored.
        Assert.Equal(0, new UserParallelBatcher(data, ModelKind.HrnnInit, 2, [2], maxSessionsPerSlot: 2).PartCount);
    }
}
