//! `crm bench custom`: building custom projections from a generated log, beside the
//! raw read of the same log.
//!
//! A fresh database gets a generated company (`crm seed`); then, in one run on the same
//! PostgreSQL: the raw rate of reading the whole log with plain SQL (the baseline), and
//! for each example definition the time from its `ProjectionDefined` event to its first
//! generation going live (built from the whole log by the custom projections'
//! supervisor and runner, as `crm serve` runs them), in log events per second. The
//! catalog of definitions has caught up with the generated log before the clock starts,
//! as it has on a running server.

use std::time::{Duration, Instant};

use crm_domain::custom_projection::{self, CustomProjectionCommand, CustomProjectionState};
use crm_domain::Aggregate;
use crm_eventlog::{EventLog, ExpectedVersion, NewEvent};
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;

use super::measure::{mib, peak_mib, raw_read, reset_peak};

/// The feed baseline's page: the runtime's catch-up page (`RunnerConfig::batch_size`).
const FEED_PAGE: usize = 10_000;

/// Runs every measurement against a fresh database on the server of `admin_url`.
pub async fn run(admin_url: &str, generated: &super::Generated) -> anyhow::Result<String> {
    super::in_fresh_database(admin_url, "crm_bench_custom", |target| {
        measure(target, generated)
    })
    .await
}

/// The definitions measured: a simple group-by over every event, and one with a join.
fn definitions() -> Vec<(&'static str, &'static str, Value)> {
    let business: Vec<&str> = crm_domain::events::EVENT_TYPES
        .iter()
        .copied()
        .filter(|t| !t.starts_with("Projection"))
        .collect();
    vec![
        (
            "pipelines",
            "floor: reads the whole log, counts only the pipelines",
            json!({
                "event_types": ["PipelineDefined"],
                "measures": [{"name": "pipelines", "fn": "count"}]
            }),
        ),
        (
            "events_per_type_month",
            "simple group-by: every event, by type and month (count)",
            json!({
                "event_types": business,
                "group_by": [
                    {"name": "type", "field": "event.type"},
                    {"name": "month", "bucket": "month", "time_zone": "Europe/Kyiv"}
                ],
                "measures": [{"name": "events", "fn": "count"}]
            }),
        ),
        (
            "calls_per_region_month",
            "join: calls by the client's region as of each call, by month (count, sum)",
            json!({
                "event_types": ["InteractionLogged"],
                "filters": [{"field": "data.kind", "op": "eq", "value": "call"}],
                "group_by": [
                    {"name": "region", "field": "client.region"},
                    {"name": "month", "bucket": "month", "time_zone": "Europe/Kyiv"}
                ],
                "measures": [
                    {"name": "calls", "fn": "count"},
                    {"name": "seconds", "fn": "sum", "field": "data.duration.seconds"}
                ]
            }),
        ),
    ]
}

async fn measure(target: PgConnectOptions, generated: &super::Generated) -> anyhow::Result<String> {
    let (pool, log, total) = super::generated_log(target, 8, generated).await?;

    reset_peak();
    let started = Instant::now();
    let read = raw_read(&pool).await?;
    let raw_rate = read as f64 / started.elapsed().as_secs_f64();
    anyhow::ensure!(read == total, "raw read saw {read} of {total} events");

    let started = Instant::now();
    let (mut cursor, mut fed) = (crm_eventlog::Cursor::start(), 0u64);
    loop {
        let page = log
            .read_feed(cursor, FEED_PAGE, &crm_eventlog::FeedFilter::default())
            .await?;
        fed += page.events.len() as u64;
        cursor = page.next;
        if page.caught_up {
            break;
        }
    }
    let feed_rate = fed as f64 / started.elapsed().as_secs_f64();

    let mut out = format!(
        "Log of {total} generated events (`--seed {}`, year ending {}); raw read with plain \
         SQL in the same run: {raw_rate:.0} events/s; the feed read page by page \
         (`EventLog::read_feed`, 10,000 events): {feed_rate:.0} events/s.\n\n\
         | definition | build time | log events/s | ratio to raw read | rows | peak memory (this process) |\n\
         |---|---:|---:|---:|---:|---:|\n",
        generated.seed,
        generated.until(),
    );
    let running = crm_projections::ProjectorSet::new(log.clone())
        .with_custom_projections()
        .with(std::sync::Arc::new(crm_projections::custom::Catalog))
        .spawn()?;
    // A running server's catalog has long caught up: let this one too, before timing.
    if let Some(last) = log.last_position().await? {
        crm_projections::wait_until_reflects(
            &log,
            crm_projections::custom::catalog::NAME,
            last,
            Duration::from_secs(3_600),
        )
        .await?;
    }
    for (name, what, definition) in definitions() {
        reset_peak();
        let started = Instant::now();
        define(&log, name, definition).await?;
        let rows = wait_live(&log, name).await?;
        let elapsed = started.elapsed().as_secs_f64();
        let rate = total as f64 / elapsed;
        eprintln!("{name}: {rate:.0} events/s");
        out.push_str(&format!(
            "| `{name}` ({what}) | {elapsed:.1} s | {rate:.0} | {:.0}% | {rows} | {} |\n",
            100.0 * rate / raw_rate,
            mib(peak_mib())
        ));
    }
    running.shutdown().await;
    log.close().await;
    Ok(out)
}

/// Appends the definition event, as `POST /projections` would.
async fn define(log: &EventLog, name: &str, definition: Value) -> anyhow::Result<()> {
    crm_projections::custom::compile(&definition)
        .map_err(|problems| anyhow::anyhow!("{name}: {problems:?}"))?;
    let events = CustomProjectionState::default().decide(CustomProjectionCommand::Define {
        name: name.to_owned(),
        definition,
    })?;
    let id = custom_projection::id_of(name);
    let events = events
        .iter()
        .map(|e| NewEvent::new(e.event_type(), e.to_data()))
        .collect();
    log.append(
        &crm_domain::EntityKind::Projection.stream(id),
        ExpectedVersion::NoStream,
        events,
    )
    .await?;
    Ok(())
}

/// Waits until `name` is live (polling its runtime row, cheaply: the status API counts
/// the log while a build runs); its row count.
async fn wait_live(log: &EventLog, name: &str) -> anyhow::Result<i64> {
    let deadline = Instant::now() + Duration::from_secs(3_600);
    loop {
        if let Some(rows) =
            crm_projections::custom::status::live_row_count(log.pool(), name).await?
        {
            return Ok(rows);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{name} did not go live in an hour"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
