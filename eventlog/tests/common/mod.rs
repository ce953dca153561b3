//! Helpers shared by the event log's tests.
#![allow(dead_code, missing_docs)]

use crm_eventlog::{EventLog, NewEvent};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// A log on the test's fresh database with room for `connections` connections.
pub async fn log_with(opts: PgPoolOptions, conn: PgConnectOptions, connections: u32) -> EventLog {
    let pool = opts
        .max_connections(connections)
        .connect_with(conn)
        .await
        .expect("test database");
    EventLog::new(pool)
}

/// An event of `event_type` whose payload carries `n`.
pub fn ev(event_type: &str, n: i64) -> NewEvent {
    NewEvent::new(event_type, json!({ "n": n }))
}

/// Runs SQL as the connection's (super)user, bypassing nothing.
pub async fn exec(log: &EventLog, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sql).execute(log.pool()).await.map(|_| ())
}
