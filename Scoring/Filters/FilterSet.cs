using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Scoring.Filters;

/// <summary>The configured filters by name (<c>Scoring:Filters</c>), parsed once.</summary>
public sealed class FilterSet
{
    FilterSet(IReadOnlyList<FilterExpression> filters) => Filters = filters;

    public IReadOnlyList<FilterExpression> Filters { get; }
    public bool IsEmpty => Filters.Count == 0;

    public static FilterSet From(IReadOnlyDictionary<string, string>? configured) =>
        new((configured ?? new Dictionary<string, string>()).OrderBy(f => f.Key, StringComparer.Ordinal)
            .Select(f => FilterExpression.Parse(f.Key, f.Value)).ToList());

    /// <summary>The filter of that name; an unknown name is a request error naming the configured ones.</summary>
    public FilterExpression Get(string name) =>
        Filters.FirstOrDefault(f => f.Name == name) ?? throw new FilterRequestException(
            $"unknown filter '{name}'" + (IsEmpty ? " (no filters are configured: Scoring:Filters)" : $" (configured: {string.Join(", ", Filters.Select(f => f.Name))})"));

    /// <summary>Refuses filters over item fields the metadata does not have, naming the filter and the field.</summary>
    public void CheckFields(ItemFields fields)
    {
        foreach (var filter in Filters)
            foreach (var clause in filter.Clauses.OfType<ItemClause>())
            {
                if (!fields.NumericFields.ContainsKey(clause.Field))
                    throw new PipelineException($"{ScoringOptions.SectionName}:Filters:{filter.Name}: no item field '{clause.Field}' " +
                        (fields.NumericFields.Count == 0 ? "(no item metadata was ingested: --items FILE)" : $"(fields: {string.Join(", ", fields.NumericFields.Keys)})"));
                if (fields.NumericFields[clause.Field])
                    foreach (var literal in clause.Values.Select(v => v.Literal).OfType<string>())
                        if (!double.TryParse(literal, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _))
                            throw new PipelineException($"{ScoringOptions.SectionName}:Filters:{filter.Name}: '{literal}' is not a number ({clause.Field} is numeric)");
            }
    }
}
