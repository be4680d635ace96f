namespace HrnnPipeline.ServiceDefaults;

/// <summary>
/// The one place that names the files a pipeline run leaves in its work folder, so every stage (and every
/// machine sharing the folder) agrees on them.
/// </summary>
public sealed class WorkDirectory
{
    public WorkDirectory(string root)
    {
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }
    /// <summary>The DuckDB warehouse: raw events, rejected rows, sessions, id maps and the embedded publish tables.</summary>
    public string Warehouse => Path.Combine(Root, "warehouse.duckdb");
    /// <summary>Arrow IPC files written by Features and streamed by Training, Scoring and evaluation.</summary>
    public string Prepared => Ensure(Path.Combine(Root, "prepared"));
    public string Models => Ensure(Path.Combine(Root, "models"));
    public string Checkpoints => Ensure(Path.Combine(Root, "checkpoints"));
    public string Scores => Ensure(Path.Combine(Root, "scores"));
    public string Exports => Ensure(Path.Combine(Root, "exports"));

    public string PreparedFile(string name) => Path.Combine(Prepared, name);
    public string SummaryFile(string stage) => Path.Combine(Root, $"{stage}-summary.json");

    static string Ensure(string path)
    {
        Directory.CreateDirectory(path);
        return path;
    }
}
