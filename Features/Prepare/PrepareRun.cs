using DuckDB.NET.Data;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Features.Prepare;

/// <summary>
/// One stage of <see cref="FeatureBuilder"/>. Stages run in order on one <see cref="PrepareRun"/>, each reading the
/// scratch tables (<c>fe_*</c>) the ones before it left; what a later stage needs besides tables, an earlier one
/// exposes as a property.
/// </summary>
interface IPrepareStage
{
    /// <summary>The stage's name in progress lines and errors.</summary>
    string Name { get; }

    Task RunAsync(PrepareRun run);
}

/// <summary>
/// One prepare run on one connection: runs the stages and gives them the SQL helpers. Progress counts stages (the
/// list <see cref="FeatureBuilder"/> builds), with the current step as the detail; a failing statement is reported
/// by its step name.
/// </summary>
sealed class PrepareRun(DuckDBConnection connection, string warehousePath, ProgressReporter progress, CancellationToken ct)
{
    int _done;
    string? _stage;

    public DuckDBConnection Connection => connection;
    public string WarehousePath => warehousePath;
    public CancellationToken Token => ct;
    /// <summary>Wall time per step (stage: step), for the summary.</summary>
    public StepTimings Timings { get; } = new();

    public async Task ConfigureAsync(string memoryLimit)
    {
        // SET takes no parameters; the memory limit is validated by FeatureOptions. Insertion order must stay
        // preserved: the streaming windows and the exports rely on DuckDB's documented order preservation.
        await ExecAsync("configure", $"SET threads = {Environment.ProcessorCount}");
        await ExecAsync("configure", $"SET memory_limit = '{memoryLimit}'");
        await ExecAsync("configure", "SET preserve_insertion_order = true");
    }

    public async Task RunStageAsync(IPrepareStage stage)
    {
        _stage = stage.Name;
        await stage.RunAsync(this);
        _done++;
    }

    public void Report(string step) => progress.Report(_done, Label(step));

    string Label(string step) => _stage is null ? step : $"{_stage}: {step}";

    public Task ExecAsync(string step, string sql, params DuckDBParameter[] parameters) =>
        ExecAsync(step, sql, (IEnumerable<DuckDBParameter>)parameters);

    public async Task ExecAsync(string step, string sql, IEnumerable<DuckDBParameter> parameters)
    {
        Report(step);
        ProfileNext(step);
        using var command = Command(sql, parameters);
        try
        {
            await Timings.TimeAsync(Label(step), () => command.ExecuteNonQueryAsync(ct));
        }
        catch (DuckDBException e)
        {
            throw Failed(step, e);
        }
        finally
        {
            ProfileDone();
        }
    }

    /// <summary>
    /// With HRNN_DUCKDB_PROFILE=DIR, DuckDB writes each statement's operator tree with per-operator times (what
    /// EXPLAIN ANALYZE shows) to DIR/NN-stage-step.txt: the profile of a real run without changing its SQL.
    /// </summary>
    void ProfileNext(string step)
    {
        if (Environment.GetEnvironmentVariable("HRNN_DUCKDB_PROFILE") is not { Length: > 0 } dir) return;
        Directory.CreateDirectory(dir);
        var name = $"{++_profiled:00}-{string.Concat(Label(step).Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-'))}.txt";
        var output = Path.Combine(Path.GetFullPath(dir), name).Replace("'", "''");
        using var command = Command($"SET enable_profiling = 'query_tree'; SET profiling_output = '{output}'");
        command.ExecuteNonQuery();
    }

    /// <summary>Stops profiling, so the queries between steps do not overwrite the step's profile.</summary>
    void ProfileDone()
    {
        if (Environment.GetEnvironmentVariable("HRNN_DUCKDB_PROFILE") is not { Length: > 0 }) return;
        using var command = Command("PRAGMA disable_profiling");
        command.ExecuteNonQuery();
    }

    int _profiled;

    public async Task<long> ScalarAsync(string step, string sql)
    {
        using var command = Command(sql);
        try
        {
            return Convert.ToInt64(await Timings.TimeAsync(Label(step), () => command.ExecuteScalarAsync(ct)));
        }
        catch (DuckDBException e)
        {
            throw Failed(step, e);
        }
    }

    public DuckDBCommand Command(string sql, params DuckDBParameter[] parameters) =>
        Command(sql, (IEnumerable<DuckDBParameter>)parameters);

    public DuckDBCommand Command(string sql, IEnumerable<DuckDBParameter> parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var p in parameters) command.Parameters.Add(p);
        return command;
    }

    PipelineException Failed(string step, DuckDBException e) =>
        new($"{warehousePath}: prepare step '{Label(step)}' failed: {FirstLine(e.Message)}", isPermanent: false, e);

    public static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();
}
