namespace HrnnPipeline.Features.Prepare;

/// <summary>
/// Writes the prepared folder (<see cref="PreparedFiles"/>) from the warehouse tables <see cref="PersistStage"/>
/// left: per split its events, its session index and (logs with values) its outcome values; then the id maps. The
/// complete dataset is exported like a split: every kept session whole (no held-out cleaning), items by the
/// complete map, for the model that is published rather than evaluated.
/// </summary>
sealed class ExportStage(string preparedDir, SessionizeStage sessionize) : IPrepareStage
{
    public string Name => "export";

    public async Task RunAsync(PrepareRun run)
    {
        Directory.CreateDirectory(preparedDir);
        (string File, string Filter, string Length, string Item)[] splits =
        [
            (PreparedFiles.Train, "split <> 'test'", "events", "item_idx"),
            (PreparedFiles.Fit, "split = 'fit'", "events", "item_idx"),
            (PreparedFiles.Valid, "split = 'valid' AND in_split", "split_events", "item_idx"),
            (PreparedFiles.Test, "split = 'test' AND in_split", "split_events", "item_idx"),
            (PreparedFiles.Complete, "true", "events", "complete_item_idx"),
        ];
        foreach (var (file, filter, length, item) in splits)
        {
            var path = Path.Combine(preparedDir, file);
            run.Report(file);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            // A filtered scan of one table keeps its stored order (seq), so no ORDER BY is needed; the writer
            // checks that session_idx never decreases.
            await DuckDbArrowExport.WriteAsync(run.Connection, $"""
                SELECT user_idx, session_idx, {item} AS item_idx, ts FROM session_events WHERE {filter}
                """, ArrowSessions.EventSchema, path, "session_idx", run.Token);
            // Offsets are running sums of the lengths in file order (session_idx follows user, then start).
            await DuckDbArrowExport.WriteAsync(run.Connection, $"""
                SELECT user_idx, session_idx,
                    (sum({length}) OVER (ORDER BY session_idx) - {length})::BIGINT AS event_offset,
                    {length}::INTEGER AS length
                FROM sessions
                WHERE {filter}
                ORDER BY session_idx
                """, ArrowSessions.SessionIndexSchema, ArrowSessions.SessionIndexPath(path), "session_idx", run.Token);
            await OutcomeValues.ExportAsync(run.Connection, sessionize.HasValues ? filter : null, path, run.Token);
            run.Timings.Add($"export: {file}", clock.Elapsed);
        }
        run.Report("id maps");
        var maps = System.Diagnostics.Stopwatch.StartNew();
        (await ReadMapAsync(run, "SELECT item_idx, item_id, support FROM item_map ORDER BY item_idx", firstIndex: 1))
            .Write(Path.Combine(preparedDir, PreparedFiles.Items));
        (await ReadMapAsync(run, "SELECT user_idx, user_id, sessions FROM user_map ORDER BY user_idx", firstIndex: 0))
            .Write(Path.Combine(preparedDir, PreparedFiles.Users));
        (await ReadMapAsync(run, "SELECT item_idx, item_id, support FROM complete_item_map ORDER BY item_idx", firstIndex: 1))
            .Write(Path.Combine(preparedDir, PreparedFiles.CompleteItems));
        run.Timings.Add("export: id maps", maps.Elapsed);
    }

    /// <summary>Loads a dense map (one row per user or item, never per event) for <see cref="IdMap.Write"/>.</summary>
    static async Task<IdMap> ReadMapAsync(PrepareRun run, string sql, int firstIndex)
    {
        var ids = new List<string>();
        var counts = new List<long>();
        for (int i = 0; i < firstIndex; i++) { ids.Add(""); counts.Add(0); } // padding slot
        using var command = run.Command(sql);
        using var reader = await command.ExecuteReaderAsync(run.Token);
        while (await reader.ReadAsync(run.Token))
        {
            if (reader.GetInt32(0) != ids.Count)
                throw new InvalidOperationException($"{sql}: dense index {reader.GetInt32(0)} out of sequence");
            ids.Add(reader.GetString(1));
            counts.Add(reader.GetInt64(2));
        }
        return new IdMap([.. ids], [.. counts], firstIndex);
    }
}
