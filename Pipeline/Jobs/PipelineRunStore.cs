using System.Text.Json;
using HrnnPipeline.ServiceDefaults;
using Npgsql;
using NpgsqlTypes;

namespace HrnnPipeline.AppHost.Jobs;

/// <summary>Status values of <c>pipeline_runs</c> rows (the run's own row and each stage's).</summary>
public static class RunStatus
{
    public const string Pending = "pending";
    public const string Enqueued = "enqueued";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
    /// <summary>The server shut down mid-stage; Hangfire hands the job to the next server.</summary>
    public const string Interrupted = "interrupted";
}

/// <summary>Stage names as stored in <c>pipeline_runs.stage</c>; the run itself is the row named <see cref="Run"/>.</summary>
public static class StageNames
{
    public const string Run = "run";
    public const string Ingest = "ingest";
    public const string Prepare = "prepare";
    public const string Train = "train";
    public const string Publish = "publish";
    public const string ScorePrefix = "score-";

    public static string Score(int shard, int shardCount) => $"{ScorePrefix}{shard}-of-{shardCount}";

    /// <summary>Every stage of a run, in order.</summary>
    public static string[] All(int shardCount) =>
        [Ingest, Prepare, Train, .. Enumerable.Range(0, shardCount).Select(i => Score(i, shardCount)), Publish];
}

/// <summary>
/// What a run was started with (the run row's <c>settings</c>): enough for every job to do its part.
/// <see cref="Options"/> are the run's own configuration keys (<c>Ingest:Format</c>, <c>Features:SessionGap</c>,
/// ...), given to `trigger`; they win over each host's configuration for this run's stages.
/// </summary>
public sealed record RunSettings(string[] Input, int ScoreShards, string TrainQueue, string? TrainDevice,
    IReadOnlyDictionary<string, string?>? Options = null)
{
    /// <summary>The input and options as one line, for logs and the dashboard.</summary>
    public string Describe() => string.Join(" ", Input) +
        string.Concat((Options ?? new Dictionary<string, string?>()).OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $" {kv.Key}={kv.Value}"));
}

/// <summary>One row of <c>pipeline_runs</c>. JSON columns are kept as text.</summary>
public sealed record StageRecord(string RunId, string Stage, string Status, int Attempts, DateTime? StartedAt, DateTime? EndedAt,
    string? Metrics, string? Artefacts, string? Error, string? JobId);

/// <summary>A run: its own row, its settings and its stages in pipeline order.</summary>
public sealed record PipelineRun(StageRecord Run, RunSettings Settings, IReadOnlyList<StageRecord> Stages)
{
    public string Id => Run.RunId;
    public string Status => Run.Status;
    public bool IsFinished => Status is RunStatus.Completed or RunStatus.Failed;
    public StageRecord? Stage(string name) => Stages.FirstOrDefault(s => s.Stage == name);

    /// <summary>A string property of a stage's artefacts JSON (e.g. the train stage's model_version).</summary>
    public string? Artefact(string stage, string property)
    {
        if (Stage(stage)?.Artefacts is not { } json) return null;
        using var document = JsonDocument.Parse(json);
        return document.RootElement.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
    }

    public string? Metric(string property)
    {
        if (Run.Metrics is not { } json) return null;
        using var document = JsonDocument.Parse(json);
        return document.RootElement.TryGetProperty(property, out var value) ? value.ToString() : null;
    }
}

/// <summary>
/// The <c>pipeline_runs</c> table in PostgreSQL: one row per run (stage 'run') and one per stage of it, with status,
/// start/end, metrics and artefact paths as JSON, and the error. It is also the one-run-at-a-time guard: a run row
/// that is enqueued or running blocks every other run, checked under an advisory lock so two triggers can't race.
/// </summary>
public sealed class PipelineRunStore(NpgsqlDataSource dataSource)
{
    // Advisory lock keys; the recommendation store uses 0x48524E4E_0000000x.
    const long SchemaLockKey = 0x48524E4E_00000010;
    const long RunGuardLockKey = 0x48524E4E_00000011;

    readonly Lazy<Task> _schema = new(() => CreateSchemaAsync(dataSource));

    public NpgsqlDataSource DataSource => dataSource;

    public Task EnsureSchemaAsync() => _schema.Value;

    static async Task CreateSchemaAsync(NpgsqlDataSource dataSource)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        // Two hosts starting at once would otherwise race on CREATE TABLE IF NOT EXISTS.
        await Execute(connection, tx, "SELECT pg_advisory_xact_lock($1)", CancellationToken.None, SchemaLockKey);
        await Execute(connection, tx, """
            CREATE TABLE IF NOT EXISTS pipeline_runs (
                run_id     text        NOT NULL,
                stage      text        NOT NULL,
                status     text        NOT NULL,
                attempts   integer     NOT NULL DEFAULT 0,
                started_at timestamptz,
                ended_at   timestamptz,
                settings   jsonb,
                metrics    jsonb,
                artefacts  jsonb,
                error      text,
                job_id     text,
                PRIMARY KEY (run_id, stage)
            );
            CREATE INDEX IF NOT EXISTS pipeline_runs_active ON pipeline_runs (status) WHERE stage = 'run';
            """, CancellationToken.None);
        await tx.CommitAsync();
    }

    /// <summary>
    /// Starts <paramref name="runId"/> (or starts it again: its completed stages stay completed and are skipped)
    /// unless a run is active, then calls <paramref name="enqueue"/> with the settings the run goes with; if that
    /// fails the run is marked failed, so it blocks nothing. A run started again keeps its input and shards.
    /// </summary>
    public async Task<RunSettings> BeginRunAsync(string runId, RunSettings proposed, Func<RunSettings, Task> enqueue, CancellationToken ct)
    {
        await EnsureSchemaAsync();
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await Execute(connection, tx, "SELECT pg_advisory_xact_lock($1)", ct, RunGuardLockKey);
        if (await ActiveRunAsync(connection, tx, ct) is { } active)
            throw new PipelineException($"run {active.RunId} is active ({Describe(active)}); not starting another run until it ends");

        var settings = proposed;
        await using (var read = new NpgsqlCommand("SELECT settings::text FROM pipeline_runs WHERE run_id = $1 AND stage = 'run'", connection, tx))
        {
            read.Parameters.Add(new() { Value = runId });
            if (await read.ExecuteScalarAsync(ct) is string json)
            {
                var stored = JsonSerializer.Deserialize<RunSettings>(json, Json.Options)!;
                settings = proposed with { Input = stored.Input, ScoreShards = stored.ScoreShards, Options = stored.Options };
            }
        }
        await using (var upsert = new NpgsqlCommand("""
            INSERT INTO pipeline_runs (run_id, stage, status, started_at, settings)
            VALUES ($1, 'run', 'enqueued', now(), $2::jsonb)
            ON CONFLICT (run_id, stage) DO UPDATE
                SET status = 'enqueued', ended_at = NULL, error = NULL, settings = excluded.settings
            """, connection, tx))
        {
            upsert.Parameters.Add(new() { Value = runId });
            upsert.Parameters.Add(new() { Value = JsonSerializer.Serialize(settings, Json.Options) });
            await upsert.ExecuteNonQueryAsync(ct);
        }
        await using (var stages = new NpgsqlCommand("""
            INSERT INTO pipeline_runs (run_id, stage, status)
            SELECT $1, stage, 'pending' FROM unnest($2::text[]) AS stage
            ON CONFLICT (run_id, stage) DO UPDATE
                SET status = 'pending', error = NULL, ended_at = NULL, job_id = NULL
                WHERE pipeline_runs.status <> 'completed'
            """, connection, tx))
        {
            stages.Parameters.Add(new() { Value = runId });
            stages.Parameters.Add(new() { Value = StageNames.All(settings.ScoreShards), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            await stages.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        // Enqueued only once the rows are committed: a server may start the first job at once and must find them.
        try
        {
            await enqueue(settings);
        }
        catch (Exception e)
        {
            await FailRunAsync(runId, $"could not enqueue the run's jobs: {e.Message}", CancellationToken.None);
            throw;
        }
        return settings;
    }

    /// <summary>
    /// Marks a stage running (upserting its row) and its run running again; returns the attempt number (1 = first).
    /// Refuses, permanently, when another run is active: a stale job of an old run must not run beside it.
    /// </summary>
    public async Task<int> StartStageAsync(string runId, string stage, string? jobId, CancellationToken ct)
    {
        await EnsureSchemaAsync();
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await Execute(connection, tx, "SELECT pg_advisory_xact_lock($1)", ct, RunGuardLockKey);
        if (await ActiveRunAsync(connection, tx, ct) is { } active && active.RunId != runId)
            throw new PipelineException($"run {active.RunId} is active ({Describe(active)}); stage {stage} of run {runId} is not started beside it");
        await Execute(connection, tx, """
            UPDATE pipeline_runs SET status = 'running', ended_at = NULL, error = NULL
            WHERE run_id = $1 AND stage = 'run'
            """, ct, runId);
        await using var command = new NpgsqlCommand("""
            INSERT INTO pipeline_runs (run_id, stage, status, attempts, started_at, job_id)
            VALUES ($1, $2, 'running', 1, now(), $3)
            ON CONFLICT (run_id, stage) DO UPDATE
                SET status = 'running', attempts = pipeline_runs.attempts + 1,
                    started_at = coalesce(pipeline_runs.started_at, now()), ended_at = NULL, error = NULL, job_id = $3
            RETURNING attempts
            """, connection, tx);
        command.Parameters.Add(new() { Value = runId });
        command.Parameters.Add(new() { Value = stage });
        command.Parameters.Add(new() { Value = (object?)jobId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        var attempts = (int)(await command.ExecuteScalarAsync(ct))!;
        await tx.CommitAsync(ct);
        return attempts;
    }

    public async Task CompleteStageAsync(string runId, string stage, string metricsJson, string? artefactsJson, CancellationToken ct)
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE pipeline_runs
            SET status = 'completed', ended_at = now(), metrics = $3::jsonb, artefacts = $4::jsonb, error = NULL
            WHERE run_id = $1 AND stage = $2
            """);
        command.Parameters.Add(new() { Value = runId });
        command.Parameters.Add(new() { Value = stage });
        command.Parameters.Add(new() { Value = metricsJson });
        command.Parameters.Add(new() { Value = (object?)artefactsJson ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Ends a stage attempt as failed or interrupted, with its error.</summary>
    public async Task EndStageAsync(string runId, string stage, string status, string error, CancellationToken ct)
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE pipeline_runs SET status = $3, ended_at = now(), error = $4
            WHERE run_id = $1 AND stage = $2 AND status <> 'completed'
            """);
        command.Parameters.Add(new() { Value = runId });
        command.Parameters.Add(new() { Value = stage });
        command.Parameters.Add(new() { Value = status });
        command.Parameters.Add(new() { Value = error });
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Marks an active run failed with the error of its failed stage (or <paramref name="fallbackError"/>). The
    /// first failure wins: a run already ended keeps its status.
    /// </summary>
    public async Task FailRunAsync(string runId, string fallbackError, CancellationToken ct)
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE pipeline_runs r
            SET status = 'failed', ended_at = now(), error = coalesce(
                (SELECT s.stage || ': ' || s.error FROM pipeline_runs s
                 WHERE s.run_id = r.run_id AND s.stage <> 'run' AND s.status = 'failed' AND s.error IS NOT NULL
                 ORDER BY s.ended_at DESC NULLS LAST LIMIT 1),
                $2)
            WHERE r.run_id = $1 AND r.stage = 'run' AND r.status IN ('enqueued', 'running')
            """);
        command.Parameters.Add(new() { Value = runId });
        command.Parameters.Add(new() { Value = fallbackError });
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Marks the run completed, with the publish stage's metrics as the run's.</summary>
    public async Task CompleteRunAsync(string runId, CancellationToken ct)
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE pipeline_runs r
            SET status = 'completed', ended_at = now(), error = NULL,
                metrics = (SELECT p.metrics FROM pipeline_runs p WHERE p.run_id = r.run_id AND p.stage = 'publish')
            WHERE r.run_id = $1 AND r.stage = 'run'
            """);
        command.Parameters.Add(new() { Value = runId });
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// The fan-in of the score shards: once every shard of the run is completed, exactly one caller wins the
    /// publish stage (pending -> enqueued) and runs <paramref name="enqueue"/> before that is committed. Returns
    /// whether this caller won.
    /// </summary>
    public async Task<bool> ClaimPublishAsync(string runId, Func<string> enqueue, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await using var claim = new NpgsqlCommand("""
            UPDATE pipeline_runs SET status = 'enqueued'
            WHERE run_id = $1 AND stage = 'publish' AND status = 'pending'
              AND NOT EXISTS (SELECT 1 FROM pipeline_runs s
                              WHERE s.run_id = $1 AND s.stage LIKE 'score-%' AND s.status <> 'completed')
            """, connection, tx);
        claim.Parameters.Add(new() { Value = runId });
        if (await claim.ExecuteNonQueryAsync(ct) == 0) return false;
        var jobId = enqueue();
        await Execute(connection, tx, "UPDATE pipeline_runs SET job_id = $2 WHERE run_id = $1 AND stage = 'publish'", ct, runId, jobId);
        await tx.CommitAsync(ct);
        return true;
    }

    public async Task<PipelineRun?> GetRunAsync(string runId, CancellationToken ct)
    {
        await EnsureSchemaAsync();
        await using var command = dataSource.CreateCommand($"""
            SELECT {Columns} FROM pipeline_runs WHERE run_id = $1
            """);
        command.Parameters.Add(new() { Value = runId });
        var rows = new List<(StageRecord Row, string? Settings)>();
        await using (var reader = await command.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct)) rows.Add((ReadRow(reader), reader.IsDBNull(10) ? null : reader.GetString(10)));
        var run = rows.FirstOrDefault(r => r.Row.Stage == StageNames.Run);
        if (run.Row is null) return null;
        var settings = JsonSerializer.Deserialize<RunSettings>(run.Settings ?? "{}", Json.Options)
            ?? throw new PipelineException($"pipeline_runs: run {runId} has no settings");
        var order = StageNames.All(settings.ScoreShards).Select((name, i) => (name, i)).ToDictionary(x => x.name, x => x.i);
        var stages = rows.Where(r => r.Row.Stage != StageNames.Run).Select(r => r.Row)
            .OrderBy(r => order.GetValueOrDefault(r.Stage, int.MaxValue)).ToList();
        return new PipelineRun(run.Row, settings, stages);
    }

    /// <summary>The run that blocks new ones (enqueued or running), if any; Error holds the stage it is at.</summary>
    public async Task<StageRecord?> GetActiveRunAsync(CancellationToken ct)
    {
        await EnsureSchemaAsync();
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await ActiveRunAsync(connection, null, ct);
    }

    /// <summary>Run rows, newest first.</summary>
    public async Task<IReadOnlyList<StageRecord>> ListRunsAsync(int limit, CancellationToken ct)
    {
        await EnsureSchemaAsync();
        await using var command = dataSource.CreateCommand($"""
            SELECT {Columns} FROM pipeline_runs WHERE stage = 'run' ORDER BY started_at DESC LIMIT $1
            """);
        command.Parameters.Add(new() { Value = limit });
        var runs = new List<StageRecord>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) runs.Add(ReadRow(reader));
        return runs;
    }

    const string Columns =
        "run_id, stage, status, attempts, started_at, ended_at, metrics::text, artefacts::text, error, job_id, settings::text";

    static StageRecord ReadRow(NpgsqlDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt32(3),
        r.IsDBNull(4) ? null : r.GetDateTime(4), r.IsDBNull(5) ? null : r.GetDateTime(5),
        r.IsDBNull(6) ? null : r.GetString(6), r.IsDBNull(7) ? null : r.GetString(7),
        r.IsDBNull(8) ? null : r.GetString(8), r.IsDBNull(9) ? null : r.GetString(9));

    /// <summary>The active run's row; its <see cref="StageRecord.Error"/> carries the stage it is at (for messages).</summary>
    static async Task<StageRecord?> ActiveRunAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("""
            SELECT r.run_id, r.stage, r.status, r.attempts, r.started_at, r.ended_at, r.metrics::text, r.artefacts::text,
                   (SELECT s.stage FROM pipeline_runs s
                    WHERE s.run_id = r.run_id AND s.stage <> 'run' AND s.status IN ('running', 'enqueued', 'interrupted', 'failed')
                    ORDER BY s.started_at DESC NULLS LAST LIMIT 1),
                   r.job_id
            FROM pipeline_runs r
            WHERE r.stage = 'run' AND r.status IN ('enqueued', 'running')
            ORDER BY r.started_at LIMIT 1
            """, connection, tx);
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? ReadRow(reader) : null;
    }

    static string Describe(StageRecord run) =>
        (run.StartedAt is { } started ? $"{run.Status} since {started.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC" : run.Status)
        + (run.Error is { } stage ? $", at stage {stage}" : "");

    static async Task Execute(NpgsqlConnection connection, NpgsqlTransaction? tx, string sql, CancellationToken ct, params object[] args)
    {
        await using var command = new NpgsqlCommand(sql, connection, tx);
        foreach (var arg in args) command.Parameters.Add(new() { Value = arg });
        await command.ExecuteNonQueryAsync(ct);
    }
}
