namespace HrnnPipeline.Scoring.Api;

/// <summary>
/// The model side of <c>POST /users/{userId}/session</c>: runs the session-level GRU of
/// <paramref name="version"/> from the stored initial session state s_0 over the clicked items and scores the next
/// item. Implemented where the model lives (Scoring); the API only resolves ids and shapes the response.
/// </summary>
public interface ISessionContinuation
{
    /// <param name="version">Model version whose weights produced <paramref name="sessionState"/>.</param>
    /// <param name="userId">The user, whose own history the model's lists mix in (its reminder mix).</param>
    /// <param name="sessionState">The user's stored s_0 (from <c>user_states.session_state</c>).</param>
    /// <param name="userState">The user's stored c_u (<c>user_states.user_state</c>); hrnn-all feeds it at every step.</param>
    /// <param name="itemIdx">The session's clicks so far, as dense item indexes of that version, oldest first; may be empty.</param>
    /// <param name="k">How many items to return.</param>
    Task<SessionResult> ContinueAsync(string version, string userId, float[] sessionState, float[] userState, IReadOnlyList<int> itemIdx, int k,
        CancellationToken ct);
}

/// <summary>The top-k next items, best first: dense item indexes and their scores (same length).</summary>
public sealed record SessionResult(IReadOnlyList<int> ItemIdx, IReadOnlyList<float> Scores);
