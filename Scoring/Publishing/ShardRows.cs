using Apache.Arrow;
using HrnnPipeline.Features;
using HrnnPipeline.Scoring.Filters;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Scoring.Publishing;

/// <summary>
/// One table's bulk load (PostgreSQL's binary COPY, DuckDB's appender), written row by row, each row's values in the
/// table's column order (<see cref="StoreSchema"/>). Disposing without <see cref="CompleteAsync"/> abandons the load.
/// </summary>
interface IRowSink : IAsyncDisposable
{
    IRowSink StartRow();
    IRowSink Write(string value);
    IRowSink Write(int value);
    IRowSink Write(long value);
    IRowSink Write(float value);
    IRowSink Write(float[] value);
    IRowSink Write(bool value);
    IRowSink WriteNull();
    void EndRow();
    ValueTask CompleteAsync(CancellationToken ct);
}

/// <summary>What loading a version's shards counted: recommendation rows, the users of each file, the longest list.</summary>
readonly record struct ShardRowCounts(long Rows, long RecommendationUsers, long StateUsers, int ListLength);

/// <summary>
/// Walks a scored version (item map, score shards, filtered lists, item fields) into the per-version tables, each
/// through the sink <c>open</c> gives for it: one walk for the PostgreSQL and DuckDB stores and the Parquet export.
/// </summary>
static class ShardRows
{
    /// <summary>
    /// Loads every per-version table of <paramref name="version"/>; <paramref name="loaded"/> hears when each of the
    /// two big tables is done ("recommendations", "user states"), for step timings.
    /// </summary>
    public static async Task<ShardRowCounts> LoadAsync(Func<StoreTable, CancellationToken, Task<IRowSink>> open,
        string version, ScoreShardReader shards, IdMap items, CancellationToken ct,
        ProgressReporter? progress = null, Action<string>? loaded = null)
    {
        await LoadTableAsync(open, StoreSchema.PublishedItems, sink => Items(sink, version, items), ct);
        var (rows, recommendationUsers, listLength) = await LoadTableAsync(open, StoreSchema.Recommendations,
            sink => Recommendations(sink, version, shards, progress, ct), ct);
        loaded?.Invoke("recommendations");
        long stateUsers = await LoadTableAsync(open, StoreSchema.UserStates, sink => States(sink, version, shards, ct), ct);
        loaded?.Invoke("user states");
        await LoadTableAsync(open, StoreSchema.FilteredRecommendations, sink => FilteredRecommendations(sink, version, shards, ct), ct);
        await LoadTableAsync(open, StoreSchema.FilteredLists, sink => FilteredLists(sink, version, shards), ct);
        await LoadTableAsync(open, StoreSchema.PublishedItemFields, sink => ItemFields(sink, version, shards), ct);
        return new ShardRowCounts(rows, recommendationUsers, stateUsers, listLength);
    }

    static async Task<T> LoadTableAsync<T>(Func<StoreTable, CancellationToken, Task<IRowSink>> open, StoreTable table,
        Func<IRowSink, T> write, CancellationToken ct)
    {
        await using var sink = await open(table, ct);
        var result = write(sink);
        await sink.CompleteAsync(ct);
        return result;
    }

    static Task<bool> LoadTableAsync(Func<StoreTable, CancellationToken, Task<IRowSink>> open, StoreTable table,
        Action<IRowSink> write, CancellationToken ct) =>
        LoadTableAsync(open, table, sink => { write(sink); return true; }, ct);

    static void Items(IRowSink sink, string version, IdMap items)
    {
        for (int i = items.FirstIndex; i < items.Ids.Length; i++)
            sink.StartRow().Write(version).Write(i).Write(items.Ids[i]).Write(items.Counts[i]).EndRow();
    }

    /// <summary>Users are counted as runs of one user id: the scorer writes each user's list in one piece.</summary>
    static (long Rows, long Users, int ListLength) Recommendations(IRowSink sink, string version, ScoreShardReader shards,
        ProgressReporter? progress, CancellationToken ct)
    {
        long rows = 0, users = 0;
        int listLength = 0;
        var userIds = new RepeatedStrings();
        string? previousUser = null;
        EachBatch(shards.RecommendationBatches(), ct, batch =>
        {
            var userColumn = (StringArray)batch.Column(0);
            var ranks = (Int32Array)batch.Column(1);
            var itemColumn = (StringArray)batch.Column(2);
            var scores = (FloatArray)batch.Column(3);
            for (int r = 0; r < batch.Length; r++)
            {
                var user = userIds.Get(userColumn, r);
                if (!ReferenceEquals(user, previousUser)) { users++; previousUser = user; }
                int rank = ranks.Values[r];
                if (rank > listLength) listLength = rank;
                var row = sink.StartRow().Write(version).Write(user).Write(rank).Write(itemColumn.GetString(r)).Write(scores.Values[r]);
                (ScoreShardFiles.PredictedValue(batch, r) is { } value ? row.Write(value) : row.WriteNull()).EndRow();
            }
            rows += batch.Length;
            progress?.Report(rows);
        });
        progress?.Done();
        return (rows, users, listLength);
    }

    static long States(IRowSink sink, string version, ScoreShardReader shards, CancellationToken ct)
    {
        long users = 0;
        EachBatch(shards.StateBatches(), ct, batch =>
        {
            var userColumn = (StringArray)batch.Column(0);
            var userStates = (BinaryArray)batch.Column(1);
            var sessionStates = (BinaryArray)batch.Column(2);
            for (int r = 0; r < batch.Length; r++)
                sink.StartRow().Write(version).Write(userColumn.GetString(r))
                    .Write(ScoreShardReader.ToFloats(userStates.GetBytes(r))).Write(ScoreShardReader.ToFloats(sessionStates.GetBytes(r))).EndRow();
            users += batch.Length;
        });
        return users;
    }

    static void FilteredRecommendations(IRowSink sink, string version, ScoreShardReader shards, CancellationToken ct)
    {
        EachBatch(FilteredShardWriter.Batches(shards), ct, batch =>
        {
            var filters = (StringArray)batch.Column(0);
            var users = (StringArray)batch.Column(1);
            var ranks = (Int32Array)batch.Column(2);
            var items = (StringArray)batch.Column(3);
            var scores = (FloatArray)batch.Column(4);
            for (int r = 0; r < batch.Length; r++)
                sink.StartRow().Write(version).Write(filters.GetString(r)).Write(users.GetString(r)).Write(ranks.Values[r])
                    .Write(items.GetString(r)).Write(scores.Values[r]).EndRow();
        });
    }

    /// <summary>Each batch in turn, disposed once written; cancellation is checked between batches.</summary>
    static void EachBatch(IEnumerable<RecordBatch> batches, CancellationToken ct, Action<RecordBatch> write)
    {
        foreach (var batch in batches)
            using (batch)
            {
                ct.ThrowIfCancellationRequested();
                write(batch);
            }
    }

    static void FilteredLists(IRowSink sink, string version, ScoreShardReader shards)
    {
        foreach (var fill in FilteredShardWriter.Fills(shards))
            sink.StartRow().Write(version).Write(fill.Filter).Write(fill.ListLength).Write(fill.Users).Write(fill.ShortLists).EndRow();
    }

    static void ItemFields(IRowSink sink, string version, ScoreShardReader shards)
    {
        foreach (var (item, field, value, numeric) in Filters.ItemFields.Read(shards.VersionDir).Rows())
            sink.StartRow().Write(version).Write(item).Write(field).Write(value).Write(numeric).EndRow();
    }
}
