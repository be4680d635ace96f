using Apache.Arrow;
using Apache.Arrow.Ipc;
using HrnnPipeline.Features;

namespace HrnnPipeline.Tests.Features;

/// <summary>Split files on the lastfm sample (78k training events: more than one Arrow batch).</summary>
public sealed class ArrowRoundTripTests : IClassFixture<LastfmFidelityTests.Prepared>
{
    readonly TestWarehouse _w;
    public ArrowRoundTripTests(LastfmFidelityTests.Prepared prepared) => _w = prepared.Warehouse;

    public static TheoryData<string, string> Splits => new()
    {
        { PreparedFiles.Train, "split <> 'test'" },
        { PreparedFiles.Fit, "split = 'fit'" },
        { PreparedFiles.Valid, "split = 'valid' AND in_split" },
        { PreparedFiles.Test, "split = 'test' AND in_split" },
    };

    [Theory]
    [MemberData(nameof(Splits))]
    public void Split_file_read_back_equals_the_warehouse_rows(string file, string filter)
    {
        var data = ArrowSessions.Read(_w.PreparedFile(file));

        var expected = new List<(int, int, int, long)>();
        using (var connection = _w.Open())
        using (var command = connection.CreateCommand())
        {
            command.CommandText = $"""
                SELECT user_idx, session_idx, item_idx, ts FROM session_events WHERE {filter} ORDER BY session_idx, seq
                """;
            using var reader = command.ExecuteReader();
            while (reader.Read())
                expected.Add((reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt64(3)));
        }

        var actual = new List<(int, int, int, long)>();
        for (int u = 0; u < data.UserCount; u++)
            for (int s = data.UserStarts[u]; s < data.UserStarts[u + 1]; s++)
                for (int e = data.SessionStarts[s]; e < data.SessionStarts[s + 1]; e++)
                    actual.Add((data.Users[u], data.SessionIds[s], data.Items[e], data.Timestamps[e]));
        Assert.NotEmpty(expected);
        Assert.Equal(expected, actual);
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public void Session_index_companion_points_at_each_session_of_the_events_file(string file, string _)
    {
        var data = ArrowSessions.Read(_w.PreparedFile(file));
        var users = new List<int>();
        var sessions = new List<int>();
        var offsets = new List<long>();
        var lengths = new List<int>();
        using (var stream = File.OpenRead(ArrowSessions.SessionIndexPath(_w.PreparedFile(file))))
        using (var reader = new ArrowFileReader(stream))
        {
            Assert.Equal(ArrowSessions.SessionIndexSchema.FieldsList.Select(f => (f.Name, f.DataType.TypeId, f.IsNullable)),
                reader.Schema.FieldsList.Select(f => (f.Name, f.DataType.TypeId, f.IsNullable)));
            RecordBatch? batch;
            while ((batch = reader.ReadNextRecordBatch()) is not null)
                using (batch)
                {
                    users.AddRange(((Int32Array)batch.Column("user_idx")).Values);
                    sessions.AddRange(((Int32Array)batch.Column("session_idx")).Values);
                    offsets.AddRange(((Int64Array)batch.Column("event_offset")).Values);
                    lengths.AddRange(((Int32Array)batch.Column("length")).Values);
                }
        }
        Assert.Equal(data.SessionIds, sessions);
        Assert.Equal(data.SessionStarts[..^1].Select(x => (long)x), offsets);
        Assert.Equal(Enumerable.Range(0, data.SessionCount).Select(data.SessionLength), lengths);
        var userOfSession = new int[data.SessionCount];
        for (int u = 0; u < data.UserCount; u++)
            for (int s = data.UserStarts[u]; s < data.UserStarts[u + 1]; s++) userOfSession[s] = data.Users[u];
        Assert.Equal(userOfSession, users);
    }

    [Fact]
    public void Events_file_has_the_exact_non_nullable_schema_in_full_batches()
    {
        using var stream = File.OpenRead(_w.PreparedFile(PreparedFiles.Train));
        using var reader = new ArrowFileReader(stream);
        Assert.Equal(ArrowSessions.EventSchema.FieldsList.Select(f => (f.Name, f.DataType.TypeId, f.IsNullable)),
            reader.Schema.FieldsList.Select(f => (f.Name, f.DataType.TypeId, f.IsNullable)));
        using var first = reader.ReadNextRecordBatch();
        Assert.Equal(ArrowSessions.BatchRows, first!.Length); // DuckDB's 2,048-row chunks are re-batched
    }

    [Fact]
    public void Fit_valid_and_test_are_disjoint_and_valid_never_holds_a_test_session()
    {
        var train = ArrowSessions.Read(_w.PreparedFile(PreparedFiles.Train));
        var fit = ArrowSessions.Read(_w.PreparedFile(PreparedFiles.Fit));
        var valid = ArrowSessions.Read(_w.PreparedFile(PreparedFiles.Valid));
        var test = ArrowSessions.Read(_w.PreparedFile(PreparedFiles.Test));
        var fitIds = fit.SessionIds.ToHashSet();
        var validIds = valid.SessionIds.ToHashSet();
        var testIds = test.SessionIds.ToHashSet();
        var trainIds = train.SessionIds.ToHashSet();

        Assert.Empty(fitIds.Intersect(validIds));
        Assert.Empty(fitIds.Intersect(testIds));
        Assert.Empty(validIds.Intersect(testIds));
        Assert.Empty(trainIds.Intersect(testIds));
        Assert.Subset(trainIds, fitIds);
        Assert.Subset(trainIds, validIds);
        // valid is each user's last training session: later than every fit session of that user
        for (int u = 0; u < valid.UserCount; u++)
        {
            int validSession = valid.SessionIds[valid.UserStarts[u]];
            Assert.Equal(validSession, TrainSessionsOf(train, valid.Users[u]).Max());
            Assert.DoesNotContain(validSession, fitIds);
        }
        // held-out items are known to what they are scored against
        Assert.Subset(fit.Items.ToHashSet(), valid.Items.ToHashSet());
        Assert.Subset(train.Items.ToHashSet(), test.Items.ToHashSet());
        Assert.DoesNotContain(0, train.Items);
    }

    static IEnumerable<int> TrainSessionsOf(SessionDataset train, int user)
    {
        int u = System.Array.IndexOf(train.Users, user);
        return train.SessionIds[train.UserStarts[u]..train.UserStarts[u + 1]];
    }
}
