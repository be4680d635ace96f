using HrnnPipeline.Scoring;
using HrnnPipeline.Scoring.Filters;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Tests.Scoring;

public sealed class FilterExpressionTests
{
    static readonly ItemFields Catalogue = new([
        ("i1", "category", "drama"), ("i1", "category", "comedy"), ("i1", "price", "9.5"), ("i1", "in_stock", "true"),
        ("i2", "category", "adult"), ("i2", "price", "12"), ("i2", "in_stock", "false"),
        ("i3", "category", "kids"), ("i3", "price", "12.0"), ("i3", "in_stock", "TRUE"),
        // i4 has no metadata at all
    ], new Dictionary<string, bool> { ["category"] = false, ["price"] = true, ["in_stock"] = false });

    static readonly string[] Items = ["i1", "i2", "i3", "i4"];

    static List<string> Kept(string text, Dictionary<string, string>? values = null)
    {
        var filter = BoundFilter.Bind(FilterExpression.Parse("f", text), values ?? []);
        return Items.Where(i => filter.KeepItem(Catalogue, i)).ToList();
    }

    [Fact]
    public void Include_and_exclude_clauses_over_categorical_multi_valued_numeric_and_boolean_fields()
    {
        Assert.Equal(["i1", "i3", "i4"], Kept("exclude item where category = 'adult'"));
        Assert.Equal(["i1", "i3"], Kept("include item where in_stock = true"));
        Assert.Equal(["i1"], Kept("include items where category = 'comedy'")); // one of i1's several values
        Assert.Equal(["i2", "i3"], Kept("INCLUDE item WHERE price = 12")); // 12 and 12.0 are the same number
        Assert.Equal(["i1", "i4"], Kept("exclude item where category in ('adult', 'kids')"));
        Assert.Equal(["i2", "i3", "i4"], Kept("include item where category not in ('drama')")); // no value: not 'drama'
        Assert.Equal(["i2", "i3"], Kept("exclude item where price != 12")); // no price: not 12
        Assert.Equal(["i1", "i3", "i4"], Kept("include item where category != 'adult'"));
        Assert.Equal(["i3"], Kept("include item where in_stock = true and exclude item where category = 'drama'"));
        Assert.Equal(["i1"], Kept("include item where in_stock = true; include item where price = 9.5"));
    }

    [Fact]
    public void Parameters_are_filled_per_request_and_checked()
    {
        var filter = FilterExpression.Parse("bycat", "include item where category = $category; exclude item where price = $price");
        Assert.Equal(["category", "price"], filter.Parameters);
        Assert.Equal(["i1"], Kept(filter.Text, new() { ["category"] = "drama", ["price"] = "1" }));
        Assert.Equal([], Kept(filter.Text, new() { ["category"] = "drama", ["price"] = "9.50" }));

        Assert.Contains("needs parameter 'price'",
            Assert.Throws<FilterRequestException>(() => BoundFilter.Bind(filter, new Dictionary<string, string> { ["category"] = "x" })).Message);
        Assert.Contains("has no parameter 'colour' (its parameters: category, price)",
            Assert.Throws<FilterRequestException>(() => BoundFilter.Bind(filter,
                new Dictionary<string, string> { ["category"] = "x", ["price"] = "1", ["colour"] = "red" })).Message);
        Assert.Contains("parameter 'price' of filter 'bycat': 'cheap' is not a number",
            Assert.Throws<FilterRequestException>(() => BoundFilter.Bind(filter,
                new Dictionary<string, string> { ["category"] = "x", ["price"] = "cheap" }, Catalogue)).Message);
        // The scoring-time part leaves the parameterised clauses to the request.
        var bound = BoundFilter.Bind(filter, new Dictionary<string, string> { ["category"] = "kids", ["price"] = "12" });
        Assert.All(Items, i => Assert.True(bound.KeepItem(Catalogue, i, parameterised: false)));
        Assert.Equal([], Items.Where(i => bound.KeepItem(Catalogue, i, parameterised: true)));
    }

    [Fact]
    public void History_clauses_parse_with_and_without_a_window()
    {
        Assert.Equal(7, BoundFilter.Unbound(FilterExpression.Parse("fresh", "exclude items the user consumed in the last 7 days")).HistoryDays);
        Assert.Equal(0.5, BoundFilter.Unbound(FilterExpression.Parse("fresh", "exclude item the user consumed in the last 0.5 day")).HistoryDays);
        Assert.Equal(double.PositiveInfinity, BoundFilter.Unbound(FilterExpression.Parse("unseen", "exclude items the user consumed")).HistoryDays);
        Assert.Null(BoundFilter.Unbound(FilterExpression.Parse("x", "exclude item where category = 'a'")).HistoryDays);
    }

    [Theory]
    [InlineData("exclude item wher category = 'adult'", "expected 'where', found 'wher' at column 14")]
    [InlineData("exclude item where category = ", "expected a value, found the end")]
    [InlineData("exclude item where category == 'a'", "expected a value")]
    [InlineData("remove item where category = 'a'", "expected 'include' or 'exclude', found 'remove' at column 1")]
    [InlineData("exclude item where category = 'adult", "unterminated text starting at column 31")]
    [InlineData("exclude item where category in 'a'", "expected '(', found 'a' at column 32")]
    [InlineData("exclude items the user consumed in the last -3 days", "expected a positive number of days, found '-3'")]
    [InlineData("exclude items the user consumed in the last 3 weeks", "expected 'days', found 'weeks'")]
    [InlineData("exclude item where category = 'a' or exclude item where category = 'b'", "expected ';' or 'and' between clauses, found 'or'")]
    [InlineData("exclude item where category = $", "expected a parameter name after '$'")]
    [InlineData("", "empty filter")]
    public void Bad_filters_are_refused_naming_the_filter_and_where_parsing_stopped(string text, string message)
    {
        var error = Assert.Throws<PipelineException>(() => FilterExpression.Parse("kids", text));
        Assert.StartsWith("Scoring:Filters:kids: ", error.Message);
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Configured_filters_are_checked_with_the_scoring_options_and_against_the_metadata()
    {
        var options = new ScoringOptions { Filters = new() { ["adult"] = "exclude item where category = 'adult'", ["bad"] = "exclude" } };
        Assert.Contains("Scoring:Filters:bad: expected 'item' or 'items', found the end", Assert.Throws<PipelineException>(options.Validate).Message);

        var set = FilterSet.From(new Dictionary<string, string> { ["colour"] = "include item where colour = 'red'" });
        Assert.Contains("Scoring:Filters:colour: no item field 'colour' (fields: category, price, in_stock)",
            Assert.Throws<PipelineException>(() => set.CheckFields(Catalogue)).Message);
        Assert.Contains("no item metadata was ingested", Assert.Throws<PipelineException>(() => set.CheckFields(ItemFields.Empty)).Message);
        Assert.Contains("'cheap' is not a number (price is numeric)", Assert.Throws<PipelineException>(() =>
            FilterSet.From(new Dictionary<string, string> { ["p"] = "include item where price = 'cheap'" }).CheckFields(Catalogue)).Message);
        Assert.Contains("unknown filter 'nope' (configured: colour)", Assert.Throws<FilterRequestException>(() => set.Get("nope")).Message);
    }
}
