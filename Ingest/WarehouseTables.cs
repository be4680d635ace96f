using DuckDB.NET.Data;

namespace HrnnPipeline.Ingest;

/// <summary>
/// The warehouse tables Ingest writes. <c>events</c>, <c>ingested_files</c> and <c>rejected_events</c> are the
/// contract Features reads; <c>ingest_failures</c> records files refused for too many bad rows (their rejected rows
/// stay in <c>rejected_events</c> under the failed attempt's file_id until the file is ingested or refused again).
/// </summary>
internal static class WarehouseTables
{
    public static void Create(DuckDBConnection connection) => connection.Execute("""
        CREATE TABLE IF NOT EXISTS events (
            file_id INTEGER NOT NULL,
            line_no BIGINT NOT NULL,
            user_id VARCHAR NOT NULL,
            item_id VARCHAR NOT NULL,
            ts_ms BIGINT NOT NULL,
            session_id VARCHAR,
            event_type VARCHAR,
            value DOUBLE
        );
        CREATE TABLE IF NOT EXISTS ingested_files (
            file_id INTEGER PRIMARY KEY,
            path VARCHAR,
            sha256 VARCHAR UNIQUE,
            format VARCHAR,
            time_unit VARCHAR,
            accepted BIGINT,
            rejected BIGINT,
            ingested_at TIMESTAMP
        );
        CREATE TABLE IF NOT EXISTS rejected_events (
            file_id INTEGER,
            path VARCHAR,
            line_no BIGINT,
            raw_line VARCHAR,
            reason VARCHAR
        );
        CREATE TABLE IF NOT EXISTS ingest_failures (
            file_id INTEGER,
            path VARCHAR,
            sha256 VARCHAR,
            format VARCHAR,
            time_unit VARCHAR,
            accepted BIGINT,
            rejected BIGINT,
            reason VARCHAR,
            failed_at TIMESTAMP
        );
        """);
}
