using System.Globalization;
using System.Text.Json.Nodes;

namespace HrnnPipeline.Evaluation.Tuning;

/// <summary>
/// One searched setting: where it goes in the settings object (<c>Reminders:Sessions</c> = key Sessions of the
/// Reminders object), how a value is drawn, and when it applies (<see cref="When"/> sees the settings drawn so far,
/// e.g. the momentum only with Adagrad). A dimension whose condition fails keeps the fixed value.
/// </summary>
public abstract record Dimension(string Key)
{
    public Func<JsonObject, bool>? When { get; init; }

    public abstract JsonNode? Draw(Random random);
}

/// <summary>Log-uniform on [Low, High], three significant digits (GRU4Rec-style learning rates).</summary>
public sealed record LogUniform(string Key, double Low, double High) : Dimension(Key)
{
    public override JsonNode Draw(Random random)
    {
        double x = Math.Exp(Math.Log(Low) + random.NextDouble() * (Math.Log(High) - Math.Log(Low)));
        return JsonValue.Create(double.Parse(x.ToString("G3", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture));
    }
}

/// <summary>Uniform on the grid Low, Low + Step, ..., High (GRU4Rec's paramspace files: range and step). Integral
/// grids give integers.</summary>
public sealed record Grid(string Key, double Low, double High, double Step) : Dimension(Key)
{
    public override JsonNode Draw(Random random)
    {
        int steps = (int)Math.Round((High - Low) / Step);
        double x = Math.Round(Low + Step * random.Next(steps + 1), 6);
        bool integral = Low == Math.Floor(Low) && Step == Math.Floor(Step);
        return integral ? JsonValue.Create((int)x) : JsonValue.Create(x);
    }
}

/// <summary>One of the listed values, each equally likely (session-rec's lists; a null value means "off").</summary>
public sealed record OneOf(string Key, params object?[] Values) : Dimension(Key)
{
    public override JsonNode? Draw(Random random) => Values[random.Next(Values.Length)] switch
    {
        null => null,
        int i => JsonValue.Create(i),
        double d => JsonValue.Create(d),
        bool b => JsonValue.Create(b),
        string s => JsonValue.Create(s),
        var other => throw new ArgumentException($"{Key}: unsupported value {other}"),
    };
}

/// <summary>A drawn trial: its full settings (the fixed ones with the drawn ones on top) and what was drawn.</summary>
public sealed record TrialSettings(int Trial, JsonObject Settings, IReadOnlyList<(string Key, JsonNode? Value)> Drawn)
{
    public string Describe() => string.Join(" ", Drawn.Select(d => $"{d.Key}={SettingsJson.Show(d.Value)}"));
}

/// <summary>
/// A model's search: the settings that stay fixed and the dimensions drawn on top of them. Trial t of seed s draws
/// from its own generator (seeded by s and t), so the same seed gives the same trials whatever the trial count, and a
/// resumed search can draw trial t again without drawing the ones before it.
/// </summary>
public sealed class SearchSpace(string model, JsonObject fixedSettings, IReadOnlyList<Dimension> dimensions)
{
    public string Model { get; } = model;
    public JsonObject Fixed { get; } = fixedSettings;
    public IReadOnlyList<Dimension> Dimensions { get; } = dimensions;

    public TrialSettings Sample(int seed, int trial)
    {
        var random = new Random(unchecked(seed * 1_000_003 + trial));
        var settings = Fixed.DeepClone().AsObject();
        var drawn = new List<(string, JsonNode?)>();
        foreach (var dimension in Dimensions)
        {
            if (dimension.When is { } when && !when(settings)) continue;
            var value = dimension.Draw(random);
            Set(settings, dimension.Key, value);
            drawn.Add((dimension.Key, value));
        }
        return new TrialSettings(trial, settings, drawn);
    }

    static void Set(JsonObject settings, string key, JsonNode? value)
    {
        int colon = key.IndexOf(':');
        if (colon < 0)
        {
            settings[key] = value?.DeepClone();
            return;
        }
        var parent = settings[key[..colon]] as JsonObject
            ?? throw new InvalidOperationException($"search space: {key[..colon]} is not an object in the fixed settings");
        Set(parent, key[(colon + 1)..], value);
    }

    /// <summary>A fixed or drawn value by its key (conditions read the settings drawn so far).</summary>
    public static string? Text(JsonObject settings, string key) =>
        settings[key] is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    public static double Number(JsonObject settings, string key) =>
        settings[key] is JsonValue { } v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number
            ? double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture)
            : 0;
}
