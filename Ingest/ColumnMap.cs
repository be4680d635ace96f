using System.Globalization;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Ingest;

/// <summary>The event fields an input column can feed.</summary>
internal enum EventField { User, Item, Timestamp, Session, Type, Value }

/// <summary>
/// Which input column (by 0-based position) feeds each event field. Positions come from the Columns option, a
/// header row's names, or the default user,item,timestamp.
/// </summary>
internal sealed class ColumnMap
{
    static readonly EventField[] Needed = [EventField.User, EventField.Item, EventField.Timestamp];

    // Keys are names lower-cased with '_', '-', '.' and spaces removed, so USER_ID, UserId and user-id all match.
    static readonly Dictionary<string, EventField> Aliases = new(StringComparer.Ordinal)
    {
        ["userid"] = EventField.User, ["user"] = EventField.User,
        ["itemid"] = EventField.Item, ["item"] = EventField.Item,
        ["timestamp"] = EventField.Timestamp, ["ts"] = EventField.Timestamp, ["time"] = EventField.Timestamp,
        ["sessionid"] = EventField.Session, ["session"] = EventField.Session,
        ["eventtype"] = EventField.Type, ["type"] = EventField.Type, ["event"] = EventField.Type,
        // OUTCOME as skrec names it: the value (a rating, 1/0, revenue) the training modes read.
        ["value"] = EventField.Value, ["outcome"] = EventField.Value,
    };

    public ColumnMap(IReadOnlyDictionary<EventField, int> positions) => Positions = positions;

    public IReadOnlyDictionary<EventField, int> Positions { get; }

    public int? this[EventField field] => Positions.TryGetValue(field, out var p) ? p : null;
    public int Width => Positions.Values.Max() + 1;

    public static ColumnMap Default { get; } = new(new Dictionary<EventField, int>
    {
        [EventField.User] = 0, [EventField.Item] = 1, [EventField.Timestamp] = 2,
    });

    public static EventField? Match(string name)
    {
        var key = new string(name.Trim().Trim('"', '\'', '\uFEFF').ToLowerInvariant()
            .Where(c => c is not ('_' or '-' or '.' or ' ')).ToArray());
        return Aliases.TryGetValue(key, out var field) ? field : null;
    }

    /// <summary>Parses the Columns option ("user,item,timestamp[,session][,type]"); null when not set.</summary>
    public static ColumnMap? FromOption(string? columns)
    {
        if (string.IsNullOrWhiteSpace(columns)) return null;
        var positions = new Dictionary<EventField, int>();
        var names = columns.Split(',');
        for (int i = 0; i < names.Length; i++)
        {
            var name = names[i].Trim();
            if (name is "" or "_" or "-") continue;
            var field = Match(name) ?? throw new PipelineException(
                $"Ingest:Columns '{columns}': unknown column '{name}' (use user, item, timestamp, session, type, value)");
            if (!positions.TryAdd(field, i))
                throw new PipelineException($"Ingest:Columns '{columns}': {Describe(field)} given twice");
        }
        var missing = Needed.Where(f => !positions.ContainsKey(f)).ToList();
        if (missing.Count > 0)
            throw new PipelineException($"Ingest:Columns '{columns}': no {string.Join("/", missing.Select(Describe))} column");
        return new ColumnMap(positions);
    }

    /// <summary>Maps column names (a header row, Parquet columns, JSON keys); throws naming what is missing.</summary>
    public static ColumnMap FromNames(IReadOnlyList<string> names, string where)
    {
        var positions = new Dictionary<EventField, int>();
        for (int i = 0; i < names.Count; i++)
            if (Match(names[i]) is { } field) positions.TryAdd(field, i); // the first of duplicate names wins
        var missing = Needed.Where(f => !positions.ContainsKey(f)).ToList();
        if (missing.Count > 0)
        {
            var found = names.Count == 0 ? "nothing" : string.Join(", ", names.Select(n => n.Trim()));
            throw new PipelineException(
                $"{where}: no {string.Join("/", missing.Select(Describe))} column{(missing.Count > 1 ? "s" : "")} (found: {found})");
        }
        return new ColumnMap(positions);
    }

    public static string Describe(EventField field) => field.ToString().ToLowerInvariant();

    /// <summary>
    /// Whether the first row of a delimited file is a header: its timestamp field is not a number or date and its
    /// fields are names (known ones, or no field at all that reads as a number or date).
    /// </summary>
    public static bool LooksLikeHeader(IReadOnlyList<string> fields, ColumnMap? columns)
    {
        if (fields.All(f => f.Trim().Length == 0)) return false;
        var knownNames = fields.Select(Match).ToList();
        int timestampAt = columns?[EventField.Timestamp]
            ?? (knownNames.IndexOf(EventField.Timestamp) is var named and >= 0 ? named : 2);
        if (timestampAt < fields.Count && IsNumberOrDate(fields[timestampAt])) return false;
        return knownNames.Any(k => k is not null) || fields.All(f => !IsNumberOrDate(f));
    }

    public static bool IsNumberOrDate(string text)
    {
        var s = text.Trim().Trim('"');
        if (s.Length == 0) return false;
        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _)) return true;
        // A date starts with a digit; this keeps names like "May" or "time" from parsing as dates.
        return char.IsAsciiDigit(s[0])
            && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out _);
    }
}
