using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Scoring;

/// <summary>Settings of the scoring stage; binds from the configuration section "Scoring".</summary>
public sealed class ScoringOptions
{
    public const string SectionName = "Scoring";

    /// <summary>Length of each user's published list.</summary>
    public int K { get; set; } = 20;
    /// <summary>Rank the items a user already consumed after every unseen one: they appear only in the lists of users
    /// with fewer unseen items than <see cref="K"/>, at the last ranks, so every list stays <see cref="K"/> long.</summary>
    public bool ExcludeSeen { get; set; }
    /// <summary>Users run through the model together.</summary>
    public int BatchSize { get; set; } = 512;
    public string Device { get; set; } = "cpu";

    /// <summary>Binary and regression models: items whose predicted value is below this are left out of the lists
    /// (null: 0.5 for binary, no filter for regression).</summary>
    public double? MinOutcome { get; set; }

    /// <summary>Rejects settings that cannot score, with a message naming the key.</summary>
    public void Validate()
    {
        if (K < 1) throw new PipelineException($"{SectionName}:K {K}: must be >= 1");
        if (BatchSize < 1) throw new PipelineException($"{SectionName}:BatchSize {BatchSize}: must be >= 1");
        if (Device?.ToLowerInvariant() is not ("cpu" or "cuda"))
            throw new PipelineException($"{SectionName}:Device '{Device}': expected cpu or cuda");
    }
}
