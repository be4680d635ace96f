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

    internal static string Category(string itemId) => (int.Parse(itemId[1..], CultureInfo.InvariantCulture) % 4) switch
    {
        0 => "drama", 1 => "comedy", 2 => "kids", _ => "adult",
    };

    internal static bool InStock(string itemId) => int.Parse(itemId[1..], CultureInfo.InvariantCulture) % 3 != 0;

    /// <summary>One trained and published work folder for the tests of this class (training is the slow part).</summary>
    static readonly Lazy<Task<WorkDirectory>> Trained = new(TrainAsync);

    /// <summary>Runs a CLI command with the filters configured through the environment (as a deployment would).</summary>
    internal static Task<WorkDirectory> TrainedWork() => Trained.Value;
    internal static readonly string[] ColdItems = Enumerable.Range(1001, 12).Select(i => $"i{i}").ToArray();
    internal const int ListLength = K;

    internal static async Task<Cli.Outcome> WithFiltersAsync(params string[] args)
    {
        var env = Filters.Select(f => ($"Scoring__Filters__{f.Key}", f.Value)).Append(("Scoring__FilterDepth", Depth.ToString(CultureInfo.InvariantCulture))).ToList();
        try
        {
            foreach (var (key, value) in env) Environment.SetEnvironmentVariable(key, value);
            return await Cli.RunAsync(args);
        }
        finally
        {
            foreach (var (key, _) in env) Environment.SetEnvironmentVariable(key, null);
        }
    }

    static async Task<WorkDirectory> TrainAsync()
    {
        var dir = Cli.TempDir("filters");
        var log = Path.Combine(dir, "log.csv");
        Assert.Equal(0, (await Cli.RunAsync("generate", "--users", "80", "--items", "120", "--seed", "5", "--out", log)).ExitCode);
        var logItems = File.ReadLines(log).Skip(1).Select(l => l.Split(',')[1]).Distinct().ToList();
        var itemsFile = Path.Combine(dir, "items.csv");
        // Plus cold items: metadata, but no click in the log.
        File.WriteAllLines(itemsFile, ["item_id,category,in_stock", .. logItems.Concat(ColdItems).Select(i => $"{i},{Category(i)},{(InStock(i) ? "true" : "false")}")]);
        var work = new WorkDirectory(Path.Combine(dir, "work"));
        var run = await WithFiltersAsync("run", "--input", log, "--items", itemsFile, "--work", work.Root, "--epochs", "1",
            "--session-hidden", "16", "--user-hidden", "16", "--k", K.ToString(CultureInfo.InvariantCulture), "--min-item-support", "1");
        Assert.True(run.ExitCode == 0, run.Error);
        return work;
    }

    [Fact]
    public async Task Each_filter_kind_shapes_the_published_lists_and_the_read_api()
    {
        var work = await Trained.Value;

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
    internal static Dictionary<string, Dictionary<string, List<string>>> PublishedLists(WorkDirectory work)
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
        var history = UserHistories.Concatenate(
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

/// <summary>The batch inference contract: a JSON lines file in, one answer per line out, bad lines answered with
/// their error instead of failing the job.</summary>
[Collection(PostgresCollection.Name)]
public sealed class BatchInferenceTests
{
    [Fact]
    public async Task Score_users_file_round_trips_with_a_result_or_an_error_per_line()
    {
        var work = await FilterTests.TrainedWork();
        var lists = FilterTests.PublishedLists(work);
        var users = lists[""].Keys.Order(StringComparer.Ordinal).Take(2).ToList();
        var dir = Cli.TempDir("batch");

        // Unfiltered: the same model on the same history gives the published lists.
        var plain = Path.Combine(dir, "plain.jsonl");
        File.WriteAllLines(plain, users.Select(u => $$"""{"userId": "{{u}}"}"""));
        var run = await FilterTests.WithFiltersAsync("score", "--work", work.Root, "--k", "10", "--users", plain, "--out", Path.Combine(dir, "out"));
        Assert.True(run.ExitCode == 0, run.Error);
        var answers = Answers(Path.Combine(dir, "out", "plain.jsonl.out"));
        for (int i = 0; i < users.Count; i++) Assert.Equal(string.Join(" ", lists[""][users[i]]), string.Join(" ", Items(answers[i])));
        Assert.All(answers, a => Assert.Equal(JsonValueKind.Null, a.GetProperty("error").ValueKind));
        Assert.All(answers, a => Assert.Equal(FilterTests.ListLength, a.GetProperty("output").GetProperty("scores").GetArrayLength()));

        var filtered = Path.Combine(dir, "requests.jsonl");
        File.WriteAllText(filtered, string.Join("\n",
            $$$"""{"userId": "{{{users[0]}}}", "filterValues": {"category": "drama"}}""",
            $$$"""{"userId": "{{{users[1]}}}", "filterValues": {"category": "kids"}}""",
            """{"userId": "nobody", "filterValues": {"category": "kids"}}""",
            "",
            """{"userId": "u1", "filterValues": {"category": """,
            $$$"""{"userId": "{{{users[0]}}}", "filterValues": {}}""",
            $$$"""{"userId": "{{{users[0]}}}", "filterValues": {"category": "kids", "colour": "red"}}""",
            """{"userId": 17}""") + "\n");
        run = await FilterTests.WithFiltersAsync("score", "--work", work.Root, "--k", "10", "--users", filtered, "--out", Path.Combine(dir, "out"), "--filter", "bycat");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("7 lines, 2 answered, 5 errors", run.Out);
        answers = Answers(Path.Combine(dir, "out", "requests.jsonl.out"));
        Assert.Equal(7, answers.Count);
        Assert.Equal(users[0], answers[0].GetProperty("input").GetProperty("userId").GetString());
        Assert.Equal("drama", answers[0].GetProperty("input").GetProperty("filterValues").GetProperty("category").GetString());
        foreach (var (answer, category) in new[] { (answers[0], "drama"), (answers[1], "kids") })
        {
            var items = Items(answer);
            Assert.Equal(FilterTests.ListLength, items.Count);
            Assert.All(items, i => Assert.Equal(category, FilterTests.Category(i)));
        }
        Assert.Equal([
            null, null,
            "line 3: unknown user 'nobody' (no history in the prepared data)",
            "line 5: invalid JSON",
            "line 6: filter 'bycat' needs parameter 'category'",
            "line 7: filter 'bycat' has no parameter 'colour' (its parameters: category)",
            "line 8: no userId (a string)",
        ], answers.Select(a => a.GetProperty("error").GetString() is { } e && e.StartsWith("line 5", StringComparison.Ordinal) ? "line 5: invalid JSON" : a.GetProperty("error").GetString()));
        Assert.All(answers.Skip(2), a => Assert.Equal(JsonValueKind.Null, a.GetProperty("output").ValueKind));

        var unknown = await FilterTests.WithFiltersAsync("score", "--work", work.Root, "--users", filtered, "--out", dir, "--filter", "nope");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("--filter: unknown filter 'nope'", unknown.Error);
    }

    static List<JsonElement> Answers(string path) =>
        File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

    static List<string> Items(JsonElement answer) =>
        answer.GetProperty("output").GetProperty("recommendedItems").EnumerateArray().Select(e => e.GetString()!).ToList();
}

/// <summary>Cold items (metadata, no clicks) reach the lists through exploration, and only through it.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ColdItemTests
{
    [Fact]
    public async Task A_cold_item_with_metadata_is_listed_when_the_exploration_weight_is_positive_never_when_it_is_0()
    {
        var trained = await FilterTests.TrainedWork();
        var published = FilterTests.PublishedLists(trained)[""];
        Assert.DoesNotContain(published.Values.SelectMany(l => l), FilterTests.ColdItems.Contains); // weight 0, the default

        var explored = await ScoreAsync(trained, weight: "0.2", seed: "1");
        Assert.Equal(published.Keys.Order(), explored.Keys.Order());
        foreach (var (user, list) in explored)
        {
            Assert.Equal(FilterTests.ListLength, list.Count);
            Assert.Equal(published[user].Take(8), list.Take(8)); // the model's ranks, then 0.2 x 10 cold ones
            Assert.All(list.Skip(8), i => Assert.Contains(i, FilterTests.ColdItems));
        }
        // The cold items listed are those whose metadata the user's history shares most: for each, the share of the
        // user's events with the same category and the same in_stock value, averaged.
        var history = History(trained);
        foreach (var (user, list) in explored)
        {
            var events = history[user];
            double Score(string item) => (events.Count(e => FilterTests.Category(e) == FilterTests.Category(item))
                + events.Count(e => FilterTests.InStock(e) == FilterTests.InStock(item))) / (2.0 * events.Count);
            var best = FilterTests.ColdItems.Select(Score).OrderDescending().ToList();
            Assert.Equal(best.Take(2), list.Skip(8).Select(Score));
        }

        Assert.Equal(explored, await ScoreAsync(trained, weight: "0.2", seed: "1")); // reproducible with the seed
        Assert.NotEqual(explored, await ScoreAsync(trained, weight: "0.2", seed: "2"));
        Assert.DoesNotContain((await ScoreAsync(trained, weight: "0", seed: "1")).Values.SelectMany(l => l), FilterTests.ColdItems.Contains);
    }

    /// <summary>Each scored user's events (item ids), from the prepared splits scoring read.</summary>
    static Dictionary<string, List<string>> History(WorkDirectory work)
    {
        var users = IdMap.Read(work.PreparedFile(PreparedFiles.Users));
        var items = IdMap.Read(work.PreparedFile(PreparedFiles.Items));
        var history = UserHistories.Concatenate(
            ArrowSessions.Read(work.PreparedFile(PreparedFiles.Train)), ArrowSessions.Read(work.PreparedFile(PreparedFiles.Test)));
        return Enumerable.Range(0, history.UserCount).ToDictionary(b => users.Ids[history.Users[b]],
            b => Enumerable.Range(history.SessionStarts[history.UserStarts[b]],
                history.SessionStarts[history.UserStarts[b + 1]] - history.SessionStarts[history.UserStarts[b]])
                .Select(e => items.Ids[history.Items[e]]).ToList());
    }

    /// <summary>Scores a copy of the trained work folder with the exploration settings; the lists by user.</summary>
    static async Task<Dictionary<string, List<string>>> ScoreAsync(WorkDirectory trained, string weight, string seed)
    {
        var copy = Cli.TempDir("cold");
        foreach (var file in Directory.GetFiles(trained.Root, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(copy, Path.GetRelativePath(trained.Root, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        var work = new WorkDirectory(copy);
        (string, string?)[] env = [("Scoring__ExplorationWeight", weight), ("Scoring__Seed", seed), ("Scoring__ColdItemMaxInteractions", "0")];
        Cli.Outcome run;
        try
        {
            foreach (var (key, value) in env) Environment.SetEnvironmentVariable(key, value);
            run = await Cli.RunAsync("score", "--work", work.Root, "--k", FilterTests.ListLength.ToString(CultureInfo.InvariantCulture));
        }
        finally
        {
            foreach (var (key, _) in env) Environment.SetEnvironmentVariable(key, null);
        }
        Assert.True(run.ExitCode == 0, run.Error);
        var version = ModelStore.LatestVersion(work.Models);
        var lists = ScoreShardReader.Open(Path.Combine(work.Scores, version), 1).ReadRecommendations()
            .GroupBy(r => r.UserId).ToDictionary(g => g.Key, g => g.OrderBy(r => r.Rank).Select(r => r.ItemId).ToList());
        Directory.Delete(copy, recursive: true);
        return lists;
    }
}
