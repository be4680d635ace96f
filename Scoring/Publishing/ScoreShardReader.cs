using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Scoring.Publishing;

/// <summary>
/// The N complete shards of a scored version, streamed back as Arrow record batches (the caller disposes each).
/// Opening checks every shard's <c>.done</c> marker, so nothing is read from a version still being scored.
/// </summary>
public sealed class ScoreShardReader
{
    ScoreShardReader(string versionDir, IReadOnlyList<ScoreShardSummary> shards)
    {
        VersionDir = versionDir;
        Shards = shards;
    }

    public string VersionDir { get; }
    public int ShardCount => Shards.Count;
    public IReadOnlyList<ScoreShardSummary> Shards { get; }
    /// <summary>Users and recommendation rows as the scorer counted them in the markers.</summary>
    public long Users => Shards.Sum(s => s.Users);
    public long Rows => Shards.Sum(s => s.Rows);
    /// <summary>How the lists were scored, from the markers: "exact", "approximate", or both comma-separated when
    /// shards differ (markers from before the mode was recorded were exact).</summary>
    public string ScoringMode => string.Join(",", Shards.Select(s => s.ScoringMode ?? "exact").Distinct().Order(StringComparer.Ordinal));

    /// <summary>Opens the version if all <paramref name="shardCount"/> shards are done; else a clear error naming them.</summary>
    public static ScoreShardReader Open(string versionDir, int shardCount)
    {
        versionDir = Path.GetFullPath(versionDir);
        if (shardCount < 1)
            throw new PipelineException($"{versionDir}: shard count must be at least 1, got {shardCount}");
        if (!Directory.Exists(versionDir))
            throw new PipelineException($"{versionDir}: no such score folder; run scoring for this version first");
        var missing = MissingShards(versionDir, shardCount);
        if (missing.Count > 0)
        {
            var names = string.Join(", ", missing.Take(5).Select(i => Path.GetFileName(ScoreShardFiles.DoneMarker(versionDir, i, shardCount))));
            var more = missing.Count > 5 ? $" and {missing.Count - 5} more" : "";
            throw new PipelineException(
                $"{versionDir}: {missing.Count} of {shardCount} score shards not done (missing {names}{more}); wait for the scorer or check the shard count");
        }

        var shards = new List<ScoreShardSummary>(shardCount);
        for (int i = 0; i < shardCount; i++)
        {
            var marker = ScoreShardFiles.DoneMarker(versionDir, i, shardCount);
            foreach (var file in new[] { ScoreShardFiles.Recommendations(versionDir, i, shardCount), ScoreShardFiles.States(versionDir, i, shardCount) })
                if (!File.Exists(file))
                    throw new PipelineException($"{file}: missing although {Path.GetFileName(marker)} says shard {i} is done; re-run scoring for shard {i}");
            ScoreShardSummary summary;
            try
            {
                summary = Json.Read<ScoreShardSummary>(marker);
            }
            catch (System.Text.Json.JsonException e)
            {
                throw new PipelineException($"{marker}: unreadable marker ({e.Message}); re-run scoring for shard {i}");
            }
            shards.Add(summary);
        }
        return new ScoreShardReader(versionDir, shards);
    }

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for every shard's marker (shards may be scored on other machines),
    /// then opens the version; past the timeout, the error names the shards still missing.
    /// </summary>
    public static async Task<ScoreShardReader> WaitAsync(string versionDir, int shardCount, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline && (!Directory.Exists(versionDir) || MissingShards(versionDir, shardCount).Count > 0))
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, Math.Max(10, timeout.TotalMilliseconds / 20))), ct);
        return Open(versionDir, shardCount);
    }

    static List<int> MissingShards(string versionDir, int shardCount) =>
        Enumerable.Range(0, shardCount).Where(i => !File.Exists(ScoreShardFiles.DoneMarker(versionDir, i, shardCount))).ToList();

    public IEnumerable<string> RecommendationFiles =>
        Enumerable.Range(0, ShardCount).Select(i => ScoreShardFiles.Recommendations(VersionDir, i, ShardCount));

    public IEnumerable<string> StateFiles =>
        Enumerable.Range(0, ShardCount).Select(i => ScoreShardFiles.States(VersionDir, i, ShardCount));

    /// <summary>All recommendation batches (user_id, rank, item_id, score), shard by shard.</summary>
    public IEnumerable<RecordBatch> RecommendationBatches() => RecommendationFiles.SelectMany(f => ReadBatches(f,
        ScoreShardFiles.RecommendationSchema, ScoreShardFiles.RecommendationWithValueSchema));

    /// <summary>All state batches (user_id, user_state, session_state), shard by shard.</summary>
    public IEnumerable<RecordBatch> StateBatches() => StateFiles.SelectMany(f => ReadBatches(f, ScoreShardFiles.StateSchema));

    /// <summary>Row by row, for small versions and tests; bulk loaders use the batches.</summary>
    public IEnumerable<(string UserId, int Rank, string ItemId, float Score)> ReadRecommendations()
    {
        foreach (var batch in RecommendationBatches())
            using (batch)
            {
                var users = (StringArray)batch.Column(0);
                var ranks = (Int32Array)batch.Column(1);
                var items = (StringArray)batch.Column(2);
                var scores = (FloatArray)batch.Column(3);
                for (int r = 0; r < batch.Length; r++)
                    yield return (users.GetString(r), ranks.Values[r], items.GetString(r), scores.Values[r]);
            }
    }

    /// <summary>Row by row, for small versions and tests; bulk loaders use the batches.</summary>
    public IEnumerable<(string UserId, float[] UserState, float[] SessionState)> ReadStates()
    {
        foreach (var batch in StateBatches())
            using (batch)
            {
                var users = (StringArray)batch.Column(0);
                var userStates = (BinaryArray)batch.Column(1);
                var sessionStates = (BinaryArray)batch.Column(2);
                for (int r = 0; r < batch.Length; r++)
                    yield return (users.GetString(r), ToFloats(userStates.GetBytes(r)), ToFloats(sessionStates.GetBytes(r)));
            }
    }

    /// <summary>What every store checks of a loaded version before it may go live.</summary>
    public void CheckLoaded(long recommendationUsers, long stateUsers)
    {
        if (stateUsers == 0)
            throw new PipelineException($"{VersionDir}: no users were scored; refusing to publish an empty version");
        if (recommendationUsers != stateUsers)
            throw new PipelineException($"{VersionDir}: {recommendationUsers:N0} users have recommendations but {stateUsers:N0} have states; the shards disagree");
    }

    /// <summary>Decodes a state cell: little-endian float32s.</summary>
    public static float[] ToFloats(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length % sizeof(float) != 0)
            throw new InvalidDataException($"a state of {bytes.Length} bytes is not a float32 array");
        var values = new float[bytes.Length / sizeof(float)];
        if (BitConverter.IsLittleEndian)
            MemoryMarshal.Cast<byte, float>(bytes).CopyTo(values);
        else
            for (int i = 0; i < values.Length; i++)
                values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * sizeof(float))..]);
        return values;
    }

    static IEnumerable<RecordBatch> ReadBatches(string path, Schema expected, Schema? alternative = null)
    {
        using var stream = File.OpenRead(path);
        using var reader = new ArrowFileReader(stream);
        var schema = reader.Schema;
        static bool Same(Schema a, Schema b) => a.FieldsList.Count == b.FieldsList.Count
            && a.FieldsList.Zip(b.FieldsList).All(p => p.First.Name == p.Second.Name && p.First.DataType.TypeId == p.Second.DataType.TypeId);
        if (!Same(schema, expected) && (alternative is null || !Same(schema, alternative)))
            throw new PipelineException(
                $"{path}: columns ({string.Join(", ", schema.FieldsList.Select(f => $"{f.Name} {f.DataType.Name}"))}) are not the score shard layout ({string.Join(", ", expected.FieldsList.Select(f => $"{f.Name} {f.DataType.Name}"))})");
        RecordBatch? batch;
        while ((batch = reader.ReadNextRecordBatch()) is not null)
            yield return batch;
    }
}
