using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Ingest.Metadata;

/// <summary>Whose metadata a file holds: the items' (catalogue) or the users'.</summary>
public enum MetadataKind { Items, Users }

/// <summary>Categorical fields hold strings (several values separated by '|'); numeric ones hold numbers.</summary>
public enum MetadataType { Categorical, Numeric }

public sealed record MetadataField(string Name, MetadataType Type)
{
    public string TypeName => Type == MetadataType.Numeric ? "num" : "cat";
}

/// <summary>
/// The column list of a metadata file as given (<c>--item-columns id,category:cat,price:num</c>): the id column
/// first, then each metadata column with its type. Columns of the file that the list leaves out are not read.
/// </summary>
public sealed record MetadataColumns(string IdColumn, IReadOnlyList<MetadataField> Fields)
{
    /// <summary>Parses the option; null when not given (the id column and the types are inferred).</summary>
    public static MetadataColumns? FromOption(string? spec, string key)
    {
        if (string.IsNullOrWhiteSpace(spec)) return null;
        var parts = spec.Split(',').Select(p => p.Trim()).ToList();
        if (parts.Any(p => p.Length == 0)) throw new PipelineException($"{key} '{spec}': an empty column name");
        var id = parts[0];
        if (id.Contains(':')) throw new PipelineException($"{key} '{spec}': the first column is the id and takes no type ('{id}')");
        var fields = new List<MetadataField>();
        foreach (var part in parts.Skip(1))
        {
            var colon = part.LastIndexOf(':');
            if (colon <= 0) throw new PipelineException($"{key} '{spec}': column '{part}' needs a type (name:cat or name:num)");
            var name = part[..colon].Trim();
            var type = part[(colon + 1)..].Trim().ToLowerInvariant() switch
            {
                "cat" or "categorical" or "string" => MetadataType.Categorical,
                "num" or "numeric" or "number" => MetadataType.Numeric,
                var other => throw new PipelineException($"{key} '{spec}': column '{name}' has unknown type '{other}' (use cat or num)"),
            };
            if (fields.Any(f => f.Name == name) || name == id) throw new PipelineException($"{key} '{spec}': column '{name}' given twice");
            fields.Add(new MetadataField(name, type));
        }
        return new MetadataColumns(id, fields);
    }

    /// <summary>The id column when none is given: the usual names for the kind, else the first column.</summary>
    public static string GuessId(IReadOnlyList<string> names, MetadataKind kind)
    {
        string[] preferred = kind == MetadataKind.Items ? ["item_id", "itemid", "item", "id"] : ["user_id", "userid", "user", "id"];
        foreach (var p in preferred)
            if (names.FirstOrDefault(n => string.Equals(n.Trim(), p, StringComparison.OrdinalIgnoreCase)) is { } found) return found;
        return names[0];
    }
}
