using HrnnPipeline.AppHost.Cli;

return await PipelineCli.Build().Parse(args).InvokeAsync();
