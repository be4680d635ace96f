namespace HrnnPipeline.Ingest;

/// <summary>What to ingest and how to read it; binds from the configuration section <see cref="SectionName"/>.</summary>
public sealed class IngestOptions
{
    public const string SectionName = "Ingest";

    /// <summary>
    /// Files, folders (every file directly in it, by name; names starting with '.' or '_' are skipped) or globs
    /// (<c>logs/*.csv</c>, <c>logs/**/*.jsonl</c>), ingested in the order given.
    /// </summary>
    public string[] Input { get; set; } = [];

    /// <summary><c>csv</c>, <c>tsv</c>, <c>jsonl</c> or <c>parquet</c>; null: from the extension, else sniffed.</summary>
    public string? Format { get; set; }

    /// <summary>
    /// Fields by position, e.g. <c>user,item,timestamp,session,type</c> (names: user, item, timestamp, session,
    /// type, value; an empty name or <c>_</c> skips a field). Null: by header names, else user,item,timestamp.
    /// For JSON lines, positions are the key order of the first object.
    /// </summary>
    public string? Columns { get; set; }

    /// <summary>
    /// Unit of numeric timestamps: <c>s</c>, <c>ms</c>, or <c>auto</c>/null, which picks ms for a file whose
    /// largest |timestamp| exceeds 1e11 (year 5138 in seconds) and seconds otherwise.
    /// </summary>
    public string? TimeUnit { get; set; }

    /// <summary>
    /// Largest share of a file's data rows that may be rejected. A file over it is refused whole: none of its events
    /// are added, but its rejected rows stay in <c>rejected_events</c> and the refusal in <c>ingest_failures</c> to
    /// inspect; the run stops there, files before it staying loaded.
    /// </summary>
    public double RejectThreshold { get; set; } = 0.01;

    /// <summary>Item metadata file (CSV, TSV, JSON lines or Parquet): an id column plus categorical or numeric fields.</summary>
    public string? Items { get; set; }
    /// <summary>User metadata file, as <see cref="Items"/>.</summary>
    public string? Users { get; set; }
    /// <summary>Columns of <see cref="Items"/>: <c>id,category:cat,price:num</c>; null: the id by name, types inferred.</summary>
    public string? ItemColumns { get; set; }
    /// <summary>Columns of <see cref="Users"/>, as <see cref="ItemColumns"/>.</summary>
    public string? UserColumns { get; set; }

    /// <summary>Whether delimited files start with a header row; null: detect from the first row.</summary>
    public bool? HasHeader { get; set; }

    /// <summary>
    /// Test hook: runs inside a file's transaction after its rows are written and before it commits, so a test can
    /// fail (or cancel) mid-file. Not configuration.
    /// </summary>
    internal Action<IngestedFile>? BeforeCommit { get; set; }

    /// <summary>Rejects an unknown format, a bad column list, time unit or threshold, before anything is read.</summary>
    public void Validate()
    {
        IngestSettings.From(this);
        Metadata.MetadataColumns.FromOption(ItemColumns, $"{SectionName}:ItemColumns");
        Metadata.MetadataColumns.FromOption(UserColumns, $"{SectionName}:UserColumns");
    }
}
