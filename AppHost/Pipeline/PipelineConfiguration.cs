using HrnnPipeline.Features;
using HrnnPipeline.Ingest;
using HrnnPipeline.Scoring;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;
using Microsoft.Extensions.Configuration;

namespace HrnnPipeline.AppHost.Pipeline;

/// <summary>
/// Every stage's settings from the standard .NET configuration chain: appsettings.json (next to the program, then in
/// the current folder), appsettings.{DOTNET_ENVIRONMENT}.json, environment variables (<c>Training__Epochs=5</c>),
/// then the command line's options, which win. Sections are named after the options classes.
/// </summary>
public sealed class PipelineConfiguration
{
    public PipelineConfiguration(IConfiguration configuration, string workDir)
    {
        Configuration = configuration;
        Work = new WorkDirectory(workDir);
        Ingest = configuration.GetSection(IngestOptions.SectionName).Get<IngestOptions>() ?? new IngestOptions();
        Features = configuration.GetSection(FeatureOptions.SectionName).Get<FeatureOptions>() ?? new FeatureOptions();
        Scoring = configuration.GetSection(ScoringOptions.SectionName).Get<ScoringOptions>() ?? new ScoringOptions();
        Training = BindTraining(configuration.GetSection("Training"));
        PostgresConnectionString = configuration.GetConnectionString("postgres");
    }

    public IConfiguration Configuration { get; }
    public WorkDirectory Work { get; }
    public IngestOptions Ingest { get; }
    public FeatureOptions Features { get; }
    public HrnnSettings Training { get; }
    public ScoringOptions Scoring { get; }
    public string? PostgresConnectionString { get; }

    /// <summary>
    /// Checks every stage's settings at once, so a bad value fails the command before the first stage starts
    /// instead of after hours of ingest and prepare.
    /// </summary>
    public PipelineConfiguration Validate()
    {
        Ingest.Validate();
        Features.Validate();
        Training.Validate();
        Scoring.Validate();
        return this;
    }

    public static IConfigurationBuilder Sources(IDictionary<string, string?> commandLine)
    {
        var environment = Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT") ?? "Production";
        return new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true)
            .AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), $"appsettings.{environment}.json"), optional: true)
            .AddEnvironmentVariables()
            .AddInMemoryCollection(commandLine);
    }

    /// <summary>A preset (Training:Preset) first, then every other Training key on top of it. Model and loss accept
    /// the command-line spellings (hrnn-init, bpr-max).</summary>
    static HrnnSettings BindTraining(IConfigurationSection section)
    {
        var preset = section["Preset"];
        var settings = string.IsNullOrWhiteSpace(preset) ? new HrnnSettings() : HrnnSettings.FromPreset(preset);
        var model = section["Model"];
        var loss = section["Loss"];
        var optimizer = section["Optimizer"];
        settings = settings with
        {
            Model = model is null ? settings.Model : HrnnSettings.ParseModel(model),
            Loss = loss is null ? settings.Loss : HrnnSettings.ParseLoss(loss),
            Optimizer = optimizer is null ? settings.Optimizer
                : Enum.TryParse<OptimizerKind>(optimizer, true, out var o) ? o
                : throw new PipelineException($"Training:Optimizer {optimizer}: expected adagrad or adam"),
        };
        // The enums and the preset are handled above; bind the remaining keys (numbers, flags, device).
        var rest = section.AsEnumerable(makePathsRelative: true)
            .Where(kv => kv.Value is not null && kv.Key is not ("Model" or "Loss" or "Optimizer" or "Preset"))
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        try
        {
            new ConfigurationBuilder().AddInMemoryCollection(rest).Build().Bind(settings);
        }
        catch (InvalidOperationException e)
        {
            throw new PipelineException($"Training settings: {e.Message}");
        }
        return settings;
    }
}
