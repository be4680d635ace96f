using System.Runtime.CompilerServices;

namespace HrnnPipeline.Tests;

/// <summary>
/// Gives the test process a temporary folder of its own (TMPDIR, which <see cref="Path.GetTempPath"/> reads) and
/// deletes it when the process exits, so the trainers' checkpoints and the warehouses the tests write into their
/// <c>Directory.CreateTempSubdirectory</c> folders do not pile up in /tmp run after run (about 50 MB a full run).
/// Compiled into the test projects that start no server or child process (those keep the machine's temp folder).
/// </summary>
static class TestTempRoot
{
    [ModuleInitializer]
    internal static void Isolate()
    {
        var root = Directory.CreateTempSubdirectory("hrnn-tests-").FullName;
        Environment.SetEnvironmentVariable("TMPDIR", root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
                // A file still open at exit: the folder stays, as every folder did before.
            }
            catch (UnauthorizedAccessException)
            {
            }
        };
    }
}
