//! `crm bench log`: append and feed rates of the event log beside raw SQL on the same rows.
//!
//! Everything runs in a fresh database created for the run and dropped after it.
//! The raw baselines write the same rows (same columns, same indexes) into a plain
//! table with plain SQL: one single-row `INSERT` per transaction, one multi-row
//! `INSERT` per batch, and a plain ordered `SELECT` for reading.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crm_eventlog::{Cursor, EventLog, ExpectedVersion, FeedFilter, Metadata, NewEvent, Source};
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::measure::{run_for, Measurement, Table};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds each measurement runs.
    pub seconds: u64,
    /// Concurrent writers of single-event appends, one measurement each.
    pub writers: Vec<usize>,
    /// Concurrent writers of batched appends.
    pub batch_writers: usize,
    /// Events per batched append.
    pub batch_size: usize,
}

const RAW_INSERT: &str = "INSERT INTO bench_raw \
    (event_id, stream_id, version, event_type, schema_version, occurred_at, data, metadata, hash) \
    VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8)";

const RAW_INSERT_MANY: &str = "INSERT INTO bench_raw \
    (event_id, stream_id, version, event_type, schema_version, occurred_at, data, metadata, hash) \
    SELECT id, $1, v, $2, 1, $3, d, $4, h \
      FROM unnest($5::uuid[], $6::bigint[], $7::jsonb[], $8::bytea[]) AS x(id, v, d, h)";

const RAW_SELECT: &str = crm_eventlog::baseline::PAGE_BY_POSITION;

/// Streams per writer: appends cycle through them, so each stream grows by one
/// version every `STREAMS_PER_WRITER` appends.
const STREAMS_PER_WRITER: u64 = 50;

/// A payload the size of a real stage change.
fn payload() -> Value {
    json!({
        "deal_id": Uuid::new_v4(),
        "from_stage_id": Uuid::new_v4(),
        "to_stage_id": Uuid::new_v4(),
    })
}

fn metadata() -> Metadata {
    Metadata {
        actor: Some(Uuid::new_v4().to_string()),
        correlation_id: Some(Uuid::new_v4()),
        causation_id: None,
        request_id: Some(Uuid::new_v4().to_string()),
        rule_id: None,
        source: Source::Api,
    }
}

/// Runs every measurement against a fresh database on the server of `admin_url`.
pub async fn run(admin_url: &str, opts: &Options) -> anyhow::Result<String> {
    super::in_fresh_database(admin_url, "crm_bench", |target| measure(target, opts)).await
}

async fn measure(target: PgConnectOptions, opts: &Options) -> anyhow::Result<String> {
    let max_writers = opts
        .writers
        .iter()
        .copied()
        .max()
        .unwrap_or(1)
        .max(opts.batch_writers);
    let pool = PgPoolOptions::new()
        .max_connections(u32::try_from(max_writers + 4)?)
        .connect_with(target)
        .await?;
    let log = EventLog::new(pool.clone());
    log.migrate().await?;
    sqlx::raw_sql(crm_eventlog::baseline::RAW_TABLE)
        .execute(&pool)
        .await?;
    let seconds = Duration::from_secs(opts.seconds);
    let mut table = Table::new("raw SQL");

    // Warm both paths up (plans cached, files extended).
    single_appends(&log, 4, Duration::from_secs(1), 0).await?;
    raw_single_inserts(&pool, 4, Duration::from_secs(1), 0).await?;

    for (phase, &writers) in (1u64..).zip(&opts.writers) {
        let raw = raw_single_inserts(&pool, writers, seconds, phase).await?;
        let ours = single_appends(&log, writers, seconds, phase).await?;
        let target = (writers == 16).then_some(0.6);
        table.row(
            &format!("single-event append, {writers} writers"),
            &ours,
            &raw,
            target,
        );
        eprintln!(
            "single-event appends at {writers} writers: {:.0}/s vs raw {:.0}/s",
            ours.rate(),
            raw.rate()
        );
    }

    let raw = raw_batch_inserts(&pool, opts.batch_writers, opts.batch_size, seconds).await?;
    let ours = batch_appends(&log, opts.batch_writers, opts.batch_size, seconds).await?;
    table.row(
        &format!(
            "batched append ({} events), {} writers, events",
            opts.batch_size, opts.batch_writers
        ),
        &ours,
        &raw,
        Some(0.5),
    );
    eprintln!(
        "batched appends: {:.0} events/s vs raw {:.0}/s",
        ours.rate(),
        raw.rate()
    );

    let total = crm_eventlog::baseline::count(&pool).await?;
    let raw = raw_reads(&pool, seconds).await?;
    let ours = feed_reads(&log, seconds).await?;
    table.row(
        &format!("feed read ({total} events, pages of 1000), events"),
        &ours,
        &raw,
        Some(0.5),
    );
    eprintln!(
        "feed reading: {:.0} events/s vs raw {:.0}/s",
        ours.rate(),
        raw.rate()
    );

    log.close().await;
    Ok(table.render())
}

/// The stream and version of a writer's `iteration`-th single-event append.
fn slot(phase: u64, writer: usize, iteration: u64) -> (String, i64) {
    let stream = format!("bench{phase}-w{writer}-s{}", iteration % STREAMS_PER_WRITER);
    let version = i64::try_from(iteration / STREAMS_PER_WRITER + 1).unwrap_or(i64::MAX);
    (stream, version)
}

async fn single_appends(
    log: &EventLog,
    writers: usize,
    time: Duration,
    phase: u64,
) -> anyhow::Result<Measurement> {
    let log = log.clone();
    let prefix = phase + 100;
    run_for(writers, time, move |writer, iteration| {
        let log = log.clone();
        async move {
            let (stream, version) = slot(prefix, writer, iteration);
            let expected = if version == 1 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(version - 1)
            };
            let event = NewEvent::new("DealStageChanged", payload()).with_metadata(metadata());
            log.append(&stream, expected, vec![event]).await?;
            Ok(1)
        }
    })
    .await
}

async fn raw_single_inserts(
    pool: &PgPool,
    writers: usize,
    time: Duration,
    phase: u64,
) -> anyhow::Result<Measurement> {
    let pool = pool.clone();
    run_for(writers, time, move |writer, iteration| {
        let pool = pool.clone();
        async move {
            let (stream, version) = slot(phase, writer, iteration);
            sqlx::query(RAW_INSERT)
                .bind(Uuid::new_v4())
                .bind(stream)
                .bind(version)
                .bind("DealStageChanged")
                .bind(Utc::now())
                .bind(payload())
                .bind(serde_json::to_value(metadata())?)
                .bind(Uuid::new_v4().as_bytes().repeat(2))
                .execute(&pool)
                .await?;
            Ok(1)
        }
    })
    .await
}

async fn batch_appends(
    log: &EventLog,
    writers: usize,
    size: usize,
    time: Duration,
) -> anyhow::Result<Measurement> {
    let log = log.clone();
    run_for(writers, time, move |writer, iteration| {
        let log = log.clone();
        async move {
            let events: Vec<_> = (0..size)
                .map(|_| NewEvent::new("InteractionLogged", payload()).with_metadata(metadata()))
                .collect();
            let stream = format!("batch-w{writer}-{iteration}");
            log.append(&stream, ExpectedVersion::NoStream, events)
                .await?;
            Ok(size as u64)
        }
    })
    .await
}

async fn raw_batch_inserts(
    pool: &PgPool,
    writers: usize,
    size: usize,
    time: Duration,
) -> anyhow::Result<Measurement> {
    let pool = pool.clone();
    run_for(writers, time, move |writer, iteration| {
        let pool = pool.clone();
        async move {
            let ids: Vec<Uuid> = (0..size).map(|_| Uuid::new_v4()).collect();
            let versions: Vec<i64> = (1..=i64::try_from(size)?).collect();
            let data: Vec<Value> = (0..size).map(|_| payload()).collect();
            let hashes: Vec<Vec<u8>> = (0..size)
                .map(|_| Uuid::new_v4().as_bytes().repeat(2))
                .collect();
            sqlx::query(RAW_INSERT_MANY)
                .bind(format!("rawbatch-w{writer}-{iteration}"))
                .bind("InteractionLogged")
                .bind(Utc::now())
                .bind(serde_json::to_value(metadata())?)
                .bind(ids)
                .bind(versions)
                .bind(data)
                .bind(hashes)
                .execute(&pool)
                .await?;
            Ok(size as u64)
        }
    })
    .await
}

/// One reader going through the whole log again and again, a page at a time.
async fn feed_reads(log: &EventLog, time: Duration) -> anyhow::Result<Measurement> {
    let log = log.clone();
    let cursor = Arc::new(tokio::sync::Mutex::new(Cursor::start()));
    run_for(1, time, move |_, _| {
        let log = log.clone();
        let cursor = Arc::clone(&cursor);
        async move {
            let mut cursor = cursor.lock().await;
            let page = log.read_feed(*cursor, 1000, &FeedFilter::default()).await?;
            *cursor = if page.caught_up {
                Cursor::start()
            } else {
                page.next
            };
            Ok(page.events.len() as u64)
        }
    })
    .await
}

/// The same reader with a plain `SELECT … ORDER BY position`, decoding the same columns.
async fn raw_reads(pool: &PgPool, time: Duration) -> anyhow::Result<Measurement> {
    let pool = pool.clone();
    let after = Arc::new(tokio::sync::Mutex::new(0i64));
    run_for(1, time, move |_, _| {
        let pool = pool.clone();
        let after = Arc::clone(&after);
        async move {
            let mut after = after.lock().await;
            let rows = sqlx::query(RAW_SELECT)
                .bind(*after)
                .bind(1000i64)
                .fetch_all(&pool)
                .await?;
            let mut last = 0;
            for row in &rows {
                last = row.try_get::<i64, _>("position")?;
                let _: (i64, Uuid, String, i64, String, i32) = (
                    row.try_get("tx_id")?,
                    row.try_get("event_id")?,
                    row.try_get("stream_id")?,
                    row.try_get("version")?,
                    row.try_get("event_type")?,
                    row.try_get("schema_version")?,
                );
                let _: (
                    chrono::DateTime<Utc>,
                    chrono::DateTime<Utc>,
                    Value,
                    Value,
                    Vec<u8>,
                ) = (
                    row.try_get("occurred_at")?,
                    row.try_get("recorded_at")?,
                    row.try_get("data")?,
                    row.try_get("metadata")?,
                    row.try_get("hash")?,
                );
            }
            *after = if rows.len() < 1000 { 0 } else { last };
            Ok(rows.len() as u64)
        }
    })
    .await
}
