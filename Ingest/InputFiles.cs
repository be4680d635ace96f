using System.Text;
using System.Text.RegularExpressions;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Ingest;

/// <summary>Turns the configured inputs (files, folders, globs) into the ordered list of files to ingest.</summary>
internal static class InputFiles
{
    public static IReadOnlyList<string> Resolve(IEnumerable<string> inputs)
    {
        var files = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in inputs)
        {
            if (string.IsNullOrWhiteSpace(input)) continue;
            foreach (var file in Expand(input))
                if (seen.Add(file)) files.Add(file);
        }
        if (files.Count == 0) throw new PipelineException("Ingest:Input: no input files given");
        return files;
    }

    static IEnumerable<string> Expand(string input)
    {
        if (File.Exists(input)) return [Path.GetFullPath(input)];
        if (Directory.Exists(input))
        {
            // Hidden files and '_'-prefixed markers (_SUCCESS, _metadata) are bookkeeping, not data.
            var files = Directory.GetFiles(input)
                .Where(f => Path.GetFileName(f) is var name && !name.StartsWith('.') && !name.StartsWith('_'))
                .Select(Path.GetFullPath)
                .Order(StringComparer.Ordinal)
                .ToList();
            if (files.Count == 0) throw new PipelineException($"{input}: folder has no files");
            return files;
        }
        if (input.AsSpan().IndexOfAny("*?[") >= 0)
        {
            var matches = Glob(input);
            if (matches.Count == 0) throw new PipelineException($"{input}: no files match");
            return matches;
        }
        throw new PipelineException($"{input}: no such file or folder");
    }

    /// <summary>Files matching a glob: '*' and '?' within a name, '[abc]' sets, '**' for any depth of folders.</summary>
    static List<string> Glob(string pattern)
    {
        var full = Path.GetFullPath(pattern);
        var root = Path.GetPathRoot(full) ?? "/";
        var segments = full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        var results = new List<string>();
        Walk(root, segments, 0, results);
        return results.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
    }

    static void Walk(string folder, string[] segments, int index, List<string> results)
    {
        if (!Directory.Exists(folder)) return;
        var segment = segments[index];
        var last = index == segments.Length - 1;
        if (segment == "**")
        {
            if (last)
            {
                results.AddRange(Directory.GetFiles(folder, "*", SearchOption.AllDirectories));
                return;
            }
            Walk(folder, segments, index + 1, results); // '**' may match no folder at all
            foreach (var sub in Directory.GetDirectories(folder)) Walk(sub, segments, index, results);
            return;
        }
        if (segment.AsSpan().IndexOfAny("*?[") < 0)
        {
            var next = Path.Combine(folder, segment);
            if (last) { if (File.Exists(next)) results.Add(next); }
            else Walk(next, segments, index + 1, results);
            return;
        }
        var regex = ToRegex(segment);
        if (last)
            results.AddRange(Directory.GetFiles(folder).Where(f => regex.IsMatch(Path.GetFileName(f))));
        else
            foreach (var sub in Directory.GetDirectories(folder).Where(d => regex.IsMatch(Path.GetFileName(d))))
                Walk(sub, segments, index + 1, results);
    }

    static Regex ToRegex(string segment)
    {
        var regex = new StringBuilder("^");
        for (int i = 0; i < segment.Length; i++)
        {
            var c = segment[i];
            switch (c)
            {
                case '*': regex.Append("[^/]*"); break;
                case '?': regex.Append("[^/]"); break;
                case '[':
                    var close = segment.IndexOf(']', i + 1);
                    if (close < 0) { regex.Append(@"\["); break; }
                    var set = segment[(i + 1)..close];
                    regex.Append('[').Append(set.StartsWith('!') ? "^" + Regex.Escape(set[1..]) : Regex.Escape(set)).Append(']');
                    i = close;
                    break;
                default: regex.Append(Regex.Escape(c.ToString())); break;
            }
        }
        return new Regex(regex.Append('$').ToString(), RegexOptions.CultureInvariant);
    }
}
