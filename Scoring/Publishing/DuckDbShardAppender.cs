using Apache.Arrow;
using DuckDB.NET.Data;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Scoring.Publishing;

/// <summary>
/// Appends a scored version into DuckDB tables shaped like the store's (version first), batch by batch through
/// the Appender. Shared by the DuckDB store (its staging tables) and the Parquet export.
/// </summary>
static class DuckDbShardAppender
{
    public static string CreateTablesSql(string recommendations, string userStates, string itemMap) => $"""
        create or replace table {recommendations} (
            version varchar not null, user_id varchar not null, rank integer not null, item_id varchar not null, score float not null,
            predicted_value float);
        create or replace table {userStates} (
            version varchar not null, user_id varchar not null, user_state float[] not null, session_state float[] not null);
        create or replace table {itemMap} (
            version varchar not null, item_idx integer not null, item_id varchar not null, popularity bigint not null);
        """;

    public static void AppendItems(DuckDBConnection conn, string table, string version, IdMap items)
    {
        using var appender = conn.CreateAppender(table);
        for (int i = items.FirstIndex; i < items.Ids.Length; i++)
            appender.CreateRow().AppendValue(version).AppendValue(i).AppendValue(items.Ids[i]).AppendValue(items.Counts[i]).EndRow();
    }

    /// <summary>Appends every recommendation row; returns rows, users (runs of one user id) and the longest list.</summary>
    public static (long Rows, long Users, int ListLength) AppendRecommendations(
        DuckDBConnection conn, string table, string version, ScoreShardReader shards, CancellationToken ct,
        ProgressReporter? progress = null)
    {
        long rows = 0, users = 0;
        int listLength = 0;
        var userIds = new RepeatedStrings();
        string? previousUser = null;
        using var appender = conn.CreateAppender(table);
        foreach (var batch in shards.RecommendationBatches())
            using (batch)
            {
                ct.ThrowIfCancellationRequested();
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
                    var row = appender.CreateRow().AppendValue(version).AppendValue(user).AppendValue(rank)
                        .AppendValue(itemColumn.GetString(r)).AppendValue(scores.Values[r]);
                    if (ScoreShardFiles.PredictedValue(batch, r) is { } value) row.AppendValue(value); else row.AppendNullValue();
                    row.EndRow();
                }
                rows += batch.Length;
                progress?.Report(rows);
            }
        progress?.Done();
        return (rows, users, listLength);
    }

    /// <summary>Appends every user's states; returns the number of users.</summary>
    public static long AppendStates(DuckDBConnection conn, string table, string version, ScoreShardReader shards, CancellationToken ct)
    {
        long users = 0;
        using var appender = conn.CreateAppender(table);
        foreach (var batch in shards.StateBatches())
            using (batch)
            {
                ct.ThrowIfCancellationRequested();
                var userColumn = (StringArray)batch.Column(0);
                var userStates = (BinaryArray)batch.Column(1);
                var sessionStates = (BinaryArray)batch.Column(2);
                for (int r = 0; r < batch.Length; r++)
                    appender.CreateRow().AppendValue(version).AppendValue(userColumn.GetString(r))
                        .AppendValue(ScoreShardReader.ToFloats(userStates.GetBytes(r)))
                        .AppendValue(ScoreShardReader.ToFloats(sessionStates.GetBytes(r))).EndRow();
                users += batch.Length;
            }
        return users;
    }

}
