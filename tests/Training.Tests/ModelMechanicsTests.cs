using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Tests.Training;

/// <summary>The hierarchy's mechanics on tiny hand-made inputs: when the user GRU moves, when states reset, and
/// where the user state enters the session GRU.</summary>
public sealed class ModelMechanicsTests
{
    static HrnnModel Model(ModelKind kind)
    {
        TorchRuntime.EnsureLoaded();
        manual_seed(7);
        var model = new HrnnModel(new HrnnSettings { Model = kind, SessionHidden = 8, UserHidden = 6, DropoutSession = 0 }, 10);
        model.eval();
        return model;
    }

    static Tensor Flag(params float[] v) => tensor(v).unsqueeze(1);

    [Fact]
    public void User_state_changes_only_where_a_session_starts_and_is_zero_for_a_new_user()
    {
        using var noGrad = no_grad();
        using var model = Model(ModelKind.HrnnInit);
        var state = model.ZeroState(2, CPU);
        // Step 1: both slots start a user (and a session).
        (state, _) = model.Step(model.InputSource, tensor(new long[] { 1, 2 }), state, Flag(1, 1), Flag(1, 1), false);
        Assert.Equal(0, state.User!.abs().sum().item<float>(), 6);
        // Step 2: no starts -> user state unchanged; session state moves.
        var userBefore = state.User.clone();
        var sessionBefore = state.Session[0].clone();
        (state, _) = model.Step(model.InputSource, tensor(new long[] { 3, 4 }), state, Flag(0, 0), Flag(0, 0), false);
        Assert.True(state.User!.allclose(userBefore));
        Assert.False(state.Session[0].allclose(sessionBefore));
        // Step 3: slot 0 starts a new session (user GRU consumes the last session state), slot 1 continues.
        var lastSession = state.Session[0].clone();
        var userPrevious = state.User.clone();
        (state, var initial) = model.Step(model.InputSource, tensor(new long[] { 5, 6 }), state, Flag(1, 0), Flag(0, 0), false);
        var expectedUser = model.UserStep(lastSession, userPrevious);
        Assert.True(state.User![0].allclose(expectedUser[0], 1e-5, 1e-6));
        Assert.True(state.User[1].allclose(userPrevious[1]));
        Assert.True(initial![0].allclose(model.InitialState(expectedUser)[0], 1e-5, 1e-6));
        // Step 4: slot 1 gets a new user -> its user state is reset to zero.
        (state, _) = model.Step(model.InputSource, tensor(new long[] { 7, 8 }), state, Flag(0, 1), Flag(0, 1), false);
        Assert.Equal(0, state.User![1].abs().sum().item<float>(), 6);
        Assert.True(state.User[0].allclose(expectedUser[0], 1e-5, 1e-6));
    }

    [Fact]
    public void New_session_state_is_initialised_from_the_user_state()
    {
        using var noGrad = no_grad();
        using var model = Model(ModelKind.HrnnInit);
        var state = model.ZeroState(1, CPU);
        (state, _) = model.Step(model.InputSource, tensor(new long[] { 1 }), state, Flag(1), Flag(1), false);
        (state, _) = model.Step(model.InputSource, tensor(new long[] { 2 }), state, Flag(0), Flag(0), false);
        var c = model.UserStep(state.Session[0], state.User!);
        var s0 = model.InitialState(c);
        // The session GRU's first step of the new session starts from s0: compare with a step taken from s0 by hand.
        (var next, _) = model.Step(model.InputSource, tensor(new long[] { 3 }), state, Flag(1), Flag(0), false);
        var byHand = model.SessionStep(model.InputGates(model.InputSource, tensor(new long[] { 3 }), null, s0), [s0], 0, false);
        Assert.True(next.Session[0].allclose(byHand[0], 1e-5, 1e-6));
    }

    [Theory]
    [InlineData(ModelKind.HrnnAll, true)]
    [InlineData(ModelKind.HrnnInit, false)]
    public void Only_hrnn_all_feeds_the_user_state_at_every_step(ModelKind kind, bool feeds)
    {
        using var noGrad = no_grad();
        using var model = Model(kind);
        // hrnn-all's user-to-session weights start at zero (it begins as hrnn-init); give them values as training would.
        foreach (var (name, p) in model.named_parameters().Where(p => p.name.StartsWith("_userToSession")))
            p.copy_(randn_like(p));
        var session = new[] { randn(1, 8) };
        var a = new HrnnModel.State(session, randn(1, 6));
        var b = new HrnnModel.State(session, randn(1, 6));
        // A step in the middle of a session: no start flags, so only hrnn-all can see the user state.
        var (nextA, _) = model.Step(model.InputSource, tensor(new long[] { 4 }), a, Flag(0), Flag(0), false);
        var (nextB, _) = model.Step(model.InputSource, tensor(new long[] { 4 }), b, Flag(0), Flag(0), false);
        Assert.Equal(feeds, !nextA.Session[0].allclose(nextB.Session[0]));
    }

    [Fact]
    public void Rnn_resets_the_session_state_at_every_session_start()
    {
        using var noGrad = no_grad();
        using var model = Model(ModelKind.Rnn);
        var state = new HrnnModel.State([randn(1, 8)], null);
        var (fromReset, _) = model.Step(model.InputSource, tensor(new long[] { 4 }), state, Flag(1), Flag(0), false);
        var (fromZero, _) = model.Step(model.InputSource, tensor(new long[] { 4 }), model.ZeroState(1, CPU), Flag(0), Flag(0), false);
        Assert.True(fromReset.Session[0].allclose(fromZero.Session[0]));
    }
}
