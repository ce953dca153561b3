//! Timing many concurrent workers and reporting rates and latency percentiles.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sqlx::PgPool;

/// The outcome of one timed run.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Items (events) those operations carried.
    pub items: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Median latency of one operation.
    pub p50: Duration,
    /// 99th percentile latency of one operation.
    pub p99: Duration,
}

impl Measurement {
    /// Items per second.
    pub fn rate(&self) -> f64 {
        self.items as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `workers` tasks for `duration`; each repeatedly calls `op(worker, iteration)`,
/// which returns how many items it handled.
pub async fn run_for<F, Fut>(
    workers: usize,
    duration: Duration,
    op: F,
) -> anyhow::Result<Measurement>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<u64>> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(workers);
    for worker in 0..workers {
        let op = Arc::clone(&op);
        tasks.push(tokio::spawn(async move {
            let mut hist = new_histogram()?;
            let mut items = 0u64;
            let mut iteration = 0u64;
            while Instant::now() < deadline {
                let began = Instant::now();
                items += op(worker, iteration).await?;
                record(&mut hist, began.elapsed());
                iteration += 1;
            }
            Ok::<_, anyhow::Error>((hist, items))
        }));
    }
    let mut hist = new_histogram()?;
    let mut items = 0;
    for task in tasks {
        let (h, n) = task.await??;
        hist.add(&h)?;
        items += n;
    }
    let elapsed = start.elapsed();
    Ok(Measurement {
        items,
        elapsed,
        p50: Duration::from_micros(hist.value_at_quantile(0.5)),
        p99: Duration::from_micros(hist.value_at_quantile(0.99)),
    })
}

/// Latencies in microseconds, from 1 µs to 60 s, with 3 significant figures.
pub(super) fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

pub(super) fn record(hist: &mut Histogram<u64>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    hist.saturating_record(micros);
}

/// The `q` quantile of `hist` (microseconds) in milliseconds.
pub(super) fn millis(hist: &Histogram<u64>, q: f64) -> f64 {
    hist.value_at_quantile(q) as f64 / 1000.0
}

/// A Markdown table of measurements, each beside its baseline.
#[derive(Debug)]
pub struct Table {
    baseline: &'static str,
    rows: Vec<String>,
}

impl Table {
    /// A table whose baseline column is named `baseline` (e.g. "raw SQL").
    pub fn new(baseline: &'static str) -> Self {
        Table {
            baseline,
            rows: Vec::new(),
        }
    }

    /// Adds a row comparing `ours` with `baseline`, with the target ratio if any.
    pub fn row(
        &mut self,
        what: &str,
        ours: &Measurement,
        baseline: &Measurement,
        target: Option<f64>,
    ) {
        let ratio = ours.rate() / baseline.rate().max(1e-9);
        let verdict = match target {
            Some(t) if ratio >= t => format!("≥ {:.0}% ✓", t * 100.0),
            Some(t) => format!("≥ {:.0}% ✗", t * 100.0),
            None => "–".into(),
        };
        self.rows.push(format!(
            "| {what} | {:.0} | {} / {} | {:.0} | {} / {} | {:.0}% | {verdict} |",
            ours.rate(),
            ms(ours.p50),
            ms(ours.p99),
            baseline.rate(),
            ms(baseline.p50),
            ms(baseline.p99),
            ratio * 100.0,
        ));
    }

    /// The table as Markdown.
    pub fn render(&self) -> String {
        let b = self.baseline;
        let mut out = format!(
            "| benchmark | ours /s | ours p50 / p99 ms | {b} /s | {b} p50 / p99 ms | ratio | target |\n\
             |---|---:|---:|---:|---:|---:|---|\n"
        );
        for row in &self.rows {
            out.push_str(row);
            out.push('\n');
        }
        out
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Peak resident memory of this process since the last [`reset_peak`], in MiB.
pub(super) fn peak_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Starts measuring peak memory afresh (Linux: `clear_refs` 5 resets `VmHWM`).
pub(super) fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A memory figure for a table.
pub(super) fn mib(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0} MiB"))
}

/// Reads every event with plain SQL, in pages of 5,000 in feed order, decoding each
/// row's columns as the log's reader does; returns how many.
pub(super) async fn raw_read(pool: &PgPool) -> anyhow::Result<u64> {
    type Row = (
        i64,
        i64,
        uuid::Uuid,
        String,
        i64,
        String,
        i32,
        chrono::DateTime<chrono::Utc>,
        chrono::DateTime<chrono::Utc>,
        serde_json::Value,
        serde_json::Value,
        Vec<u8>,
    );
    let (mut tx_id, mut position, mut count) = (0i64, 0i64, 0u64);
    loop {
        let rows: Vec<Row> = sqlx::query_as(crm_eventlog::baseline::PAGE_IN_FEED_ORDER)
            .bind(tx_id)
            .bind(position)
            .fetch_all(pool)
            .await?;
        let Some(last) = rows.last() else {
            return Ok(count);
        };
        (tx_id, position) = (last.0, last.1);
        count += rows.len() as u64;
    }
}
