namespace HrnnPipeline.Scoring;

/// <summary>Settings of the scoring stage; binds from the configuration section "Scoring".</summary>
public sealed class ScoringOptions
{
    public const string SectionName = "Scoring";

    /// <summary>Length of each user's published list.</summary>
    public int K { get; set; } = 20;
    /// <summary>Leave out items the user already consumed.</summary>
    public bool ExcludeSeen { get; set; }
    /// <summary>Users run through the model together.</summary>
    public int BatchSize { get; set; } = 512;
    public string Device { get; set; } = "cpu";
}
