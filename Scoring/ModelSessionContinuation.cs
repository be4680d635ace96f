using System.Collections.Concurrent;
using HrnnPipeline.Scoring.Api;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Scoring;

/// <summary>
/// Real-time within-session personalisation for the read API: the session GRU of the published model continues
/// from the user's stored s_0 over the clicks so far, and the next-item head ranks the catalogue. Models are loaded
/// once per version from the work folder's model store and shared by requests (inference only, no gradients). The
/// model's reminder mix uses the user's history as the version was scored from it (<see cref="ScoredHistory"/>), then
/// the clicks, as evaluation does.
/// </summary>
public sealed class ModelSessionContinuation(WorkDirectory work, string device = "cpu") : ISessionContinuation, IDisposable
{
    readonly ConcurrentDictionary<string, Lazy<ModelStore.LoadedModel>> _models = new();
    readonly ConcurrentDictionary<string, Lazy<ScoredHistory?>> _histories = new();

    public Task<SessionResult> ContinueAsync(string version, string userId, float[] sessionState, float[] userState, IReadOnlyList<int> itemIdx, int k,
        CancellationToken ct)
    {
        var loaded = _models.GetOrAdd(version, v => new Lazy<ModelStore.LoadedModel>(() => ModelStore.Load(work.Models, v, device))).Value;
        var history = loaded.Model.Reminders.IsNone ? null
            : _histories.GetOrAdd(version, v => new Lazy<ScoredHistory?>(() => ScoredHistory.Load(Path.Combine(work.Scores, v), loaded.Items))).Value;
        return Task.FromResult(Continue(loaded.Model, loaded.Device, sessionState, userState, itemIdx, k, history?.WithClicks(userId, itemIdx)));
    }

    /// <summary>The same computation as offline evaluation: s_0, then one session-GRU step per click (hrnn-all also
    /// feeds c_u at each), then the scores, mixed with the user's history and the clicks when the model has a
    /// reminder mix and <paramref name="history"/> is given.</summary>
    public static SessionResult Continue(HrnnModel model, Device device, float[] sessionState, float[] userState, IReadOnlyList<int> itemIdx, int k,
        (Features.SessionDataset Data, HistoryRow Row)? history = null)
    {
        int hidden = model.Settings.SessionHidden;
        if (sessionState.Length != hidden)
            throw new PipelineException($"stored session state has {sessionState.Length} values; the model expects {hidden}");
        bool feedsUser = model.FeedsUserEveryStep;
        if (feedsUser && userState.Length != model.Settings.UserHidden)
            throw new PipelineException($"stored user state has {userState.Length} values; the hrnn-all model expects {model.Settings.UserHidden}");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var items = model.AllItems();
        var layers = new Tensor[model.Settings.SessionLayers];
        layers[0] = tensor(sessionState, [1, hidden]).to(device);
        for (int l = 1; l < layers.Length; l++) layers[l] = zeros(1, hidden, device: device);
        Tensor query;
        if (itemIdx.Count == 0)
        {
            // No click yet: the list for the session's start, from the session-start head.
            query = model.HasStartHead ? model.StartQuery(layers[0]) : layers[^1];
        }
        else
        {
            var user = feedsUser ? tensor(userState, [1, userState.Length]).to(device) : null;
            foreach (var item in itemIdx)
                layers = model.SessionStep(model.InputGates(items.Input, tensor(new long[] { item }).to(device), user, layers[0]), layers, 0, false);
            query = layers[^1];
        }
        var scores = model.ScoreAll(query, items);
        if (history is { } h && new ReminderMixer(h.Data, model.ItemTableSize).Mix(scores, [h.Row], model.Reminders) is { } mixed)
            scores = mixed;
        var (values, indexes) = scores.topk(Math.Min(k, model.ItemTableSize - 1), 1);
        return new SessionResult(indexes.to_type(ScalarType.Int32).cpu().data<int>().ToArray(), values.cpu().data<float>().ToArray());
    }

    public void Dispose()
    {
        foreach (var lazy in _models.Values)
            if (lazy.IsValueCreated) lazy.Value.Dispose();
    }
}
