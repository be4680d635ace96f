using HrnnPipeline.AppHost;
using HrnnPipeline.AppHost.Cli;
using HrnnPipeline.ServiceDefaults;

// `dotnet run --project AppHost -- <command>` is the pipeline's command line (run, trigger, train, ...), in this
// process; with no command the AppHost brings up the whole deployment as an Aspire app model.
if (PipelineCommandLine.IsCommand(args)) return await PipelineCli.InvokeAsync(args);

var builder = DistributedApplication.CreateBuilder(LocalDashboard.WithDefaults(args));
try
{
    await builder.AddHrnnPipelineAsync();
}
catch (PipelineException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
await using var app = builder.Build();
await app.RunAsync();
return 0;
