using HrnnPipeline.Scoring.Filters;
using HrnnPipeline.Scoring.Publishing;
using HrnnPipeline.ServiceDefaults;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace HrnnPipeline.Scoring.Api;

/// <summary>A filtered list: <see cref="Filled"/> says how many of the <see cref="K"/> asked for passed the filter.</summary>
public sealed record FilteredRecommendationsResponse(string UserId, string Version, string Filter, int K, int Filled,
    IReadOnlyList<RecommendedItem> Items);

/// <summary>
/// <c>GET /users/{id}/recommendations?filter=name[&amp;param=value...]</c>: the user's list under a configured filter
/// (<c>Scoring:Filters</c>, read from the host's configuration, as the scorer read it). The version carries each
/// filter's list, already filtered at scoring time; the clauses with parameters are applied here, per request, to
/// that list (kept <see cref="ScoringOptions.FilterDepth"/> deep). Every query key other than <c>k</c> and
/// <c>filter</c> is a filter parameter; an unknown filter, an unknown, missing or bad parameter is a 400 naming it.
/// </summary>
static class FilteredRecommendations
{
    static readonly HashSet<string> Reserved = new(StringComparer.OrdinalIgnoreCase) { "k", "filter" };

    public static FilterSet Configured(IServiceProvider services) =>
        FilterSet.From(services.GetService<IConfiguration>()?.GetSection($"{ScoringOptions.SectionName}:Filters").Get<Dictionary<string, string>>());

    public static async Task<IResult> GetAsync(string userId, int k, string filterName, HttpRequest request, IRecommendationReader store,
        CancellationToken ct)
    {
        FilterExpression filter;
        BoundFilter bound;
        var values = request.Query.Where(q => !Reserved.Contains(q.Key)).ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.Ordinal);
        try
        {
            filter = request.HttpContext.RequestServices.GetRequiredService<FilterSet>().Get(filterName);
            bound = BoundFilter.Bind(filter, values);
        }
        catch (FilterRequestException e)
        {
            return BadRequest(e.Message.StartsWith("unknown filter", StringComparison.Ordinal) ? "Unknown filter" : "Invalid filter parameter", e.Message);
        }
        if (store is not IFilteredListReader reader)
            return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Filters unavailable",
                detail: "this store does not serve filtered lists");

        var lookup = await reader.GetFilteredRecommendationsAsync(userId, filter.Name, ct);
        if (lookup.Version is null)
            return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Nothing published", detail: "no model version has been published yet");
        if (lookup.List is null)
            return BadRequest("Unknown filter", $"version {lookup.Version} carries no lists for filter '{filter.Name}' (it was scored before the filter was configured)");
        if (k > lookup.List.ListLength)
            return BadRequest("Invalid k", $"k must be between 1 and {lookup.List.ListLength} (the length of filter '{filter.Name}' lists in version {lookup.Version}), got {k}");
        if (!lookup.UserKnown)
            return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown user",
                detail: $"user '{userId}' has no recommendations in version {lookup.Version}");

        var items = lookup.Items;
        if (filter.Parameters.Count > 0)
        {
            var fields = await reader.GetItemFieldsAsync(lookup.Version, items.Select(i => i.ItemId).ToList(), ct);
            try
            {
                bound = BoundFilter.Bind(filter, values, fields);
            }
            catch (FilterRequestException e)
            {
                return BadRequest("Invalid filter parameter", e.Message);
            }
            items = items.Where(i => bound.KeepItem(fields, i.ItemId, parameterised: true)).ToList();
        }
        var shown = items.Take(k).Select((item, i) => item with { Rank = i + 1 }).ToList();
        return Results.Json(new FilteredRecommendationsResponse(userId, lookup.Version, filter.Name, k, shown.Count, shown), Json.Options);
    }

    static IResult BadRequest(string title, string detail) =>
        Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: title, detail: detail);
}
