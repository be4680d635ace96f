using HrnnPipeline.AppHost.Cli;

return await PipelineCli.InvokeAsync(args);
