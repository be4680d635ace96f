using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Evaluation.Tuning;

/// <summary>
/// A model's settings as a JSON object keyed by the options' own names (<c>LearningRate</c>, <c>Steps</c>,
/// <c>Reminders: { Sessions }</c>): for the HRNN models exactly the Training configuration keys, so a preset's
/// settings can be pasted into appsettings.json. Enums are spelled as on the command line ("bpr-max", "quadratic");
/// only settable properties appear (a computed property such as <c>HasUserGru</c> is no setting).
/// </summary>
public static class SettingsJson
{
    static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = null,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false) },
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { SettableOnly } },
    };

    static readonly JsonSerializerOptions Compact = new() { WriteIndented = false };

    public static JsonObject ToJson<T>(T value) where T : class =>
        JsonSerializer.SerializeToNode(value, Options)!.AsObject();

    /// <summary>Reads settings written by <see cref="ToJson"/> (or a subset of them: missing keys keep their defaults).</summary>
    public static T FromJson<T>(JsonObject settings) where T : class =>
        settings.Deserialize<T>(Options) ?? throw new JsonException("null settings");

    /// <summary>One line, keys in their order: how trial settings are compared and recorded.</summary>
    public static string Canonical(JsonNode? node) => node?.ToJsonString(Compact) ?? "null";

    /// <summary>A value as the progress lines show it: numbers invariant and short, strings bare, null as "off".</summary>
    public static string Show(JsonNode? value) => value switch
    {
        null => "off",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        JsonValue v when v.GetValueKind() == JsonValueKind.Number =>
            double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture).ToString("G4", CultureInfo.InvariantCulture),
        _ => Canonical(value),
    };

    /// <summary>
    /// Checks a settings object read from a file against the options type <typeparamref name="T"/>, key by key, and
    /// returns the complete settings (<paramref name="defaults"/> with the given keys on top). Each key is checked
    /// alone on top of the defaults, so a bad value fails with a message naming that key
    /// (<c>where.Steps: ...</c>); nested settings objects (Reminders) are checked key by key the same way.
    /// </summary>
    public static JsonObject Check<T>(JsonObject defaults, JsonObject given, string where, Action<T> validate) where T : class
    {
        var result = defaults.DeepClone().AsObject();
        foreach (var (key, value) in given)
        {
            var property = Property(typeof(T), key, where);
            if (IsSettingsObject(property.PropertyType) && value is JsonObject nested)
            {
                var nestedResult = result[key] as JsonObject ?? ToJson(Activator.CreateInstance(property.PropertyType)!);
                foreach (var (subKey, subValue) in nested)
                {
                    var subProperty = Property(property.PropertyType, subKey, $"{where}.{key}");
                    var trial = defaults.DeepClone().AsObject();
                    trial[key] = nestedResult.DeepClone();
                    trial[key]![subKey] = subValue?.DeepClone();
                    CheckOne(trial, subProperty, subValue, $"{where}.{key}.{subKey}", validate);
                    nestedResult[subKey] = subValue?.DeepClone();
                }
                result[key] = nestedResult;
                continue;
            }
            var single = defaults.DeepClone().AsObject();
            single[key] = value?.DeepClone();
            CheckOne(single, property, value, $"{where}.{key}", validate);
            result[key] = value?.DeepClone();
        }
        try
        {
            validate(FromJson<T>(result));
        }
        catch (PipelineException e)
        {
            throw new PipelineException($"{where}: {e.Message}");
        }
        return result;
    }

    static void CheckOne<T>(JsonObject settings, PropertyInfo property, JsonNode? value, string where, Action<T> validate) where T : class
    {
        T parsed;
        try
        {
            parsed = FromJson<T>(settings);
        }
        catch (JsonException)
        {
            throw new PipelineException($"{where}: {Canonical(value)} is not {Expected(property.PropertyType)}");
        }
        try
        {
            validate(parsed);
        }
        catch (PipelineException e)
        {
            throw new PipelineException($"{where}: {e.Message}");
        }
    }

    static PropertyInfo Property(Type type, string key, string where)
    {
        var keys = Keys(type);
        return keys.FirstOrDefault(p => p.Name == key) ?? throw new PipelineException(
            keys.FirstOrDefault(p => p.Name.Equals(key, StringComparison.OrdinalIgnoreCase)) is { } near
                ? $"{where}.{key}: unknown key (did you mean {near.Name}?)"
                : $"{where}.{key}: unknown key (known: {string.Join(", ", keys.Select(p => p.Name))})");
    }

    /// <summary>The settable properties of <paramref name="type"/>: the keys a settings object may hold.</summary>
    static List<PropertyInfo> Keys(Type type) => type
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.SetMethod is { IsPublic: true })
        .ToList();

    static bool IsSettingsObject(Type type) => type.IsClass && type != typeof(string);

    /// <summary>What a key of this type takes, for error messages.</summary>
    static string Expected(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type.IsEnum) return "one of " + string.Join(", ", Enum.GetNames(type).Select(JsonNamingPolicy.KebabCaseLower.ConvertName));
        if (type == typeof(bool)) return "true or false";
        if (type == typeof(string)) return "a string";
        if (type == typeof(int) || type == typeof(long)) return "an integer";
        if (type.IsPrimitive || type == typeof(decimal)) return "a number";
        return "an object (or null: off)";
    }

    /// <summary>A JSON parse error's reason on one line, without the position details that follow it.</summary>
    public static string Reason(JsonException e)
    {
        var message = e.Message;
        int details = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (details < 0) details = message.IndexOf(" LineNumber: ", StringComparison.Ordinal);
        return (details < 0 ? message : message[..details]).ReplaceLineEndings(" ").Trim().TrimEnd('.');
    }

    static void SettableOnly(JsonTypeInfo info)
    {
        if (info.Kind != JsonTypeInfoKind.Object) return;
        foreach (var property in info.Properties.Where(p => p.Set is null).ToList()) info.Properties.Remove(property);
    }
}
