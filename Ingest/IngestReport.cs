using System.Globalization;
using System.Text;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Ingest;

/// <summary>
/// What happened to one input file. <see cref="TimeUnit"/> is <c>s</c>, <c>ms</c> or <c>iso</c> (text timestamps
/// only); <see cref="TimeUnitDetected"/> says it was chosen from the data rather than configured. A skipped file
/// (same content already ingested) carries the format and unit of that earlier ingest and counts of zero.
/// </summary>
public sealed record IngestedFile(
    string Path,
    string Sha256,
    int FileId,
    string Format,
    string TimeUnit,
    bool TimeUnitDetected,
    long Accepted,
    long Rejected,
    bool Skipped);

/// <summary>The outcome of one ingest run, file by file in input order.</summary>
public sealed class IngestReport(IReadOnlyList<IngestedFile> files)
{
    public IReadOnlyList<IngestedFile> Files { get; } = files;
    public long Accepted => Files.Sum(f => f.Accepted);
    public long Rejected => Files.Sum(f => f.Rejected);
    public int SkippedFiles => Files.Count(f => f.Skipped);
    /// <summary>The item and user metadata files loaded with the events (none without --items/--users).</summary>
    public IReadOnlyList<Metadata.MetadataReport> Metadata { get; set; } = [];
    /// <summary>Wall time per ingest step, summed over the files.</summary>
    public IReadOnlyList<StepTime> Timings { get; init; } = [];

    public override string ToString()
    {
        var text = new StringBuilder();
        var loaded = Files.Count - SkippedFiles;
        text.Append(CultureInfo.InvariantCulture,
            $"Ingested {loaded} of {Files.Count} file{(Files.Count == 1 ? "" : "s")}");
        if (SkippedFiles > 0) text.Append(CultureInfo.InvariantCulture, $" ({SkippedFiles} skipped: already ingested)");
        text.Append(CultureInfo.InvariantCulture, $": {Accepted:N0} events accepted, {Rejected:N0} rejected.");
        foreach (var file in Files)
        {
            text.Append(' ').Append(System.IO.Path.GetFileName(file.Path)).Append(": ");
            if (file.Skipped)
            {
                text.Append(CultureInfo.InvariantCulture, $"skipped (same content as file {file.FileId});");
                continue;
            }
            var unit = file.TimeUnit switch { "s" => "seconds", "ms" => "milliseconds", _ => "ISO-8601 text" };
            text.Append(CultureInfo.InvariantCulture,
                $"{file.Format}, timestamps in {unit}{(file.TimeUnitDetected ? " (detected)" : "")}, " +
                $"{file.Accepted:N0} accepted, {file.Rejected:N0} rejected;");
        }
        if (text[^1] == ';') text[^1] = '.';
        foreach (var metadata in Metadata) text.Append(' ').Append(metadata).Append('.');
        return text.ToString();
    }
}
