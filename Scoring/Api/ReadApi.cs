using System.Globalization;
using System.Text.Json;
using HrnnPipeline.Scoring.Publishing;
using HrnnPipeline.ServiceDefaults;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace HrnnPipeline.Scoring.Api;

public sealed class RecommendationApiOptions
{
    /// <summary>k when the request gives none.</summary>
    public int DefaultK { get; set; } = 10;
    /// <summary>Most clicks a session request may carry.</summary>
    public int MaxSessionItems { get; set; } = 200;
}

public sealed record SessionRequest(IReadOnlyList<string>? Items);

public sealed record RecommendationsResponse(string UserId, string Version, IReadOnlyList<RecommendedItem> Items);

public sealed record SessionRecommendationsResponse(
    string UserId, string Version, IReadOnlyList<RecommendedItem> Items, IReadOnlyList<string> UnknownItems);

/// <summary>
/// The read API over the active published version: a user's stored top-k, and the top-k after continuing their
/// session over new clicks. Errors are RFC 7807 problem details; nothing answers with a stack trace.
/// </summary>
public static class ReadApi
{
    /// <summary>
    /// Registers the store (a singleton, disposed with the host), the API options and problem details. The
    /// session endpoint also needs an <see cref="ISessionContinuation"/> registered by the model's owner.
    /// </summary>
    public static IServiceCollection AddRecommendationApi(this IServiceCollection services,
        Func<IServiceProvider, IRecommendationReader> storeFactory, Action<RecommendationApiOptions>? configure = null)
    {
        services.AddSingleton(storeFactory);
        services.AddSingleton(FilteredRecommendations.Configured);
        services.AddOptions<RecommendationApiOptions>().Configure(o => configure?.Invoke(o));
        services.AddProblemDetails(o => o.CustomizeProblemDetails = context =>
        {
            // A PipelineException's message is written for people (what failed, where): it is safe to show.
            if (context.HttpContext.Features.Get<IExceptionHandlerFeature>()?.Error is PipelineException e)
                context.ProblemDetails.Detail = e.Message;
        });
        return services;
    }

    /// <summary>Exception handling (problem details, 503 for an unreachable store) plus the endpoints.</summary>
    public static WebApplication UseRecommendationApi(this WebApplication app)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            StatusCodeSelector = e => e is PipelineException ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status500InternalServerError,
        });
        app.MapRecommendationApi();
        return app;
    }

    public static IEndpointRouteBuilder MapRecommendationApi(this IEndpointRouteBuilder endpoints)
    {
        var users = endpoints.MapGroup("/users/{userId}");
        users.MapGet("/recommendations", GetRecommendationsAsync)
            .WithName("GetRecommendations");
        users.MapPost("/session", ContinueSessionAsync)
            .WithName("ContinueSession");
        return endpoints;
    }

    static async Task<IResult> GetRecommendationsAsync(string userId, string? k, string? filter, HttpRequest request,
        IRecommendationReader store, IOptions<RecommendationApiOptions> options, CancellationToken ct)
    {
        userId = UserIdFromRoute(userId);
        if (!TryParseK(k, options.Value.DefaultK, out int top, out var invalid)) return invalid;
        if (filter is not null) return await FilteredRecommendations.GetAsync(userId, top, filter, request, store, ct);
        var lookup = await store.GetRecommendationsAsync(userId, top, ct);
        if (lookup.Version is null) return NothingPublished();
        if (top > lookup.ListLength) return KOutOfRange(top, lookup.ListLength, lookup.Version);
        if (lookup.Items.Count == 0) return UnknownUser(userId, lookup.Version);
        return Results.Json(new RecommendationsResponse(userId, lookup.Version, lookup.Items), Json.Options);
    }

    static async Task<IResult> ContinueSessionAsync(string userId, string? k, HttpRequest request, IRecommendationReader store,
        IOptions<RecommendationApiOptions> options, CancellationToken ct)
    {
        userId = UserIdFromRoute(userId);
        if (!TryParseK(k, options.Value.DefaultK, out int top, out var invalid)) return invalid;
        SessionRequest? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<SessionRequest>(request.Body, Json.Options, ct);
        }
        catch (JsonException e)
        {
            return BadRequest("Invalid session body", $"expected {{\"items\": [\"<item id>\", ...]}}: {e.Message}");
        }
        if (body?.Items is null || body.Items.Any(id => id is null))
            return BadRequest("Invalid session body", "expected {\"items\": [\"<item id>\", ...]} with no null ids");
        if (body.Items.Count > options.Value.MaxSessionItems)
            return BadRequest("Session too long", $"a session may carry at most {options.Value.MaxSessionItems} items, got {body.Items.Count}");

        var state = await store.GetSessionStateAsync(userId, ct);
        if (state.Version is null) return NothingPublished();
        if (top > state.ListLength) return KOutOfRange(top, state.ListLength, state.Version);
        if (state.SessionState is null) return UnknownUser(userId, state.Version);

        var continuation = request.HttpContext.RequestServices.GetService<ISessionContinuation>();
        if (continuation is null)
            return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Session continuation unavailable",
                detail: "no model is loaded to continue sessions; the stored recommendations are at GET /users/{userId}/recommendations");

        var known = await store.ResolveItemIdsAsync(state.Version, body.Items.Distinct(StringComparer.Ordinal).ToList(), ct);
        var clicks = new List<int>(body.Items.Count);
        var unknown = new List<string>();
        foreach (var id in body.Items)
        {
            if (known.TryGetValue(id, out int idx)) clicks.Add(idx);
            else if (!unknown.Contains(id, StringComparer.Ordinal)) unknown.Add(id);
        }

        var result = await continuation.ContinueAsync(state.Version, userId, state.SessionState, state.UserState ?? [], clicks, top, ct);
        if (result.ItemIdx.Count != result.Scores.Count)
            throw new InvalidOperationException($"session continuation returned {result.ItemIdx.Count} items but {result.Scores.Count} scores");
        var ids = await store.GetItemIdsAsync(state.Version, result.ItemIdx.Distinct().ToList(), ct);
        var items = new List<RecommendedItem>(result.ItemIdx.Count);
        for (int i = 0; i < result.ItemIdx.Count && i < top; i++)
        {
            if (!ids.TryGetValue(result.ItemIdx[i], out var itemId))
                throw new InvalidOperationException($"session continuation returned item index {result.ItemIdx[i]}, which is not in version {state.Version}'s item map");
            items.Add(new RecommendedItem(itemId, result.Scores[i], i + 1));
        }
        return Results.Json(new SessionRecommendationsResponse(userId, state.Version, items, unknown), Json.Options);
    }

    /// <summary>
    /// Ids are served as given, slashes included: ASP.NET Core decodes every escape in a path segment except
    /// %2F (so routing can't be fooled), which is finished here.
    /// </summary>
    static string UserIdFromRoute(string userId) => userId.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);

    static bool TryParseK(string? text, int defaultK, out int k, out IResult invalid)
    {
        invalid = Results.Empty;
        if (text is null)
        {
            k = defaultK;
            return true;
        }
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out k))
        {
            invalid = BadRequest("Invalid k", $"k must be a whole number, got '{text}'");
            return false;
        }
        if (k < 1)
        {
            invalid = BadRequest("Invalid k", $"k must be at least 1, got {k}");
            return false;
        }
        return true;
    }

    static IResult KOutOfRange(int k, int max, string version) =>
        BadRequest("Invalid k", $"k must be between 1 and {max} (the list length of version {version}), got {k}");

    static IResult UnknownUser(string userId, string version) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown user",
            detail: $"user '{userId}' has no recommendations in version {version}");

    static IResult NothingPublished() =>
        Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Nothing published",
            detail: "no model version has been published yet");

    static IResult BadRequest(string title, string detail) =>
        Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: title, detail: detail);
}
