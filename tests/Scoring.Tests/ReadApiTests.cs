using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using HrnnPipeline.Scoring.Api;
using HrnnPipeline.Scoring.Publishing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HrnnPipeline.Tests.Scoring;

/// <summary>The read API on a real Kestrel over a real PostgreSQL store with two published versions.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ReadApiTests(PostgresFixture postgres)
{
    const int Users = 40, K = 10;

    [Fact]
    public async Task Recommendations_come_from_the_active_version()
    {
        await using var api = await StartAsync();

        using var response = await api.Client.GetAsync($"/users/{Uri.EscapeDataString(FakeScores.OddUser)}/recommendations?k=3");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(FakeScores.OddUser, body.RootElement.GetProperty("user_id").GetString());
        Assert.Equal("v2", body.RootElement.GetProperty("version").GetString());
        var items = body.RootElement.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(3, items.Count);
        for (int r = 1; r <= 3; r++)
        {
            Assert.Equal(FakeScores.ItemId(FakeScores.ItemIdx(2, 7, r, StoreUnderTest.ItemCount)), items[r - 1].GetProperty("item_id").GetString());
            Assert.Equal(r, items[r - 1].GetProperty("rank").GetInt32());
            Assert.Equal(FakeScores.Score(2, r), items[r - 1].GetProperty("score").GetSingle());
        }
    }

    [Fact]
    public async Task Without_k_the_default_ten_are_returned()
    {
        await using var api = await StartAsync();

        var body = await api.Client.GetFromJsonAsync<JsonElement>("/users/user-3/recommendations");

        Assert.Equal(10, body.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task An_unknown_user_is_a_404_problem()
    {
        await using var api = await StartAsync();

        using var response = await api.Client.GetAsync("/users/nobody/recommendations?k=5");

        await AssertProblemAsync(response, HttpStatusCode.NotFound, "nobody");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("11")]
    [InlineData("-3")]
    [InlineData("ten")]
    public async Task A_k_outside_one_to_the_list_length_is_a_400_problem(string k)
    {
        await using var api = await StartAsync();

        using var response = await api.Client.GetAsync($"/users/user-3/recommendations?k={k}");

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "k must");
    }

    [Fact]
    public async Task A_session_continues_from_the_stored_state_and_lists_unknown_items()
    {
        var model = new NextItemsModel();
        await using var api = await StartAsync(model);

        using var response = await api.Client.PostAsJsonAsync("/users/user-5/session?k=4",
            new { items = new[] { "item-00010", "not-an-item", "item-00020", "not-an-item" } });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("v2", body.RootElement.GetProperty("version").GetString());
        Assert.Equal(["item-00021", "item-00022", "item-00023", "item-00024"],
            body.RootElement.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("item_id").GetString()));
        Assert.Equal([1, 2, 3, 4], body.RootElement.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("rank").GetInt32()));
        Assert.Equal(["not-an-item"], body.RootElement.GetProperty("unknown_items").EnumerateArray().Select(i => i.GetString()));
        var call = Assert.Single(model.Calls);
        Assert.Equal("v2", call.Version);
        Assert.Equal(FakeScores.SessionState(2, 5), call.SessionState);
        Assert.Equal(FakeScores.UserState(2, 5), call.UserState);
        Assert.Equal([10, 20], call.Clicks);
    }

    [Fact]
    public async Task A_session_of_an_unknown_user_is_a_404_and_a_bad_body_a_400()
    {
        await using var api = await StartAsync(new NextItemsModel());

        using var unknown = await api.Client.PostAsJsonAsync("/users/nobody/session", new { items = new[] { "item-00001" } });
        using var noItems = await api.Client.PostAsync("/users/user-1/session", new StringContent("{\"clicks\": []}", System.Text.Encoding.UTF8, "application/json"));
        using var notJson = await api.Client.PostAsync("/users/user-1/session", new StringContent("items=1", System.Text.Encoding.UTF8, "application/json"));

        await AssertProblemAsync(unknown, HttpStatusCode.NotFound, "nobody");
        await AssertProblemAsync(noItems, HttpStatusCode.BadRequest, "items");
        await AssertProblemAsync(notJson, HttpStatusCode.BadRequest, "items");
    }

    [Fact]
    public async Task A_failing_model_is_a_500_problem_without_a_stack_trace()
    {
        await using var api = await StartAsync(new BrokenModel());

        using var response = await api.Client.PostAsJsonAsync("/users/user-1/session", new { items = new[] { "item-00001" } });

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("BrokenModel", text);
        Assert.DoesNotContain(" at ", text);
    }

    [Fact]
    public async Task Before_anything_is_published_reads_are_a_503_problem()
    {
        await using var api = await StartAsync(publish: false);

        using var response = await api.Client.GetAsync("/users/user-1/recommendations");

        await AssertProblemAsync(response, HttpStatusCode.ServiceUnavailable, "no model version has been published");
    }

    static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string detailContains)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal((int)status, body.RootElement.GetProperty("status").GetInt32());
        Assert.Contains(detailContains, body.RootElement.GetProperty("detail").GetString());
    }

    async Task<RunningApi> StartAsync(ISessionContinuation? model = null, bool publish = true)
    {
        var store = await StoreUnderTest.CreateAsync(StoreUnderTest.Postgres, postgres);
        if (publish)
        {
            await store.PublishAsync("v1", seed: 1, Users, K, new PublishOptions { ExportParquet = false });
            await store.PublishAsync("v2", seed: 2, Users, K, new PublishOptions { ExportParquet = false });
        }

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = Environments.Production });
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddRecommendationApi(_ => store.OpenAnother());
        if (model is not null) builder.Services.AddSingleton(model);
        var app = builder.Build();
        app.UseRecommendationApi();
        await app.StartAsync();
        var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };
        return new RunningApi(app, client, store);
    }

    sealed class RunningApi(WebApplication app, HttpClient client, StoreUnderTest store) : IAsyncDisposable
    {
        public HttpClient Client => client;

        public async ValueTask DisposeAsync()
        {
            client.Dispose();
            await app.StopAsync();
            await app.DisposeAsync();
            await store.DisposeAsync();
        }
    }

    /// <summary>A deterministic stand-in for the session GRU: the k items after the last click, best first.</summary>
    sealed class NextItemsModel : ISessionContinuation
    {
        public List<(string Version, float[] SessionState, float[] UserState, int[] Clicks)> Calls { get; } = [];

        public Task<SessionResult> ContinueAsync(string version, string userId, float[] sessionState, float[] userState, IReadOnlyList<int> itemIdx, int k,
            CancellationToken ct)
        {
            Calls.Add((version, sessionState, userState, itemIdx.ToArray()));
            int last = itemIdx.Count > 0 ? itemIdx[^1] : 0;
            var next = Enumerable.Range(1, k).Select(i => (last + i - 1) % StoreUnderTest.ItemCount + 1).ToList();
            return Task.FromResult(new SessionResult(next, next.Select((_, i) => 1f - i / 100f).ToList()));
        }
    }

    sealed class BrokenModel : ISessionContinuation
    {
        public Task<SessionResult> ContinueAsync(string version, string userId, float[] sessionState, float[] userState, IReadOnlyList<int> itemIdx, int k,
            CancellationToken ct) =>
            throw new InvalidOperationException("BrokenModel exploded");
    }
}
