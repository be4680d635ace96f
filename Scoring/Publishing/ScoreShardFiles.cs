using System.Globalization;
using System.Text.RegularExpressions;
using Apache.Arrow;
using Apache.Arrow.Types;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Scoring.Publishing;

/// <summary>
/// The contract between the scorer and publishing: under <c>&lt;work&gt;/scores/&lt;version&gt;/</c>, shard i of N
/// is <c>recs-i-of-N.arrow</c> (one row per recommended item, ranks 1..k in order), <c>states-i-of-N.arrow</c>
/// (one row per user: the user-level GRU state and the session state s_0 it initialises, little-endian float32)
/// and the marker <c>shard-i-of-N.done</c>, written last, that says both files are complete.
/// </summary>
public static partial class ScoreShardFiles
{
    public static readonly Schema RecommendationSchema = new Schema.Builder()
        .Field(f => f.Name("user_id").DataType(StringType.Default).Nullable(false))
        .Field(f => f.Name("rank").DataType(Int32Type.Default).Nullable(false))
        .Field(f => f.Name("item_id").DataType(StringType.Default).Nullable(false))
        .Field(f => f.Name("score").DataType(FloatType.Default).Nullable(false))
        .Build();

    /// <summary>The layout of a model with a value head (binary, regression): each row also carries the predicted value
    /// of the item (null where the mode has none). Shards of either layout publish.</summary>
    public static readonly Schema RecommendationWithValueSchema = new Schema.Builder()
        .Field(f => f.Name("user_id").DataType(StringType.Default).Nullable(false))
        .Field(f => f.Name("rank").DataType(Int32Type.Default).Nullable(false))
        .Field(f => f.Name("item_id").DataType(StringType.Default).Nullable(false))
        .Field(f => f.Name("score").DataType(FloatType.Default).Nullable(false))
        .Field(f => f.Name("predicted_value").DataType(FloatType.Default).Nullable(true))
        .Build();

    /// <summary>The predicted value of row <paramref name="r"/> of a recommendation batch; null in the plain layout.</summary>
    public static float? PredictedValue(RecordBatch batch, int r) =>
        batch.ColumnCount > 4 && batch.Column(4) is FloatArray values ? values.GetValue(r) : null;

    public static readonly Schema StateSchema = new Schema.Builder()
        .Field(f => f.Name("user_id").DataType(StringType.Default).Nullable(false))
        .Field(f => f.Name("user_state").DataType(BinaryType.Default).Nullable(false))
        .Field(f => f.Name("session_state").DataType(BinaryType.Default).Nullable(false))
        .Build();

    public static string Recommendations(string versionDir, int shard, int shardCount) =>
        Path.Combine(versionDir, $"recs-{Suffix(shard, shardCount)}.arrow");

    public static string States(string versionDir, int shard, int shardCount) =>
        Path.Combine(versionDir, $"states-{Suffix(shard, shardCount)}.arrow");

    public static string DoneMarker(string versionDir, int shard, int shardCount) =>
        Path.Combine(versionDir, $"shard-{Suffix(shard, shardCount)}.done");

    static string Suffix(int shard, int shardCount)
    {
        if (shardCount < 1) throw new ArgumentOutOfRangeException(nameof(shardCount), shardCount, "at least one shard");
        if (shard < 0 || shard >= shardCount) throw new ArgumentOutOfRangeException(nameof(shard), shard, $"0..{shardCount - 1}");
        return string.Create(CultureInfo.InvariantCulture, $"{shard}-of-{shardCount}");
    }

    /// <summary>
    /// Model version names become folder names and PostgreSQL partition bounds, so they are kept to a safe
    /// alphabet: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters.
    /// </summary>
    public static string ValidateVersion(string version)
    {
        if (!VersionPattern().IsMatch(version))
            throw new PipelineException($"model version '{version}' is not a valid name: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
        return version;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex VersionPattern();
}

/// <summary>What a <c>.done</c> marker records, so the publisher can check the files it points at are whole.
/// <see cref="ScoringMode"/>: "exact" or "approximate" (<see cref="ScoringOptions.Approximate"/>); null in markers
/// written before it was recorded, which were exact.</summary>
public sealed record ScoreShardSummary(int Shard, int ShardCount, long Users, long Rows)
{
    public string? ScoringMode { get; init; }
}
