//! Helpers shared by the event log's tests.
#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use crm_eventlog::{EventLog, NewEvent};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// A log on the test's fresh database with a pool of its own of `connections`
/// connections (test pools share 20 across all tests); close it before the test ends.
pub async fn log_with(_opts: PgPoolOptions, conn: PgConnectOptions, connections: u32) -> EventLog {
    let pool = PgPoolOptions::new()
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

/// Waits until the feed delivers `count` events: transactions of other tests on the
/// same server hold the feed back while they run.
pub async fn wait_for_feed(log: &EventLog, count: usize) {
    use crm_eventlog::{Cursor, FeedFilter};
    for _ in 0..1000 {
        let mut cursor = Cursor::start();
        let mut seen = 0;
        loop {
            let page = log
                .read_feed(cursor, 10_000, &FeedFilter::default())
                .await
                .expect("feed");
            seen += page.events.len();
            cursor = page.next;
            if page.caught_up {
                break;
            }
        }
        if seen >= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the feed did not deliver {count} events in 10 s");
}
