using System.Globalization;

namespace HrnnPipeline.Scoring.Filters;

/// <summary>A filter problem a request or a batch line can cause (an unknown filter, a missing or bad parameter):
/// the message names it; the read API answers 400 with it, batch inference writes it as the line's error.</summary>
public sealed class FilterRequestException(string message) : Exception(message);

/// <summary>
/// A filter with its parameters filled: decides which items a list may show. Item clauses read the item's metadata
/// (an item with no value for the field equals no value, so `= v` and `in (...)` are false for it and `!= v` and
/// `not in (...)` true); numeric fields compare as numbers, true/false whatever their case. History clauses are applied where the user's history is known (scoring,
/// batch inference); <see cref="KeepItem"/> checks the item clauses only, optionally only those with parameters.
/// </summary>
public sealed class BoundFilter
{
    readonly IReadOnlyDictionary<string, string> _values;

    BoundFilter(FilterExpression expression, IReadOnlyDictionary<string, string> values)
    {
        Expression = expression;
        _values = values;
    }

    public FilterExpression Expression { get; }

    /// <summary>Fills the filter's parameters; a missing, unknown or (for a numeric field) non-numeric one is refused.</summary>
    public static BoundFilter Bind(FilterExpression filter, IReadOnlyDictionary<string, string> values, ItemFields? fields = null)
    {
        foreach (var key in values.Keys)
            if (!filter.Parameters.Contains(key))
                throw new FilterRequestException($"filter '{filter.Name}' has no parameter '{key}'" +
                    (filter.Parameters.Count == 0 ? " (it takes none)" : $" (its parameters: {string.Join(", ", filter.Parameters)})"));
        foreach (var name in filter.Parameters)
        {
            if (!values.TryGetValue(name, out var value) || string.IsNullOrWhiteSpace(value))
                throw new FilterRequestException($"filter '{filter.Name}' needs parameter '{name}'");
            foreach (var clause in filter.Clauses.OfType<ItemClause>().Where(c => c.Values.Any(v => v.Parameter == name)))
                if (fields is not null && fields.NumericFields.GetValueOrDefault(clause.Field) && !IsNumber(value))
                    throw new FilterRequestException($"parameter '{name}' of filter '{filter.Name}': '{value}' is not a number ({clause.Field} is numeric)");
        }
        return new BoundFilter(filter, values);
    }

    /// <summary>A filter without parameters (for scoring time).</summary>
    public static BoundFilter Unbound(FilterExpression filter) => new(filter, new Dictionary<string, string>());

    /// <summary>Whether the item clauses let <paramref name="itemId"/> through; <paramref name="parameterised"/>: null all
    /// clauses, true only those with parameters, false only those without (the part scoring can apply ahead).</summary>
    public bool KeepItem(ItemFields fields, string itemId, bool? parameterised = null)
    {
        foreach (var clause in Expression.Clauses.OfType<ItemClause>())
        {
            if (parameterised is { } p && clause.HasParameters != p) continue;
            bool numeric = fields.NumericFields.GetValueOrDefault(clause.Field);
            var itemValues = fields.Values(itemId, clause.Field);
            bool any = clause.Values.Any(operand =>
            {
                var wanted = operand.Parameter is { } name ? _values[name] : operand.Literal!;
                return itemValues.Any(v => Same(v, wanted, numeric));
            });
            bool matches = clause.Negated ? !any : any;
            if (matches != clause.Include) return false;
        }
        return true;
    }

    /// <summary>The longest history window (days) of the filter's history clauses; +inf for "ever"; null without one.</summary>
    public double? HistoryDays => Expression.Clauses.OfType<HistoryClause>().Select(h => h.Days ?? double.PositiveInfinity)
        .Cast<double?>().Max();

    static bool Same(string value, string wanted, bool numeric)
    {
        if (numeric && IsNumber(value, out var a) && IsNumber(wanted, out var b)) return a == b;
        return wanted is "true" or "false"
            ? string.Equals(value, wanted, StringComparison.OrdinalIgnoreCase)
            : string.Equals(value, wanted, StringComparison.Ordinal);
    }

    static bool IsNumber(string text) => IsNumber(text, out _);

    static bool IsNumber(string text, out double value) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
}
