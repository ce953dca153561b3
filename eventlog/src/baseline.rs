//! Plain SQL over the log's own table, for the benchmarks' raw baselines: the same
//! rows read with none of the store's checks or decoding, so that a benchmark can
//! print the store's figure beside what PostgreSQL alone does. The one way a crate
//! other than this one reaches the `eventlog` schema's tables.

use sqlx::PgPool;

use crate::EventLogError;

/// `bench_raw`: the log's columns and indexes in a plain table, for a raw `INSERT`
/// to be measured beside an append (also used by `eventlog/pgbench/run.sh`).
pub const RAW_TABLE: &str = include_str!("../pgbench/raw_table.sql");

/// Every column of a page of events after position `$1`, at most `$2`, by position.
pub const PAGE_BY_POSITION: &str = "SELECT position, tx_id, event_id, stream_id, version, \
    event_type, schema_version, occurred_at, recorded_at, data, metadata, hash \
    FROM eventlog.events WHERE position > $1 ORDER BY position LIMIT $2";

/// Every column of a page of 5,000 events after `($1, $2)` = (tx_id, position), in
/// feed order.
pub const PAGE_IN_FEED_ORDER: &str =
    "SELECT tx_id, position, event_id, stream_id, version, event_type, schema_version, \
            occurred_at, recorded_at, data, metadata, hash \
       FROM eventlog.events WHERE (tx_id, position) > ($1, $2) \
      ORDER BY tx_id, position LIMIT 5000";

/// How many events the log holds, counted with `count(*)`.
pub async fn count(pool: &PgPool) -> Result<i64, EventLogError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM eventlog.events")
        .fetch_one(pool)
        .await?)
}

/// Refreshes the planner's statistics of the events table and its visibility map
/// (after a bulk load, before measuring).
pub async fn vacuum_analyze(pool: &PgPool) -> Result<(), EventLogError> {
    sqlx::query("VACUUM ANALYZE eventlog.events")
        .execute(pool)
        .await?;
    Ok(())
}
