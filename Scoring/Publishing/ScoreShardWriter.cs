using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Scoring.Publishing;

/// <summary>
/// Writes one score shard (see <see cref="ScoreShardFiles"/>) as the scorer produces it: users are buffered in
/// Arrow builders and flushed as record batches, so memory stays bounded whatever the shard size.
/// <see cref="Complete"/> renames both files into place and then writes the <c>.done</c> marker; a writer disposed
/// without completing leaves nothing behind but what was there before.
/// </summary>
public sealed class ScoreShardWriter : IDisposable
{
    const int RecommendationBatchRows = 1 << 16;
    const int StateBatchRows = 1 << 13;

    readonly string _versionDir;
    readonly int _shard;
    readonly int _shardCount;
    readonly string _recsPath;
    readonly string _statesPath;
    readonly FileStream _recsStream;
    readonly FileStream _statesStream;
    readonly ArrowFileWriter _recsWriter;
    readonly ArrowFileWriter _statesWriter;

    StringArray.Builder _recUsers = new();
    Int32Array.Builder _recRanks = new();
    StringArray.Builder _recItems = new();
    FloatArray.Builder _recScores = new();
    FloatArray.Builder _recValues = new();
    readonly bool _withValues;
    int _pendingRecs;

    StringArray.Builder _stateUsers = new();
    BinaryArray.Builder _userStates = new();
    BinaryArray.Builder _sessionStates = new();
    int _pendingStates;

    byte[] _scratch = [];
    readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    long _users;
    long _rows;
    bool _completed;
    bool _disposed;

    /// <param name="withValues">Rows carry each item's predicted value (models with a value head).</param>
    public ScoreShardWriter(string versionDir, int shard, int shardCount, bool withValues = false)
    {
        _withValues = withValues;
        _versionDir = versionDir;
        _shard = shard;
        _shardCount = shardCount;
        _recsPath = ScoreShardFiles.Recommendations(versionDir, shard, shardCount);
        _statesPath = ScoreShardFiles.States(versionDir, shard, shardCount);
        Directory.CreateDirectory(versionDir);
        // A marker from an earlier run must not vouch for files this run is about to replace.
        File.Delete(ScoreShardFiles.DoneMarker(versionDir, shard, shardCount));

        _recsStream = File.Create(_recsPath + ".tmp");
        _statesStream = File.Create(_statesPath + ".tmp");
        _recsWriter = new ArrowFileWriter(_recsStream, RecommendationSchema, leaveOpen: true);
        _statesWriter = new ArrowFileWriter(_statesStream, ScoreShardFiles.StateSchema, leaveOpen: true);
        _recsWriter.WriteStart();
        _statesWriter.WriteStart();
    }

    Schema RecommendationSchema => _withValues ? ScoreShardFiles.RecommendationWithValueSchema : ScoreShardFiles.RecommendationSchema;

    /// <summary>How the lists were scored ("exact", "approximate"), recorded in the shard's marker.</summary>
    public string ScoringMode { get; init; } = "exact";

    public long Users => _users;
    public long Rows => _rows;

    /// <summary>
    /// Adds one user's top-k list (best first; rank = position + 1) and states. Item ids must be distinct.
    /// </summary>
    public void Add(string userId, ReadOnlySpan<string> itemIds, ReadOnlySpan<float> scores,
        ReadOnlySpan<float> userState, ReadOnlySpan<float> sessionState, ReadOnlySpan<float> predictedValues = default)
    {
        if (_withValues && predictedValues.Length != itemIds.Length)
            throw new ArgumentException($"user {userId}: {itemIds.Length} items but {predictedValues.Length} predicted values", nameof(predictedValues));
        ObjectDisposedException.ThrowIf(_disposed || _completed, this);
        ArgumentException.ThrowIfNullOrEmpty(userId);
        if (itemIds.Length == 0)
            throw new ArgumentException($"user {userId}: an empty recommendation list", nameof(itemIds));
        if (itemIds.Length != scores.Length)
            throw new ArgumentException($"user {userId}: {itemIds.Length} items but {scores.Length} scores", nameof(scores));
        RequireDistinct(userId, itemIds);

        for (int i = 0; i < itemIds.Length; i++)
        {
            _recUsers.Append(userId);
            _recRanks.Append(i + 1);
            _recItems.Append(itemIds[i]);
            _recScores.Append(scores[i]);
            if (_withValues)
            {
                if (float.IsFinite(predictedValues[i])) _recValues.Append(predictedValues[i]);
                else _recValues.AppendNull();
            }
        }
        _pendingRecs += itemIds.Length;
        _rows += itemIds.Length;

        _stateUsers.Append(userId);
        _userStates.Append(LittleEndianBytes(userState));
        _sessionStates.Append(LittleEndianBytes(sessionState));
        _pendingStates++;
        _users++;

        if (_pendingRecs >= RecommendationBatchRows) FlushRecommendations();
        if (_pendingStates >= StateBatchRows) FlushStates();
    }

    void RequireDistinct(string userId, ReadOnlySpan<string> itemIds)
    {
        // Pairwise for the usual short lists; a set once pairs would cost more than hashing.
        if (itemIds.Length <= 32)
        {
            for (int i = 1; i < itemIds.Length; i++)
                for (int j = 0; j < i; j++)
                    if (string.Equals(itemIds[i], itemIds[j], StringComparison.Ordinal))
                        throw new ArgumentException($"user {userId}: item {itemIds[i]} recommended twice", nameof(itemIds));
            return;
        }
        _seen.Clear();
        foreach (var id in itemIds)
            if (!_seen.Add(id))
                throw new ArgumentException($"user {userId}: item {id} recommended twice", nameof(itemIds));
    }

    /// <summary>Finishes both files, moves them into place and writes the <c>.done</c> marker last.</summary>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(_disposed || _completed, this);
        FlushRecommendations();
        FlushStates();
        _recsWriter.WriteEnd();
        _statesWriter.WriteEnd();
        _recsStream.Flush(flushToDisk: true);
        _statesStream.Flush(flushToDisk: true);
        CloseFiles();
        File.Move(_recsPath + ".tmp", _recsPath, overwrite: true);
        File.Move(_statesPath + ".tmp", _statesPath, overwrite: true);
        Json.Write(ScoreShardFiles.DoneMarker(_versionDir, _shard, _shardCount),
            new ScoreShardSummary(_shard, _shardCount, _users, _rows) { ScoringMode = ScoringMode });
        _completed = true;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_completed) return;
        CloseFiles();
        File.Delete(_recsPath + ".tmp");
        File.Delete(_statesPath + ".tmp");
    }

    void CloseFiles()
    {
        _recsWriter.Dispose();
        _statesWriter.Dispose();
        _recsStream.Dispose();
        _statesStream.Dispose();
    }

    void FlushRecommendations()
    {
        if (_pendingRecs == 0) return;
        IArrowArray[] columns = _withValues
            ? [_recUsers.Build(), _recRanks.Build(), _recItems.Build(), _recScores.Build(), _recValues.Build()]
            : [_recUsers.Build(), _recRanks.Build(), _recItems.Build(), _recScores.Build()];
        using var batch = new RecordBatch(RecommendationSchema, columns, _pendingRecs);
        _recsWriter.WriteRecordBatch(batch);
        // Fresh builders: a built array keeps the builder's buffers, so reusing them would corrupt the batch.
        _recUsers = new(); _recRanks = new(); _recItems = new(); _recScores = new(); _recValues = new();
        _pendingRecs = 0;
    }

    void FlushStates()
    {
        if (_pendingStates == 0) return;
        using var batch = new RecordBatch(ScoreShardFiles.StateSchema,
            [_stateUsers.Build(), _userStates.Build(), _sessionStates.Build()], _pendingStates);
        _statesWriter.WriteRecordBatch(batch);
        _stateUsers = new(); _userStates = new(); _sessionStates = new();
        _pendingStates = 0;
    }

    ReadOnlySpan<byte> LittleEndianBytes(ReadOnlySpan<float> values)
    {
        if (BitConverter.IsLittleEndian) return MemoryMarshal.AsBytes(values);
        if (_scratch.Length < values.Length * sizeof(float)) _scratch = new byte[values.Length * sizeof(float)];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(_scratch.AsSpan(i * sizeof(float)), values[i]);
        return _scratch.AsSpan(0, values.Length * sizeof(float));
    }
}
