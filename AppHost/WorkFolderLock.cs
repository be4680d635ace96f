using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.AppHost;

/// <summary>
/// One AppHost per work folder: <c>&lt;work&gt;/apphost.lock</c>, held open exclusively (an advisory lock the
/// kernel drops when the process ends, however it ends, so a crashed AppHost never leaves a stale lock). A second
/// AppHost is refused before it starts anything, rather than a second PostgreSQL on the same data folder.
/// </summary>
public sealed class WorkFolderLock : IDisposable
{
    readonly FileStream _file;

    WorkFolderLock(FileStream file) => _file = file;

    public static WorkFolderLock Acquire(WorkDirectory work)
    {
        var path = Path.Combine(work.Root, "apphost.lock");
        try
        {
            var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            return new WorkFolderLock(file);
        }
        catch (IOException)
        {
            throw new PipelineException($"another AppHost already runs on the work folder {work.Root} (it holds {path}): stop it first, or give this one another Pipeline:Work");
        }
    }

    public void Dispose() => _file.Dispose();
}
