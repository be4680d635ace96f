using System.Text.RegularExpressions;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Features;

/// <summary>
/// How <c>prepare</c> cuts interaction logs into sessions and filters them (Quadrana et al. 2017, sec. 4.1).
/// Bound from the configuration section <see cref="SectionName"/>; the defaults reproduce the paper's lastfm setup.
/// </summary>
public sealed partial class FeatureOptions
{
    public const string SectionName = "Features";

    /// <summary>A user's idle time longer than this starts a new session (unless explicit session ids decide).</summary>
    public TimeSpan SessionGap { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Items with fewer events than this (counted after dropping repeats) are removed.</summary>
    public int MinItemSupport { get; set; } = 10;

    /// <summary>Sessions with fewer events than this (after the item filter) are removed.</summary>
    public int MinSessionLength { get; set; } = 3;

    /// <summary>Users with fewer sessions than this (after the session filter) are removed.</summary>
    public int MinUserSessions { get; set; } = 5;

    /// <summary>When set, only each user's most recent N sessions are kept.</summary>
    public int? MaxSessionsPerUser { get; set; }

    /// <summary>Event types dropped before sessionizing (case-insensitive), e.g. <c>delete</c>.</summary>
    public string[] DropEventTypes { get; set; } = [];

    /// <summary>
    /// Outcome value per event type (case-insensitive), e.g. <c>view=1,cart=3,purchase=5</c>: the value of an event
    /// that has none of its own (an event's own value wins). Null: values come from the value column only.
    /// </summary>
    public string? EventTypeValues { get; set; }

    /// <summary>DuckDB's memory_limit for the run; DuckDB spills to disk beyond it.</summary>
    public string MemoryLimit { get; set; } = "2GB";

    /// <summary>Rejects settings that cannot sessionize or filter, with a message naming the key.</summary>
    public void Validate()
    {
        if (SessionGap <= TimeSpan.Zero)
            throw new PipelineException($"{SectionName}:SessionGap must be positive (got {SessionGap})");
        Check(MinItemSupport, nameof(MinItemSupport));
        Check(MinSessionLength, nameof(MinSessionLength));
        Check(MinUserSessions, nameof(MinUserSessions));
        if (MaxSessionsPerUser is < 1)
            throw new PipelineException($"{SectionName}:MaxSessionsPerUser must be at least 1 (got {MaxSessionsPerUser})");
        if (MemoryLimit is null || !MemorySize().IsMatch(MemoryLimit))
            throw new PipelineException($"{SectionName}:MemoryLimit must look like 2GB or 512MB (got '{MemoryLimit}')");
        _ = TypeValues();

        static void Check(int value, string name)
        {
            if (value < 0)
                throw new PipelineException($"{SectionName}:{name} must be 0 or more (got {value})");
        }
    }

    /// <summary>The parsed <see cref="EventTypeValues"/>: lower-cased type names and their values, in the order given.</summary>
    public (string[] Types, double[] Values) TypeValues()
    {
        if (string.IsNullOrWhiteSpace(EventTypeValues)) return ([], []);
        var types = new List<string>();
        var values = new List<double>();
        foreach (var pair in EventTypeValues.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = pair.Split('=', 2, StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || parts[0].Length == 0
                || !double.TryParse(parts[1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value)
                || !double.IsFinite(value))
                throw new PipelineException($"{SectionName}:EventTypeValues '{EventTypeValues}': '{pair}' is not type=number (e.g. view=1,purchase=5)");
            var type = parts[0].ToLowerInvariant();
            if (types.Contains(type))
                throw new PipelineException($"{SectionName}:EventTypeValues '{EventTypeValues}': type '{parts[0]}' given twice");
            types.Add(type);
            values.Add(value);
        }
        return ([.. types], [.. values]);
    }

    [GeneratedRegex(@"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", RegexOptions.IgnoreCase)]
    private static partial Regex MemorySize();
}
