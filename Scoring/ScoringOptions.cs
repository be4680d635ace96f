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
    /// <summary>Named filters (<c>Scoring:Filters:&lt;name&gt;</c>), see <see cref="HrnnPipeline.Scoring.Filters.FilterExpression"/>: each gets
    /// its own published list, and the read API applies it per request (<c>?filter=name</c>).</summary>
    public Dictionary<string, string> Filters { get; set; } = new(StringComparer.Ordinal);
    /// <summary>Length of the stored list of a filter with parameters, which the read API filters further per request.</summary>
    public int FilterDepth { get; set; } = 100;

    /// <summary>Share of each list (0 to 1) given to cold items with metadata; 0 = none. See <see cref="HrnnPipeline.Scoring.Filters.ColdItemExploration"/>.</summary>
    public double ExplorationWeight { get; set; }
    /// <summary>An item with fewer events than this in the scored history is cold (never seen included).</summary>
    public int ColdItemMaxInteractions { get; set; } = 10;
    /// <summary>An item first seen within this time of the newest event is cold (zero: age does not count).</summary>
    public TimeSpan ColdItemMaxAge { get; set; }
    /// <summary>Seed of the exploration draw.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Binary and regression models: items whose predicted value is below this are left out of the lists
    /// (null: 0.5 for binary, no filter for regression).</summary>
    public double? MinOutcome { get; set; }

    /// <summary>Score each user against their cluster's candidates only (<see cref="CandidateIndex"/>: users
    /// clustered by their queries, a cluster's centroid's best <see cref="ApproximateCandidates"/> items scored exactly
    /// for its users); false (the default): exact top-k over the whole catalogue. The score summary and each shard's
    /// marker record which was used (<c>scoring_mode</c>).</summary>
    public bool Approximate { get; set; }
    /// <summary>Items a cluster's users are scored against in the approximate mode.</summary>
    public int ApproximateCandidates { get; set; } = 4096;
    /// <summary>Users per cluster (about) in the approximate mode: its centroids' product costs 1/this of exact's.</summary>
    public int ApproximateUsersPerCluster { get; set; } = 32;

    /// <summary>"exact" or "approximate": what score summaries and shard markers record.</summary>
    public string ScoringMode => Approximate ? "approximate" : "exact";

    /// <summary>The lists' computation these settings ask for.</summary>
    public TiledTopK Lists() => new(approximate: Approximate
        ? new CandidateIndex(ApproximateCandidates, ApproximateUsersPerCluster) : null);

    /// <summary>Rejects settings that cannot score, with a message naming the key.</summary>
    public void Validate()
    {
        if (K < 1) throw new PipelineException($"{SectionName}:K {K}: must be >= 1");
        if (BatchSize < 1) throw new PipelineException($"{SectionName}:BatchSize {BatchSize}: must be >= 1");
        if (Device?.ToLowerInvariant() is not ("cpu" or "cuda"))
            throw new PipelineException($"{SectionName}:Device '{Device}': expected cpu or cuda");
        if (!(ExplorationWeight is >= 0 and <= 1)) throw new PipelineException($"{SectionName}:ExplorationWeight {ExplorationWeight}: must be between 0 and 1");
        if (ColdItemMaxInteractions < 0) throw new PipelineException($"{SectionName}:ColdItemMaxInteractions {ColdItemMaxInteractions}: must be >= 0");
        if (ColdItemMaxAge < TimeSpan.Zero) throw new PipelineException($"{SectionName}:ColdItemMaxAge {ColdItemMaxAge}: must not be negative");
        if (ApproximateCandidates < 1) throw new PipelineException($"{SectionName}:ApproximateCandidates {ApproximateCandidates}: must be >= 1");
        if (ApproximateUsersPerCluster < 1) throw new PipelineException($"{SectionName}:ApproximateUsersPerCluster {ApproximateUsersPerCluster}: must be >= 1");
        if (FilterDepth < 1) throw new PipelineException($"{SectionName}:FilterDepth {FilterDepth}: must be >= 1");
        _ = HrnnPipeline.Scoring.Filters.FilterSet.From(Filters);
    }
}
