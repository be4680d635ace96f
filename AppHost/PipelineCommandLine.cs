namespace HrnnPipeline.AppHost;

/// <summary>Tells a pipeline command line (a command of the CLI, or its help) from the app model's own arguments.</summary>
static class PipelineCommandLine
{
    static readonly HashSet<string> HelpAndVersion = ["-h", "-?", "--help", "--version"];

    public static bool IsCommand(string[] args) =>
        args.Length > 0 && (HelpAndVersion.Contains(args[0]) || Cli.PipelineCli.Build().Subcommands.Any(c => c.Name == args[0]));
}
