using System.Text.Json;
using System.Text.Json.Serialization;

namespace HrnnPipeline.ServiceDefaults;

/// <summary>The JSON conventions of every summary file and API response: snake_case, indented, no nulls, enums
/// spelled as on the command line ("hrnn-init", "cross-entropy"; numbers are still read, for older files).</summary>
public static class Json
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public static void Write<T>(string path, T value)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(value, Options));
        File.Move(tmp, path, overwrite: true); // readers never see a half-written summary
    }

    public static T Read<T>(string path) =>
        JsonSerializer.Deserialize<T>(File.ReadAllText(path), Options)
        ?? throw new PipelineException($"{path}: empty JSON document");
}
