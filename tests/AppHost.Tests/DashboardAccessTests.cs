using System.Net;
using System.Net.Http.Headers;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using HrnnPipeline.AppHost.Hosting;
using Microsoft.AspNetCore.Http;

namespace HrnnPipeline.Tests.AppHost;

/// <summary>The dashboard's own authorization filter, on hand-made requests.</summary>
public sealed class DashboardAccessFilterTests
{
    static readonly DashboardSecurityOptions WithCredentials = new() { Username = "ops", Password = "s3cret" };

    [Fact]
    public void Local_request_is_allowed_without_credentials()
    {
        Assert.True(new DashboardAccessFilter(new DashboardSecurityOptions()).IsAllowed(Request(IPAddress.Loopback)));
        Assert.True(new DashboardAccessFilter(new DashboardSecurityOptions()).IsAllowed(Request(IPAddress.IPv6Loopback)));
    }

    [Fact]
    public void Remote_request_is_refused_when_no_credentials_are_configured_even_if_it_sends_some()
    {
        var filter = new DashboardAccessFilter(new DashboardSecurityOptions());
        Assert.False(filter.IsAllowed(Request(IPAddress.Parse("203.0.113.9"))));
        Assert.False(filter.IsAllowed(Request(IPAddress.Parse("203.0.113.9"), Basic("ops", "s3cret"))));
    }

    [Fact]
    public void Remote_request_without_or_with_wrong_credentials_is_refused_with_a_basic_challenge()
    {
        var filter = new DashboardAccessFilter(WithCredentials);
        foreach (var authorization in new[] { null, Basic("ops", "wrong"), Basic("other", "s3cret"), "Basic not-base64!", "Bearer token" })
        {
            var request = Request(IPAddress.Parse("203.0.113.9"), authorization);
            Assert.False(filter.IsAllowed(request), authorization);
            Assert.StartsWith("Basic", request.Response.Headers.WWWAuthenticate.ToString());
        }
    }

    [Fact]
    public void Remote_request_with_the_configured_credentials_is_allowed()
    {
        Assert.True(new DashboardAccessFilter(WithCredentials).IsAllowed(Request(IPAddress.Parse("203.0.113.9"), Basic("ops", "s3cret"))));
    }

    [Fact]
    public void Forwarded_for_header_does_not_make_a_remote_request_local()
    {
        var request = Request(IPAddress.Parse("203.0.113.9"));
        request.Request.Headers["X-Forwarded-For"] = "127.0.0.1";
        Assert.False(new DashboardAccessFilter(WithCredentials).IsAllowed(request));
    }

    [Fact]
    public void Request_without_a_remote_address_is_not_treated_as_local()
    {
        Assert.False(new DashboardAccessFilter(new DashboardSecurityOptions()).IsAllowed(new DefaultHttpContext()));
    }

    static DefaultHttpContext Request(IPAddress remote, string? authorization = null)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = remote;
        if (authorization is not null) context.Request.Headers.Authorization = authorization;
        return context;
    }

    internal static string Basic(string user, string password) =>
        "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));
}

/// <summary>The dashboard through Kestrel: from this machine, and from a non-loopback address of it.</summary>
[Collection(PostgresCollection.Name)]
public sealed class DashboardHttpTests(PostgresFixture postgres)
{
    [Fact]
    public async Task Dashboard_answers_200_locally_and_401_to_a_non_local_address_without_credentials()
    {
        using var pipeline = new TestPipeline(await postgres.CreateDatabaseAsync(), "dashboard");
        var lan = NonLoopbackAddress();
        var urls = lan is null ? "http://127.0.0.1:0" : $"http://127.0.0.1:0;http://{lan}:0";
        await using var host = await PipelineHost.CreateServeAsync(pipeline.Settings(("urls", urls), ("Serve:Server", "false"),
            ("Dashboard:Username", "ops"), ("Dashboard:Password", "s3cret")), default);
        await host.StartAsync(default);
        using var http = new HttpClient();

        var local = host.Addresses.Single(a => a.Contains("127.0.0.1"));
        var page = await http.GetAsync(local + PipelineHost.DashboardPath);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.DoesNotContain(pipeline.ConnectionString, await page.Content.ReadAsStringAsync());

        // A real connection from a non-loopback address of this machine (none on a loopback-only sandbox).
        if (lan is null) return;
        var remote = host.Addresses.Single(a => a.Contains(lan.ToString()));
        var refused = await http.GetAsync(remote + PipelineHost.DashboardPath);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains(refused.Headers.WwwAuthenticate, h => h.Scheme == "Basic");

        using var spoofed = new HttpRequestMessage(HttpMethod.Get, remote + PipelineHost.DashboardPath);
        spoofed.Headers.Add("X-Forwarded-For", "127.0.0.1");
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(spoofed)).StatusCode);

        using var authorized = new HttpRequestMessage(HttpMethod.Get, remote + PipelineHost.DashboardPath);
        authorized.Headers.Authorization = AuthenticationHeaderValue.Parse(DashboardAccessFilterTests.Basic("ops", "s3cret"));
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(authorized)).StatusCode);
    }

    static IPAddress? NonLoopbackAddress() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
}
