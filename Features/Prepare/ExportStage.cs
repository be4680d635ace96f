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
        // Every events file from one scan of session_events: each row carries a bit per file whose filter it passes.
        // The table's stored order (seq) is what a filtered scan would give each file, so no ORDER BY is needed;
        // the writer checks that session_idx never decreases.
        run.Report("events files");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var mask = string.Join(" + ", splits.Select((s, i) => $"CASE WHEN {s.Filter} THEN {1 << i} ELSE 0 END"));
        string ItemRows(string item) => string.Join(" OR ",
            splits.Where(s => s.Item == item).Select(s => $"({s.Filter})").DefaultIfEmpty("false"));
        // An item column is read only where a file taking it keeps the row (item_idx is NULL for the test events
        // whose item train lacks, which only the complete file keeps, by complete_item_idx); NULL elsewhere is refused.
        await SplitEventsExport.WriteAsync(run.Connection, $"""
            SELECT user_idx, session_idx,
                CASE WHEN {ItemRows("item_idx")} THEN item_idx ELSE 0 END AS item_idx,
                CASE WHEN {ItemRows("complete_item_idx")} THEN complete_item_idx ELSE 0 END AS complete_item_idx,
                ts, ({mask})::INTEGER AS mask
            FROM session_events
            """,
            [.. splits.Select((s, i) => new SplitTarget(Path.Combine(preparedDir, s.File), i, s.Item == "complete_item_idx"))],
            run.Token);
        run.Timings.Add("export: events files", clock.Elapsed);
        foreach (var (file, filter, length, _) in splits)
        {
            var path = Path.Combine(preparedDir, file);
            run.Report(file);
            clock.Restart();
            // Offsets are running sums of the lengths in file order (session_idx follows user, then start). sessions
            // is stored by session_idx, and a window with an empty OVER streams a scan in that order (as sessionizing
            // relies on), so neither the window nor the file needs a sort; the writer checks the order.
            await DuckDbArrowExport.WriteAsync(run.Connection, $"""
                SELECT user_idx, session_idx,
                    (sum({length}) OVER (ROWS UNBOUNDED PRECEDING) - {length})::BIGINT AS event_offset,
                    {length}::INTEGER AS length
                FROM sessions
                WHERE {filter}
                """, ArrowSessions.SessionIndexSchema, ArrowSessions.SessionIndexPath(path), "session_idx", run.Token);
            await OutcomeValues.ExportAsync(run.Connection, sessionize.HasValues ? filter : null, path, run.Token);
            run.Timings.Add("export: session index and values", clock.Elapsed);
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
