using System.Globalization;
using System.Net;
using System.Text.Json;
using DuckDB.NET.Data;
using HrnnPipeline.Features;
using HrnnPipeline.Scoring.Api;
using HrnnPipeline.Scoring.Publishing;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HrnnPipeline.Tests.EndToEnd;

/// <summary>
/// Business filters end to end: `run` with item metadata and four configured filters (exclude, include, history-based,
/// with a parameter) publishes one list per filter beside the unfiltered one, each still k long; the read API serves
/// them from the warehouse, the Parquet exports and PostgreSQL alike, applies the parameter per request, and answers
/// an unknown filter or a bad parameter with a 400 naming it.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class FilterTests(PostgresFixture postgres)
{
    const int K = 10;
    const int Depth = 40;

    static readonly Dictionary<string, string> Filters = new()
    {
        ["noadult"] = "exclude item where category = 'adult'",
        ["instock"] = "include item where in_stock = true",
        ["fresh"] = "exclude items the user consumed in the last 7 days",
        ["bycat"] = "include item where category = $category and exclude item where category = 'adult'",
    };

    static string Category(string itemId) => (int.Parse(itemId[1..], CultureInfo.InvariantCulture) % 4) switch
    {
        0 => "drama", 1 => "comedy", 2 => "kids", _ => "adult",
    };

    static bool InStock(string itemId) => int.Parse(itemId[1..], CultureInfo.InvariantCulture) % 3 != 0;

    [Fact]
    public async Task Each_filter_kind_shapes_the_published_lists_and_the_read_api()
    {
        var dir = Cli.TempDir("filters");
        var log = Path.Combine(dir, "log.csv");
        Assert.Equal(0, (await Cli.RunAsync("generate", "--users", "80", "--items", "120", "--seed", "5", "--out", log)).ExitCode);
        var logItems = File.ReadLines(log).Skip(1).Select(l => l.Split(',')[1]).Distinct().ToList();
        var itemsFile = Path.Combine(dir, "items.csv");
        File.WriteAllLines(itemsFile, ["item_id,category,in_stock", .. logItems.Select(i => $"{i},{Category(i)},{(InStock(i) ? "true" : "false")}")]);

        var work = new WorkDirectory(Path.Combine(dir, "work"));
        var env = Filters.Select(f => ($"Scoring__Filters__{f.Key}", f.Value)).Append(("Scoring__FilterDepth", Depth.ToString(CultureInfo.InvariantCulture))).ToList();
        Cli.Outcome run;
        try
        {
            foreach (var (key, value) in env) Environment.SetEnvironmentVariable(key, value);
            run = await Cli.RunAsync("run", "--input", log, "--items", itemsFile, "--work", work.Root, "--epochs", "1",
                "--session-hidden", "16", "--user-hidden", "16", "--k", K.ToString(CultureInfo.InvariantCulture), "--min-item-support", "1");
        }
        finally
        {
            foreach (var (key, _) in env) Environment.SetEnvironmentVariable(key, null);
        }
        Assert.True(run.ExitCode == 0, run.Error);

        var lists = PublishedLists(work);
        var unfiltered = lists[""];
        var users = unfiltered.Keys.ToList();
        Assert.NotEmpty(users);
        foreach (var name in Filters.Keys)
        {
            Assert.Equal(users.Order(), lists[name].Keys.Order());
            Assert.All(lists[name].Values, l => Assert.Equal(name == "bycat" ? Depth : K, l.Count));
        }
        // Each filter changed some list (else nothing here could fail) and no list breaks its filter.
        Assert.Contains(users, u => unfiltered[u].Any(i => Category(i) == "adult"));
        Assert.All(lists["noadult"].Values.SelectMany(l => l), i => Assert.NotEqual("adult", Category(i)));
        Assert.Contains(users, u => unfiltered[u].Any(i => !InStock(i)));
        Assert.All(lists["instock"].Values.SelectMany(l => l), i => Assert.True(InStock(i)));
        var recent = RecentItems(work, TimeSpan.FromDays(7));
        Assert.Contains(users, u => unfiltered[u].Any(recent[u].Contains));
        Assert.All(users, u => Assert.DoesNotContain(lists["fresh"][u], recent[u].Contains));
        // Filtering keeps the model's order: a filtered list is the unfiltered ranking with items taken out.
        var first = users.First(u => unfiltered[u].Any(i => Category(i) == "adult"));
        var kept = unfiltered[first].Where(i => Category(i) != "adult").ToList();
        Assert.Equal(kept, lists["noadult"][first].Take(kept.Count));

        // The read API, over each place a version is published to.
        var pgStore = new PostgresRecommendationStore(await postgres.CreateDatabaseAsync());
        var version = ModelStore.LatestVersion(work.Models);
        await new Publisher(new PublishOptions { ExportParquet = false }).PublishAsync(Path.Combine(work.Scores, version), version, 1,
            IdMap.Read(Path.Combine(work.Models, version, ModelStore.ItemsFile)),
            File.ReadAllText(Path.Combine(work.Models, version, ModelStore.SummaryFile)), null, pgStore, CancellationToken.None);
        IRecommendationReader[] readers = [new DuckDbRecommendationStore(work.Warehouse), new ExportedVersionReader(work.Exports), pgStore];
        foreach (var reader in readers)
            await CheckApiAsync(reader, first, lists);
    }

    static async Task CheckApiAsync(IRecommendationReader reader, string user, Dictionary<string, Dictionary<string, List<string>>> lists)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = Environments.Production });
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        foreach (var (name, text) in Filters) builder.Configuration[$"Scoring:Filters:{name}"] = text;
        builder.Services.AddRecommendationApi(_ => reader);
        await using var app = builder.Build();
        app.UseRecommendationApi();
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };
        var kind = reader.GetType().Name;

        async Task<(HttpStatusCode, JsonElement)> Get(string query)
        {
            using var response = await client.GetAsync($"/users/{user}/recommendations?{query}");
            return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
        }
        static List<string> Ids(JsonElement body) => body.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("item_id").GetString()!).ToList();

        foreach (var name in new[] { "noadult", "instock", "fresh" })
        {
            var (status, body) = await Get($"filter={name}&k=5");
            Assert.True(status == HttpStatusCode.OK, $"{kind} {name}: {body}");
            Assert.Equal(lists[name][user].Take(5), Ids(body));
            Assert.Equal(5, body.GetProperty("filled").GetInt32());
        }

        // A parameter, per request: the stored list (exclusions applied) narrowed to the category asked for.
        foreach (var category in new[] { "drama", "kids" })
        {
            var (status, body) = await Get($"filter=bycat&category={category}&k={K}");
            Assert.True(status == HttpStatusCode.OK, $"{kind}: {body}");
            var expected = lists["bycat"][user].Where(i => Category(i) == category).Take(K).ToList();
            Assert.NotEmpty(expected);
            Assert.Equal(expected, Ids(body));
            Assert.Equal(expected.Count, body.GetProperty("filled").GetInt32());
            Assert.Equal(Enumerable.Range(1, expected.Count), body.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("rank").GetInt32()));
        }
        var (adultStatus, adult) = await Get("filter=bycat&category=adult");
        Assert.Equal(HttpStatusCode.OK, adultStatus);
        Assert.Empty(Ids(adult)); // the fixed exclusion wins over the parameter
        Assert.Equal(0, adult.GetProperty("filled").GetInt32());

        foreach (var (query, title, detail) in new[]
        {
            ("filter=nope", "Unknown filter", "unknown filter 'nope' (configured: bycat, fresh, instock, noadult)"),
            ("filter=bycat", "Invalid filter parameter", "filter 'bycat' needs parameter 'category'"),
            ("filter=bycat&category=drama&colour=red", "Invalid filter parameter", "filter 'bycat' has no parameter 'colour'"),
            ("filter=noadult&category=drama", "Invalid filter parameter", "filter 'noadult' has no parameter 'category' (it takes none)"),
            ($"filter=noadult&k={K + 1}", "Invalid k", $"k must be between 1 and {K}"),
        })
        {
            var (status, body) = await Get(query);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Equal(title, body.GetProperty("title").GetString());
            Assert.Contains(detail, body.GetProperty("detail").GetString());
        }
        using var unknownUser = await client.GetAsync("/users/nobody/recommendations?filter=noadult");
        Assert.Equal(HttpStatusCode.NotFound, unknownUser.StatusCode);
    }

    /// <summary>The active version's lists by filter ("" unfiltered) and user, in rank order.</summary>
    static Dictionary<string, Dictionary<string, List<string>>> PublishedLists(WorkDirectory work)
    {
        using var connection = new DuckDBConnection($"Data Source={work.Warehouse};ACCESS_MODE=READ_ONLY");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT '' AS filter, user_id, rank, item_id FROM recommendations WHERE version = (SELECT version FROM active_version)
            UNION ALL
            SELECT filter, user_id, rank, item_id FROM filtered_recommendations WHERE version = (SELECT version FROM active_version)
            ORDER BY filter, user_id, rank
            """;
        var lists = new Dictionary<string, Dictionary<string, List<string>>>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var byUser = lists.TryGetValue(reader.GetString(0), out var l) ? l : lists[reader.GetString(0)] = [];
            (byUser.TryGetValue(reader.GetString(1), out var items) ? items : byUser[reader.GetString(1)] = []).Add(reader.GetString(3));
        }
        return lists;
    }

    /// <summary>Each scored user's items within the window before the newest event of the scored history.</summary>
    static Dictionary<string, HashSet<string>> RecentItems(WorkDirectory work, TimeSpan window)
    {
        var users = IdMap.Read(work.PreparedFile(PreparedFiles.Users));
        var items = IdMap.Read(work.PreparedFile(PreparedFiles.Items));
        var history = EvaluationSequences.Concatenate(
            ArrowSessions.Read(work.PreparedFile(PreparedFiles.Train)), ArrowSessions.Read(work.PreparedFile(PreparedFiles.Test)));
        long since = history.Timestamps.Max() - (long)window.TotalMilliseconds;
        var recent = new Dictionary<string, HashSet<string>>();
        for (int b = 0; b < history.UserCount; b++)
        {
            var set = recent[users.Ids[history.Users[b]]] = [];
            for (int e = history.SessionStarts[history.UserStarts[b]]; e < history.SessionStarts[history.UserStarts[b + 1]]; e++)
                if (history.Timestamps[e] >= since) set.Add(items.Ids[history.Items[e]]);
        }
        return recent;
    }
}
