//! Helpers shared by the event log's tests.

use crm_eventlog::{EventLog, ExpectedVersion, NewEvent, StreamAppend};
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

/// Runs `sql` with the append-only guards of events and seals disabled, as a
/// superuser tampering with the tables would.
pub async fn behind_the_back(log: &EventLog, sql: &str) {
    exec(
        log,
        &format!(
            "ALTER TABLE eventlog.events DISABLE TRIGGER events_append_only; \
             ALTER TABLE eventlog.seals DISABLE TRIGGER seals_append_only; {sql}; \
             ALTER TABLE eventlog.events ENABLE ALWAYS TRIGGER events_append_only; \
             ALTER TABLE eventlog.seals ENABLE ALWAYS TRIGGER seals_append_only;"
        ),
    )
    .await
    .expect("tampering");
}

/// Recomputes every hash of `stream` from its stored fields, as a forger covering
/// his tracks would: afterwards its chain verifies again.
pub async fn rechain(log: &EventLog, stream: &str) {
    use crm_eventlog::{canonical_json, ChainedFields, GENESIS_HASH};
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT event_id, version, position, event_type, schema_version, occurred_at, \
                recorded_at, data, metadata FROM eventlog.events WHERE stream_id = $1 ORDER BY version",
    )
    .bind(stream)
    .fetch_all(log.pool())
    .await
    .expect("the stream");
    let mut previous = GENESIS_HASH.to_vec();
    let mut updates = String::new();
    for row in rows {
        let data = canonical_json(&row.get::<serde_json::Value, _>("data"));
        let metadata = canonical_json(&row.get::<serde_json::Value, _>("metadata"));
        let event_type: String = row.get("event_type");
        let fields = ChainedFields {
            event_id: row.get("event_id"),
            stream,
            version: row.get("version"),
            position: row.get("position"),
            event_type: &event_type,
            schema_version: row.get("schema_version"),
            occurred_at: row.get("occurred_at"),
            recorded_at: row.get("recorded_at"),
            data: &data,
            metadata: &metadata,
        };
        let hash = fields.hash(&previous);
        updates.push_str(&format!(
            "UPDATE eventlog.events SET hash = '\\x{}' WHERE event_id = '{}';",
            hex::encode(hash),
            fields.event_id
        ));
        previous = hash.to_vec();
    }
    behind_the_back(log, &updates).await;
}

/// A copy of the database `conn` points at, made with `CREATE DATABASE … TEMPLATE`
/// (waiting until nobody is connected to the original); returns where it is.
pub async fn copy_database(conn: &PgConnectOptions, suffix: &str) -> PgConnectOptions {
    use sqlx::Connection;
    let original = conn.get_database().expect("a database name").to_owned();
    // Test databases' names are 63 bytes already, PostgreSQL's limit: a copy's name is
    // the original's tail and the suffix.
    let tail = &original[original.len().saturating_sub(20)..];
    let copy = format!("copy_{tail}_{suffix}");
    assert!(copy.len() <= 63, "{copy} is too long a name");
    let mut admin = sqlx::PgConnection::connect_with(&conn.clone().database("postgres"))
        .await
        .expect("the server");
    // A copy left by an earlier run that failed (test databases' names repeat).
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{copy}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("dropping an old copy");
    for attempt in 0.. {
        // The original's pool is closed, but a connection may linger a moment.
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
              WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&original)
        .execute(&mut admin)
        .await
        .expect("ending the original's sessions");
        let made = sqlx::raw_sql(&format!(
            "CREATE DATABASE \"{copy}\" TEMPLATE \"{original}\""
        ))
        .execute(&mut admin)
        .await;
        match made {
            Ok(_) => break,
            // The original's last connections are still closing.
            Err(e) if attempt < 200 && e.to_string().contains("being accessed") => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("copying {original}: {e}"),
        }
    }
    admin.close().await.expect("closing");
    conn.clone().database(&copy)
}

/// Drops a database made by [`copy_database`].
pub async fn drop_database(conn: &PgConnectOptions) {
    use sqlx::Connection;
    let name = conn.get_database().expect("a database name").to_owned();
    let mut admin = sqlx::PgConnection::connect_with(&conn.clone().database("postgres"))
        .await
        .expect("the server");
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("dropping the copy");
    admin.close().await.expect("closing");
}

/// Appends the tamper tests' story: three streams of five events each, in interleaved
/// order, then a lead converted into a client in one append (two streams).
pub async fn append_story(log: &EventLog) {
    for round in 0..5 {
        for stream in ["deal-a", "deal-b", "deal-c"] {
            log.append(
                stream,
                ExpectedVersion::Any,
                vec![ev("DealStageChanged", round)],
            )
            .await
            .unwrap();
        }
    }
    log.append_multi(vec![
        StreamAppend::new(
            "lead-x",
            ExpectedVersion::NoStream,
            vec![ev("LeadConverted", 1)],
        ),
        StreamAppend::new(
            "client-x",
            ExpectedVersion::NoStream,
            vec![ev("ClientRegistered", 1)],
        ),
    ])
    .await
    .unwrap();
}
