namespace HrnnPipeline.Scoring.Publishing;

/// <summary>
/// The statements on <c>model_versions</c> both stores run, written once. The stores write parameters differently
/// (PostgreSQL numbers them, the DuckDB store names them), so each statement takes its parameters' placeholders.
/// </summary>
static class VersionSql
{
    /// <summary>
    /// Retention: the versions whose rows go. The active version and the newest ready ones are kept,
    /// <paramref name="keep"/> in all; older ready ones go, and so do retired and failed ones (rows a crash left).
    /// </summary>
    public static string DoomedVersions(string keep) => $"""
        select version from (
            select version,
                   row_number() over (order by status = 'active' desc, activated_at desc nulls last, created_at desc) as position
            from model_versions
            where status in ('active', 'ready')
        ) ranked
        where position > {keep}
        union all
        select version from model_versions where status in ('retired', 'failed')
        """;

    /// <summary>A doomed version becomes 'retired' (a failed one stays 'failed').</summary>
    public static string Retire(string version) =>
        $"update model_versions set status = 'retired' where version = {version} and status in ('active', 'ready')";

    /// <summary>The switch, before <see cref="Activate"/>: the version served until now stays ready to roll back to.</summary>
    public static string DemoteActive(string version) =>
        $"update model_versions set status = 'ready' where status = 'active' and version <> {version}";

    /// <summary>The switch, once the version's rows are in place, with its counts.</summary>
    public static string Activate(string version, string listLength, string users, string rows) => $"""
        update model_versions
        set status = 'active', activated_at = now(), list_length = {listLength}, users = {users}, recommendation_rows = {rows}
        where version = {version}
        """;

    /// <summary>The ready version a rollback from <paramref name="from"/> (null when none is active) goes back to.</summary>
    public static string RollbackTarget(string from) => $"""
        select version from model_versions
        where status = 'ready' and version is distinct from {from}
        order by activated_at desc nulls last, created_at desc
        limit 1
        """;
}
