using HrnnPipeline.AppHost.Cli;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Tests.EndToEnd;

/// <summary>Runs the real command line in-process and captures what it prints.</summary>
static class Cli
{
    public sealed record Outcome(int ExitCode, string Out, string Error);

    public static async Task<Outcome> RunAsync(params string[] args)
    {
        var (oldOut, oldError) = (Console.Out, Console.Error);
        var (output, error) = (new StringWriter(), new StringWriter());
        Console.SetOut(output);
        Console.SetError(error);
        ProgressReporter.Quiet = true;
        try
        {
            int code = await PipelineCli.InvokeAsync(args);
            return new Outcome(code, output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldError);
        }
    }

    public static string TempDir(string name) => Directory.CreateTempSubdirectory($"hrnn-{name}-").FullName;
}
