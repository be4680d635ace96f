using System.Net.Http.Json;
using System.Text.Json;
using HrnnPipeline.Features;
using HrnnPipeline.Scoring;
using HrnnPipeline.Scoring.Api;
using HrnnPipeline.Scoring.Publishing;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace HrnnPipeline.Tests.EndToEnd;

/// <summary>
/// The read API's session endpoint against what the model computes offline: a published version in the warehouse,
/// the real model from the model store, and the same clicks run through the evaluation path.
/// </summary>
public sealed class SessionEndpointTests
{
    readonly string _dir = Cli.TempDir("session");

    async Task<WorkDirectory> TrainAndPublishAsync(string model)
    {
        var log = Path.Combine(_dir, "log.csv");
        Assert.Equal(0, (await Cli.RunAsync("generate", "--users", "120", "--items", "250", "--seed", "3", "--out", log)).ExitCode);
        var run = await Cli.RunAsync("run", "--input", log, "--work", Path.Combine(_dir, "work"), "--model", model, "--epochs", "2",
            "--session-hidden", "32", "--user-hidden", "32", "--k", "10");
        Assert.True(run.ExitCode == 0, run.Error);
        return new WorkDirectory(Path.Combine(_dir, "work"));
    }

    /// <summary>Top-10 after the clicks, computed the offline way: the user's whole history, then the clicks as a
    /// session whose next item is predicted.</summary>
    static List<string> Offline(WorkDirectory work, string userId, IReadOnlyList<string> clicks)
    {
        using var loaded = ModelStore.Load(work.Models, null, "cpu");
        // The generated users have strong tastes: validation keeps some of their history in the lists, so the
        // endpoint has to mix it in as evaluation does.
        Assert.False(loaded.Model.Reminders.IsNone, "the reminder mix was not chosen; the test would not cover it");
        var users = IdMap.Read(work.PreparedFile(PreparedFiles.Users));
        Assert.True(users.TryGetIndex(userId, out var userIdx));
        var history = UserHistories.Concatenate(
            ArrowSessions.Read(work.PreparedFile(PreparedFiles.Train)), ArrowSessions.Read(work.PreparedFile(PreparedFiles.Test)));
        var clickIdx = clicks.Select(c => loaded.Items.TryGetIndex(c, out var i) ? i : -1).Where(i => i > 0).ToList();
        // A session of the clicks plus one placeholder target: the prediction after the last click is what we compare.
        var items = clickIdx.Append(1).ToArray();
        var session = SessionDataset.FromSortedEvents(Enumerable.Repeat(userIdx, items.Length).ToArray(),
            new int[items.Length], items, new long[items.Length]);
        var (data, evaluated) = UserHistories.Join(history, session);
        List<string>? top = null;
        new HrnnInference(loaded.Model, CPU).Run(new HrnnInference.Request(data, 8, 10) { EvalSessions = evaluated }, rows =>
        {
            for (int i = 0; i < rows.Rank.Length; i++)
                if (rows.Position[i] == clickIdx.Count)
                    top = rows.TopK.AsSpan(i * rows.K, rows.K).ToArray().Select(x => loaded.Items.Ids[x]).ToList();
        }, null);
        return top!;
    }

    /// <summary>Every model kind: hrnn-init and hrnn-all start from s_0 (hrnn-all also feeds c_u at every click), rnn
    /// from the zero state of a fresh session, rnn-concat from the state after the user's last item.</summary>
    [Theory]
    [InlineData("rnn")]
    [InlineData("rnn-concat")]
    [InlineData("hrnn-init")]
    [InlineData("hrnn-all")]
    public async Task Session_endpoint_top_k_equals_the_model_offline_for_the_same_clicks(string model)
    {
        var work = await TrainAndPublishAsync(model);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = Environments.Production });
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddRecommendationApi(_ => DuckDbRecommendationStore.OpenAsync(work.Warehouse).GetAwaiter().GetResult());
        builder.Services.AddSingleton<ISessionContinuation>(new ModelSessionContinuation(work));
        await using var app = builder.Build();
        app.UseRecommendationApi();
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

        var items = IdMap.Read(work.PreparedFile(PreparedFiles.Items));
        var users = IdMap.Read(work.PreparedFile(PreparedFiles.Users));
        foreach (var userId in users.Ids.Take(3))
        {
            var clicks = new List<string> { items.Ids[3], "no-such-item", items.Ids[7], items.Ids[1] };
            var response = await client.PostAsJsonAsync($"/users/{Uri.EscapeDataString(userId)}/session?k=10", new { items = clicks });
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var served = body.RootElement.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("item_id").GetString()!).ToList();
            var unknown = body.RootElement.GetProperty("unknown_items").EnumerateArray().Select(e => e.GetString()).ToList();
            Assert.Equal(["no-such-item"], unknown);
            Assert.Equal(Offline(work, userId, clicks), served);
        }
    }
}
