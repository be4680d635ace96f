using System.Globalization;
using System.Text;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Scoring.Filters;

/// <summary>A value in a filter: a literal, or a parameter (<c>$name</c>) filled per request.</summary>
public sealed record FilterOperand(string? Literal, string? Parameter)
{
    public override string ToString() => Parameter is { } p ? "$" + p : $"'{Literal}'";
}

/// <summary>One clause of a filter.</summary>
public abstract record FilterClause;

/// <summary><c>include|exclude item where field = v</c>, <c>!= v</c>, <c>in (v, ...)</c>, <c>not in (v, ...)</c>.</summary>
public sealed record ItemClause(bool Include, string Field, bool Negated, IReadOnlyList<FilterOperand> Values) : FilterClause
{
    public bool HasParameters => Values.Any(v => v.Parameter is not null);
}

/// <summary><c>exclude items the user consumed [in the last N days]</c>; <see cref="Days"/> null: ever.</summary>
public sealed record HistoryClause(double? Days) : FilterClause;

/// <summary>
/// A named filter parsed from its text (<c>Scoring:Filters:&lt;name&gt;</c>): clauses separated by <c>;</c> or
/// <c>and</c>, each one of
/// <code>
/// include item where FIELD = VALUE          exclude items where FIELD != VALUE
/// include item where FIELD in (V1, V2)      exclude item where FIELD not in (V1, $param)
/// exclude items the user consumed in the last N days      exclude items the user consumed
/// </code>
/// VALUE: 'quoted text', a number, true/false, or $param (filled per request). Words are case-insensitive; field
/// names and text values are not. Errors name the filter and the column where parsing stopped.
/// </summary>
public sealed class FilterExpression
{
    FilterExpression(string name, string text, IReadOnlyList<FilterClause> clauses)
    {
        Name = name;
        Text = text;
        Clauses = clauses;
        Parameters = clauses.OfType<ItemClause>().SelectMany(c => c.Values).Select(v => v.Parameter).OfType<string>()
            .Distinct(StringComparer.Ordinal).ToList();
    }

    public string Name { get; }
    public string Text { get; }
    public IReadOnlyList<FilterClause> Clauses { get; }
    /// <summary>Parameter names in order of appearance.</summary>
    public IReadOnlyList<string> Parameters { get; }

    public static FilterExpression Parse(string name, string text)
    {
        var where = $"{ScoringOptions.SectionName}:Filters:{name}";
        if (!IsName(name)) throw new PipelineException($"{where}: a filter name is letters, digits, '_' or '-'");
        if (string.IsNullOrWhiteSpace(text)) throw new PipelineException($"{where}: empty filter");
        var parser = new Parser(where, text);
        var clauses = new List<FilterClause> { parser.Clause() };
        while (parser.More)
        {
            if (!parser.TrySymbol(";") && !parser.TryWord("and")) throw parser.Error("';' or 'and' between clauses");
            clauses.Add(parser.Clause());
        }
        return new FilterExpression(name, text, clauses);
    }

    public static bool IsName(string name) => name.Length > 0 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');

    sealed class Parser
    {
        readonly string _where;
        readonly List<(string Text, bool Quoted, int Column)> _tokens;
        int _at;

        public Parser(string where, string text)
        {
            _where = where;
            _tokens = Tokenize(where, text);
        }

        public bool More => _at < _tokens.Count;

        public FilterClause Clause()
        {
            bool include = TryWord("include");
            if (!include) ExpectWord("exclude", "'include' or 'exclude'");
            if (!TryWord("item") && !TryWord("items")) throw Error("'item' or 'items'");
            if (!include && TryWord("the"))
            {
                ExpectWord("user");
                ExpectWord("consumed");
                if (!TryWord("in")) return new HistoryClause(null);
                ExpectWord("the");
                ExpectWord("last");
                var days = Number("a number of days");
                if (days <= 0) throw Error("a positive number of days", back: 1);
                if (!TryWord("days") && !TryWord("day")) throw Error("'days'");
                return new HistoryClause(days);
            }
            ExpectWord("where");
            var field = Field();
            bool negated;
            List<FilterOperand> values;
            if (TrySymbol("=")) (negated, values) = (false, [Operand()]);
            else if (TrySymbol("!=") || TrySymbol("<>")) (negated, values) = (true, [Operand()]);
            else
            {
                negated = TryWord("not");
                if (!TryWord("in")) throw Error(negated ? "'in'" : "'=', '!=', 'in' or 'not in'");
                values = List();
            }
            return new ItemClause(include, field, negated, values);
        }

        List<FilterOperand> List()
        {
            ExpectSymbol("(");
            var values = new List<FilterOperand> { Operand() };
            while (TrySymbol(",")) values.Add(Operand());
            ExpectSymbol(")");
            return values;
        }

        string Field()
        {
            if (!More || _tokens[_at].Quoted || !IsIdentifier(_tokens[_at].Text)) throw Error("a field name");
            return _tokens[_at++].Text;
        }

        FilterOperand Operand()
        {
            if (!More) throw Error("a value");
            var (text, quoted, _) = _tokens[_at];
            if (quoted) { _at++; return new FilterOperand(text, null); }
            if (text.StartsWith('$'))
            {
                if (!IsIdentifier(text[1..])) throw Error("a parameter name after '$'");
                _at++;
                return new FilterOperand(null, text[1..]);
            }
            if (text.Equals("true", StringComparison.OrdinalIgnoreCase) || text.Equals("false", StringComparison.OrdinalIgnoreCase))
            {
                _at++;
                return new FilterOperand(text.ToLowerInvariant(), null);
            }
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _)) { _at++; return new FilterOperand(text, null); }
            throw Error("a value ('text', a number, true, false or $param)");
        }

        double Number(string what)
        {
            if (!More || _tokens[_at].Quoted
                || !double.TryParse(_tokens[_at].Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
                throw Error(what);
            _at++;
            return value;
        }

        public bool TryWord(string word)
        {
            if (!More || _tokens[_at].Quoted || !_tokens[_at].Text.Equals(word, StringComparison.OrdinalIgnoreCase)) return false;
            _at++;
            return true;
        }

        void ExpectWord(string word, string? what = null)
        {
            if (!TryWord(word)) throw Error(what ?? $"'{word}'");
        }

        public bool TrySymbol(string symbol)
        {
            if (!More || _tokens[_at].Quoted || _tokens[_at].Text != symbol) return false;
            _at++;
            return true;
        }

        void ExpectSymbol(string symbol)
        {
            if (!TrySymbol(symbol)) throw Error($"'{symbol}'");
        }

        public PipelineException Error(string expected, int back = 0)
        {
            var at = _at - back;
            var found = at < _tokens.Count ? $"'{_tokens[at].Text}' at column {_tokens[at].Column}" : "the end";
            return new PipelineException($"{_where}: expected {expected}, found {found}");
        }

        static bool IsIdentifier(string text) =>
            text.Length > 0 && (char.IsLetter(text[0]) || text[0] == '_') && text.All(c => char.IsLetterOrDigit(c) || c is '_' or '-' or '.');

        static List<(string, bool, int)> Tokenize(string where, string text)
        {
            var tokens = new List<(string, bool, int)>();
            for (int i = 0; i < text.Length;)
            {
                var c = text[i];
                if (char.IsWhiteSpace(c)) { i++; continue; }
                int column = i + 1;
                if (c is '\'' or '"')
                {
                    var value = new StringBuilder();
                    int j = i + 1;
                    for (; j < text.Length; j++)
                    {
                        if (text[j] != c) { value.Append(text[j]); continue; }
                        if (j + 1 < text.Length && text[j + 1] == c) { value.Append(c); j++; continue; } // '' escapes a quote
                        break;
                    }
                    if (j >= text.Length) throw new PipelineException($"{where}: unterminated text starting at column {column}");
                    tokens.Add((value.ToString(), true, column));
                    i = j + 1;
                    continue;
                }
                if (c is '(' or ')' or ',' or ';' or '=') { tokens.Add((c.ToString(), false, column)); i++; continue; }
                if (c is '!' or '<')
                {
                    var two = i + 1 < text.Length ? text.Substring(i, 2) : "";
                    if (two is not ("!=" or "<>")) throw new PipelineException($"{where}: unexpected '{c}' at column {column}");
                    tokens.Add((two, false, column));
                    i += 2;
                    continue;
                }
                int end = i;
                while (end < text.Length && !char.IsWhiteSpace(text[end]) && text[end] is not ('(' or ')' or ',' or ';' or '=' or '!' or '<' or '\'' or '"'))
                    end++;
                tokens.Add((text[i..end], false, column));
                i = end;
            }
            return tokens;
        }
    }
}
