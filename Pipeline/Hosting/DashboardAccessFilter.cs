using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Hangfire.Dashboard;
using Microsoft.AspNetCore.Http;

namespace HrnnPipeline.AppHost.Hosting;

/// <summary>
/// Who may open the dashboard: requests from this machine (a loopback remote address) always; remote requests
/// only with the HTTP Basic credentials of Dashboard:Username / Dashboard:Password, and never when none are
/// configured. Proxy headers (X-Forwarded-For) are not trusted: the connection's own address decides. Refused
/// requests get 401 with a Basic challenge (or, from Hangfire, 403 for an authenticated user).
/// </summary>
public sealed class DashboardAccessFilter(DashboardSecurityOptions options) : IDashboardAuthorizationFilter
{
    public bool Authorize(DashboardContext context) => IsAllowed(context.GetHttpContext());

    public bool IsAllowed(HttpContext http)
    {
        if (http.Connection.RemoteIpAddress is { } address && IPAddress.IsLoopback(address)) return true;
        if (string.IsNullOrEmpty(options.Username) || string.IsNullOrEmpty(options.Password)) return false;
        if (HasValidCredentials(http.Request.Headers.Authorization)) return true;
        http.Response.Headers.WWWAuthenticate = "Basic realm=\"hangfire\", charset=\"UTF-8\"";
        return false;
    }

    bool HasValidCredentials(string? header)
    {
        if (!AuthenticationHeaderValue.TryParse(header, out var value)
            || !string.Equals(value.Scheme, "Basic", StringComparison.OrdinalIgnoreCase) || value.Parameter is null)
            return false;
        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(value.Parameter));
        }
        catch (FormatException)
        {
            return false;
        }
        int colon = decoded.IndexOf(':');
        if (colon < 0) return false;
        // Both compared, in constant time, so the answer's timing tells nothing about either.
        bool user = FixedTimeEquals(decoded[..colon], options.Username!);
        bool password = FixedTimeEquals(decoded[(colon + 1)..], options.Password!);
        return user & password;
    }

    static bool FixedTimeEquals(string given, string expected) =>
        CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(expected)));
}
