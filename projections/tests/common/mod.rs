//! Helpers shared by the runtime's tests: pools, a counting projection, counts.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use crm_eventlog::{EventLog, ExpectedVersion, NewEvent, RecordedEvent};
use crm_projections::FeedEvent;
use crm_projections::{Projection, ProjectionError, ProjectionStatus, RunnerConfig};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::mpsc;

/// A log with a pool of its own whose connections carry `application_name = app`
/// (so a test can find and terminate them).
pub async fn log_on(conn: &PgConnectOptions, app: &str, connections: u32) -> EventLog {
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .connect_with(conn.clone().application_name(app))
        .await
        .expect("test database");
    EventLog::new(pool)
}

/// Closes a log, not waiting forever for connections held by aborted tasks.
pub async fn close(log: EventLog) {
    let _ = tokio::time::timeout(Duration::from_secs(5), log.close()).await;
}

/// A runner configuration with short pauses, for tests.
pub fn fast_config(batch_size: usize) -> RunnerConfig {
    RunnerConfig {
        batch_size,
        standby_retry: Duration::from_millis(100),
        health_check: Duration::from_millis(200),
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_millis(800),
        ..RunnerConfig::default()
    }
}

/// Appends `n` events of the types in `types`, in turn, `per_append` per append to
/// streams `deal-<k>`; returns the last position.
pub async fn append_events(log: &EventLog, n: usize, types: &[&str], per_append: usize) -> i64 {
    let mut last = 0;
    let mut i = 0;
    while i < n {
        let k = (n - i).min(per_append);
        let events: Vec<NewEvent> = (i..i + k)
            .map(|j| NewEvent::new(types[j % types.len()], json!({ "n": j })))
            .collect();
        let out = log
            .append(&format!("deal-{}", i % 7), ExpectedVersion::Any, events)
            .await
            .unwrap();
        last = out.last_position();
        i += k;
    }
    last
}

/// The log's events per type, counted independently of the runtime.
pub async fn log_counts(pool: &PgPool, types: Option<&[&str]>) -> BTreeMap<String, i64> {
    let types: Option<Vec<String>> = types.map(|t| t.iter().map(|s| s.to_string()).collect());
    sqlx::query_as(
        "SELECT event_type, count(*) FROM eventlog.events \
          WHERE $1::text[] IS NULL OR event_type = ANY($1) GROUP BY event_type",
    )
    .bind(types)
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

/// A counting projection's figures.
pub async fn projected_counts(pool: &PgPool, table: &str) -> BTreeMap<String, i64> {
    sqlx::query_as(&format!("SELECT event_type, n FROM {table}"))
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// The status of one projection.
pub async fn status_of(log: &EventLog, name: &str) -> ProjectionStatus {
    status_if_any(log, name)
        .await
        .unwrap_or_else(|| panic!("no status for {name}"))
}

/// The status of one projection, or None while its runner has not recorded one yet.
pub async fn status_if_any(log: &EventLog, name: &str) -> Option<ProjectionStatus> {
    crm_projections::status(log.pool(), log)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == name)
}

/// Waits until `check` is true, up to `within`; returns how long it took.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Creates a counting projection's table `table` (events per type) if it is missing.
pub async fn create_counts(
    tx: &mut Transaction<'_, Postgres>,
    table: &str,
) -> Result<(), ProjectionError> {
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {table} (event_type text PRIMARY KEY, n bigint NOT NULL)"
    ))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds `events` to the counts per type of the table `table` made by [`create_counts`].
pub async fn add_counts(
    tx: &mut Transaction<'_, Postgres>,
    table: &str,
    events: &[&RecordedEvent],
) -> Result<(), ProjectionError> {
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    sqlx::query(&format!(
        "INSERT INTO {table} (event_type, n) SELECT t, count(*) FROM unnest($1::text[]) t \
          GROUP BY t ON CONFLICT (event_type) DO UPDATE SET n = {table}.n + EXCLUDED.n"
    ))
    .bind(&types)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Counts events per type into `<table>` and records every position it applied in
/// `<table>_seen` (whose primary key makes a repeated event fail the projection), with
/// the applying connection's application name.
pub struct Counter {
    pub name: &'static str,
    pub table: &'static str,
    pub version: i32,
    pub types: Option<Vec<String>>,
    /// Events of this type fail unless `test_flags` has `(name, true)`.
    pub fail_on: Option<&'static str>,
    /// Sleeps this long per batch (to keep a runner busy).
    pub slow: Option<Duration>,
    /// Told the instant each batch is applied.
    pub applied: Option<mpsc::UnboundedSender<(Instant, Vec<i64>)>>,
}

impl Counter {
    pub fn new(name: &'static str, table: &'static str) -> Self {
        Counter {
            name,
            table,
            version: 1,
            types: None,
            fail_on: None,
            slow: None,
            applied: None,
        }
    }
}

#[async_trait]
impl Projection for Counter {
    fn name(&self) -> &str {
        self.name
    }

    fn version(&self) -> i32 {
        self.version
    }

    fn tables(&self) -> Vec<&str> {
        Vec::new()
    }
    fn event_types(&self) -> Option<Vec<String>> {
        self.types.clone()
    }

    async fn setup(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        let t = self.table;
        create_counts(tx, t).await?;
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {t}_seen (position bigint PRIMARY KEY, \
             applied_by text NOT NULL DEFAULT current_setting('application_name'))"
        ))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError> {
        let events: Vec<&RecordedEvent> = events.iter().map(|e| &e.stored).collect();
        if let Some(bad) = self.fail_on {
            if let Some(event) = events.iter().find(|e| e.event_type == bad) {
                let ok: Option<bool> =
                    sqlx::query_scalar("SELECT ok FROM test_flags WHERE name = $1")
                        .bind(self.name)
                        .fetch_optional(&mut **tx)
                        .await?;
                if ok != Some(true) {
                    return Err(ProjectionError::failed(format!(
                        "cannot digest a poison event at {}",
                        event.position
                    )));
                }
            }
        }
        if let Some(pause) = self.slow {
            tokio::time::sleep(pause).await;
        }
        let t = self.table;
        add_counts(tx, t, &events).await?;
        let positions: Vec<i64> = events.iter().map(|e| e.position).collect();
        sqlx::query(&format!(
            "INSERT INTO {t}_seen (position) SELECT unnest($1::bigint[])"
        ))
        .bind(&positions)
        .execute(&mut **tx)
        .await?;
        if let Some(tell) = &self.applied {
            let _ = tell.send((Instant::now(), positions));
        }
        Ok(())
    }

    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        let t = self.table;
        let sql = format!("TRUNCATE {t}, {t}_seen");
        sqlx::query(&sql).execute(&mut **tx).await?;
        Ok(())
    }
}
