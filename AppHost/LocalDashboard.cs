namespace HrnnPipeline.AppHost;

/// <summary>
/// The Aspire dashboard on plain http on 127.0.0.1 with fixed ports and no login token: this machine has no
/// developer certificate, and the dashboard is local. Each value only applies when neither the environment nor the
/// command line sets it (so a launch profile or `ASPNETCORE_URLS=...` still wins).
/// </summary>
static class LocalDashboard
{
    public const string UrlKey = "ASPNETCORE_URLS";

    static readonly (string Key, string Value)[] Defaults =
    [
        (UrlKey, "http://127.0.0.1:18888"),
        ("ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL", "http://127.0.0.1:18889"),
        ("ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL", "http://127.0.0.1:18890"),
        ("ASPIRE_ALLOW_UNSECURED_TRANSPORT", "true"),
        ("ASPIRE_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS", "true"),
    ];

    public static string[] WithDefaults(string[] args) =>
    [
        .. Defaults
            .Where(d => Environment.GetEnvironmentVariable(d.Key) is null
                && !args.Any(a => a.TrimStart('-').StartsWith(d.Key + "=", StringComparison.OrdinalIgnoreCase)))
            .Select(d => $"--{d.Key}={d.Value}"),
        .. args,
    ];
}
