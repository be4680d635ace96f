using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using HrnnPipeline.Features;
using HrnnPipeline.Scoring.Publishing;

namespace HrnnPipeline.Scoring.Filters;

/// <summary>How one filter's lists came out in a shard: users, and those whose list is shorter than wanted (the
/// catalogue had fewer items passing the filter).</summary>
public sealed record FilterFill(string Filter, int ListLength, long Users, long ShortLists, int ShortestList);

/// <summary>
/// Scoring-time filtering: every configured filter gets its own list per user, cut from one ranking deep enough that
/// the list is still k long after the filter (k plus the items its clauses exclude plus the most items any user
/// consumed within its history window), or as long as the catalogue allows (<see cref="FilterFill"/>). A filter with
/// parameters is applied here without its parameterised clauses and kept <see cref="ScoringOptions.FilterDepth"/> long,
/// so the read API can apply the rest per request.
/// </summary>
public sealed class FilteredLists
{
    sealed record Plan(BoundFilter Filter, bool[] Keep, int ListLength, long? WindowMs, int MostRecent)
    {
        public long Users;
        public long Short;
        public int Shortest = int.MaxValue;
    }

    readonly List<Plan> _plans = [];
    readonly IdMap _items;
    readonly SessionDataset _history;
    readonly long _now;

    public FilteredLists(FilterSet filters, ItemFields fields, IdMap items, SessionDataset history, ScoringOptions options)
    {
        _items = items;
        _history = history;
        // "The last N days" counts back from the newest event scored: logs are replayed, so the wall clock means nothing.
        _now = history.Timestamps.Length == 0 ? 0 : history.Timestamps.Max();
        if (filters.IsEmpty) return;
        filters.CheckFields(fields);
        foreach (var filter in filters.Filters)
        {
            var bound = BoundFilter.Unbound(filter);
            var keep = new bool[items.Ids.Length];
            for (int i = items.FirstIndex; i < keep.Length; i++) keep[i] = bound.KeepItem(fields, items.Ids[i], parameterised: false);
            long? window = bound.HistoryDays is { } days ? (double.IsPositiveInfinity(days) ? long.MaxValue : (long)(days * 86_400_000)) : null;
            int length = filter.Parameters.Count > 0 ? Math.Max(options.K, options.FilterDepth) : options.K;
            _plans.Add(new Plan(bound, keep, length, window, window is { } w ? MostRecent(w) : 0));
        }
    }

    public bool IsEmpty => _plans.Count == 0;

    /// <summary>How deep the scorer must rank for every filter's list to be full.</summary>
    public int Depth(int k)
    {
        int catalogue = _items.Ids.Length - _items.FirstIndex;
        int depth = k;
        foreach (var plan in _plans)
        {
            int excluded = plan.Keep.Skip(_items.FirstIndex).Count(keep => !keep);
            depth = (int)Math.Max(depth, Math.Min(catalogue, (long)plan.ListLength + excluded + plan.MostRecent));
        }
        return Math.Min(depth, catalogue);
    }

    /// <summary>Cuts each filter's list for one user from their deep ranking (dense item indexes, best first).</summary>
    public void Add(FilteredShardWriter writer, string userId, int block, ReadOnlySpan<int> ranked, ReadOnlySpan<float> scores)
    {
        var ids = new List<string>();
        var kept = new List<float>();
        foreach (var plan in _plans)
        {
            ids.Clear();
            kept.Clear();
            var recent = plan.WindowMs is { } w ? Recent(block, w) : null;
            for (int j = 0; j < ranked.Length && ids.Count < plan.ListLength; j++)
            {
                int item = ranked[j];
                // Item 0: a slot the value filter (Scoring:MinOutcome) left empty.
                if (item == 0 || !plan.Keep[item] || recent?.Contains(item) == true) continue;
                ids.Add(_items.Ids[item]);
                kept.Add(scores[j]);
            }
            writer.Add(plan.Filter.Expression.Name, userId, ids, kept);
            plan.Users++;
            if (ids.Count < plan.ListLength) plan.Short++;
            plan.Shortest = Math.Min(plan.Shortest, ids.Count);
        }
    }

    public IReadOnlyList<FilterFill> Fills() =>
        _plans.Select(p => new FilterFill(p.Filter.Expression.Name, p.ListLength, p.Users, p.Short, p.Users == 0 ? 0 : p.Shortest)).ToList();

    /// <summary>The items user block <paramref name="block"/> consumed within the window before the newest event.</summary>
    public HashSet<int> Recent(int block, long windowMs)
    {
        var items = new HashSet<int>();
        int first = _history.SessionStarts[_history.UserStarts[block]], last = _history.SessionStarts[_history.UserStarts[block + 1]];
        for (int e = first; e < last; e++)
            if (windowMs == long.MaxValue || _history.Timestamps[e] >= _now - windowMs) items.Add(_history.Items[e]);
        return items;
    }

    int MostRecent(long windowMs)
    {
        int most = 0;
        for (int b = 0; b < _history.UserCount; b++) most = Math.Max(most, Recent(b, windowMs).Count);
        return most;
    }
}

/// <summary>
/// The filtered lists of one score shard: <c>filtered-i-of-N.arrow</c> beside the shard's files (filter, user_id,
/// rank, item_id, score), completed before the shard's <c>.done</c> marker so the marker vouches for it too.
/// </summary>
public sealed class FilteredShardWriter : IDisposable
{
    public static readonly Schema Schema = new Schema.Builder()
        .Field(f => f.Name("filter").DataType(StringType.Default).Nullable(false))
        .Field(f => f.Name("user_id").DataType(StringType.Default).Nullable(false))
        .Field(f => f.Name("rank").DataType(Int32Type.Default).Nullable(false))
        .Field(f => f.Name("item_id").DataType(StringType.Default).Nullable(false))
        .Field(f => f.Name("score").DataType(FloatType.Default).Nullable(false))
        .Build();

    const int BatchRows = 1 << 16;
    readonly string _path;
    readonly FileStream _stream;
    readonly ArrowFileWriter _writer;
    StringArray.Builder _filters = new(), _users = new(), _itemIds = new();
    Int32Array.Builder _ranks = new();
    FloatArray.Builder _scores = new();
    int _pending;
    bool _done;

    public FilteredShardWriter(string versionDir, int shard, int shardCount)
    {
        _path = PathOf(versionDir, shard, shardCount);
        Directory.CreateDirectory(versionDir);
        File.Delete(_path);
        _stream = File.Create(_path + ".tmp");
        _writer = new ArrowFileWriter(_stream, Schema, leaveOpen: true);
        _writer.WriteStart();
    }

    /// <summary>Removes a shard's filtered lists left by an earlier scoring of the version with filters, so scoring it
    /// again without them does not publish stale lists.</summary>
    public static void Clear(string versionDir, int shard, int shardCount)
    {
        var path = PathOf(versionDir, shard, shardCount);
        File.Delete(path);
        File.Delete(Path.ChangeExtension(path, ".json"));
    }

    public static string PathOf(string versionDir, int shard, int shardCount) =>
        Path.Combine(versionDir, Path.GetFileName(ScoreShardFiles.Recommendations(versionDir, shard, shardCount)).Replace("recs-", "filtered-", StringComparison.Ordinal));

    /// <summary>One user's lists, one per filter, cut from their deep ranking.</summary>
    public void Add(FilteredLists lists, string userId, int block, ReadOnlySpan<int> ranked, ReadOnlySpan<float> scores) =>
        lists.Add(this, userId, block, ranked, scores);

    public void Add(string filter, string userId, IReadOnlyList<string> itemIds, IReadOnlyList<float> scores)
    {
        for (int i = 0; i < itemIds.Count; i++)
        {
            _filters.Append(filter); _users.Append(userId); _ranks.Append(i + 1); _itemIds.Append(itemIds[i]); _scores.Append(scores[i]);
        }
        _pending += itemIds.Count;
        if (_pending >= BatchRows) Flush();
    }

    /// <summary>Finishes the file and records each filter's fill beside it (<c>filtered-i-of-N.json</c>).</summary>
    public void Complete(IReadOnlyList<FilterFill> fills)
    {
        Flush();
        ServiceDefaults.Json.Write(Path.ChangeExtension(_path, ".json"), fills);
        _writer.WriteEnd();
        _stream.Flush(flushToDisk: true);
        _writer.Dispose();
        _stream.Dispose();
        File.Move(_path + ".tmp", _path, overwrite: true);
        _done = true;
    }

    void Flush()
    {
        if (_pending == 0) return;
        using var batch = new RecordBatch(Schema, [_filters.Build(), _users.Build(), _ranks.Build(), _itemIds.Build(), _scores.Build()], _pending);
        _writer.WriteRecordBatch(batch);
        _filters = new(); _users = new(); _ranks = new(); _itemIds = new(); _scores = new();
        _pending = 0;
    }

    public void Dispose()
    {
        if (_done) return;
        _done = true;
        _writer.Dispose();
        _stream.Dispose();
        File.Delete(_path + ".tmp");
    }

    /// <summary>Each filter of a scored version with its wanted list length, users and short lists over all shards.</summary>
    public static IReadOnlyList<FilterFill> Fills(ScoreShardReader shards) =>
        Enumerable.Range(0, shards.ShardCount)
            .Select(i => Path.ChangeExtension(PathOf(shards.VersionDir, i, shards.ShardCount), ".json"))
            .Where(File.Exists)
            .SelectMany(ServiceDefaults.Json.Read<List<FilterFill>>)
            .GroupBy(f => f.Filter, StringComparer.Ordinal)
            .Select(g => new FilterFill(g.Key, g.Max(f => f.ListLength), g.Sum(f => f.Users), g.Sum(f => f.ShortLists), g.Min(f => f.ShortestList)))
            .OrderBy(f => f.Filter, StringComparer.Ordinal).ToList();

    /// <summary>Every filtered row of a scored version's shards (none when it was scored without filters).</summary>
    public static IEnumerable<RecordBatch> Batches(ScoreShardReader shards)
    {
        for (int i = 0; i < shards.ShardCount; i++)
        {
            var path = PathOf(shards.VersionDir, i, shards.ShardCount);
            if (!File.Exists(path)) continue;
            using var stream = File.OpenRead(path);
            using var reader = new ArrowFileReader(stream);
            RecordBatch? batch;
            while ((batch = reader.ReadNextRecordBatch()) is not null) yield return batch;
        }
    }
}
