using HrnnPipeline.Evaluation.Tuning;
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
    readonly IConfigurationSection _training;

    public PipelineConfiguration(IConfiguration configuration, string workDir)
    {
        Configuration = configuration;
        Work = new WorkDirectory(workDir);
        Ingest = configuration.GetSection(IngestOptions.SectionName).Get<IngestOptions>() ?? new IngestOptions();
        Features = configuration.GetSection(FeatureOptions.SectionName).Get<FeatureOptions>() ?? new FeatureOptions();
        Scoring = configuration.GetSection(ScoringOptions.SectionName).Get<ScoringOptions>() ?? new ScoringOptions();
        _training = configuration.GetSection("Training");
        Training = BindTraining(_training, out var tuned);
        Tuned = tuned;
        PostgresConnectionString = configuration.GetConnectionString("postgres");
    }

    public IConfiguration Configuration { get; }
    public WorkDirectory Work { get; }
    public IngestOptions Ingest { get; }
    public FeatureOptions Features { get; }
    public HrnnSettings Training { get; }
    /// <summary>The preset file Training:Preset names, if it names one (<see cref="TunedPreset"/>): an HRNN model's
    /// preset is the base of <see cref="Training"/>; a baseline's is for `evaluate` to apply to that baseline.</summary>
    public TunedPreset? Tuned { get; }
    public ScoringOptions Scoring { get; }
    public string? PostgresConnectionString { get; }

    /// <summary>
    /// Checks every stage's settings at once, so a bad value fails the command before the first stage starts
    /// instead of after hours of ingest and prepare.
    /// </summary>
    /// <param name="acceptsBaselinePreset">Whether the command applies a baseline's preset file (`evaluate`); every
    /// other command trains an HRNN model and refuses one.</param>
    public PipelineConfiguration Validate(bool acceptsBaselinePreset = false)
    {
        if (Tuned is { IsRnn: false } && !acceptsBaselinePreset) _ = Tuned.Training; // throws: a baseline's settings
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

    /// <summary>
    /// The Training settings of one RNN model that `evaluate` compares: a preset file applies to the model it was
    /// tuned for only, the other models get the Training section without it (defaults and every other key).
    /// </summary>
    public HrnnSettings TrainingFor(ModelKind model) => Tuned is { IsRnn: true } tuned && tuned.Training.Model != model
        ? BindTraining(_training, out _, withTunedPreset: false) with { Model = model }
        : Training with { Model = model };

    /// <summary>A preset (Training:Preset: a name, or a file `tune` wrote) first, then every other Training key on top
    /// of it. Model and loss accept the command-line spellings (hrnn-init, bpr-max).</summary>
    static HrnnSettings BindTraining(IConfigurationSection section, out TunedPreset? tuned, bool withTunedPreset = true)
    {
        var preset = section["Preset"];
        var model = section["Model"];
        tuned = null;
        HrnnSettings settings;
        if (string.IsNullOrWhiteSpace(preset)) settings = new HrnnSettings();
        else if (HrnnSettings.Presets.ContainsKey(preset) || !TunedPreset.IsFile(preset)) settings = HrnnSettings.FromPreset(preset);
        else
        {
            tuned = TunedPreset.Read(preset);
            settings = tuned.IsRnn && withTunedPreset ? tuned.Training : new HrnnSettings();
            if (tuned.IsRnn && withTunedPreset && model is not null && HrnnSettings.ParseModel(model) != settings.Model)
                throw new PipelineException($"{tuned.Path}: model: tuned for {tuned.Model}, but Training:Model (--model) is {model}; " +
                    "a tuned preset applies to the model it was tuned for");
        }
        var loss = section["Loss"];
        var optimizer = section["Optimizer"];
        var outcome = section["Outcome"];
        settings = settings with
        {
            Model = model is null ? settings.Model : HrnnSettings.ParseModel(model),
            Loss = loss is null ? settings.Loss : HrnnSettings.ParseLoss(loss),
            Optimizer = optimizer is null ? settings.Optimizer
                : Enum.TryParse<OptimizerKind>(optimizer, true, out var o) ? o
                : throw new PipelineException($"Training:Optimizer {optimizer}: expected adagrad or adam"),
            Outcome = outcome is null ? settings.Outcome : HrnnSettings.ParseOutcome(outcome),
        };
        // The enums and the preset are handled above; bind the remaining keys (numbers, flags, device).
        var rest = section.AsEnumerable(makePathsRelative: true)
            .Where(kv => kv.Value is not null && kv.Key is not ("Model" or "Loss" or "Optimizer" or "Preset" or "Outcome"))
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
