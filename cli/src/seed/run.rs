//! Seeding a log: the batches generated on a blocking thread and appended in
//! order as they come, with progress reported after each append.

use std::future::Future;
use std::time::{Duration, Instant};

use crm_eventlog::{Cursor, EventLog, EventLogError, FeedFilter};
use indicatif::{ProgressBar, ProgressState, ProgressStyle};

use super::{Batch, Generator, SeedError, SeedOptions};

/// What a seeding did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    /// Events appended (or found already stored).
    pub events: u64,
    /// Appends made.
    pub batches: u64,
    /// Appends whose events were all stored already (the same seed run again).
    pub replayed: u64,
    /// How long it took.
    pub elapsed: Duration,
}

impl SeedReport {
    /// Events per second.
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Generates the log `options` describe and appends it to `log`, one batch at a
/// time in order, while the next batches are being generated on another thread;
/// `progress` hears the number of events appended after each batch.
///
/// Run again with the same options on the same log, it appends nothing: every
/// batch is recognised as already stored.
pub async fn seed(
    log: &EventLog,
    options: &SeedOptions,
    progress: impl FnMut(u64),
) -> Result<SeedReport, SeedError> {
    seed_after_setup(log, options, progress, |_| async { Ok(()) }).await
}

/// [`seed`], running `after_setup` once the first append (the setup: the team, the
/// pipelines and the catalogue, handed to it) is stored and before anything else is: e.g. rules
/// or webhooks defined before the year's business events.
pub async fn seed_after_setup<F, Fut>(
    log: &EventLog,
    options: &SeedOptions,
    mut progress: impl FnMut(u64),
    after_setup: F,
) -> Result<SeedReport, SeedError>
where
    F: FnOnce(Batch) -> Fut,
    Fut: Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>>,
{
    let mut after_setup = Some(after_setup);
    let started = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Batch, SeedError>>(8);
    let generator = Generator::new(options);
    let producer = tokio::task::spawn_blocking(move || {
        for batch in generator {
            let stop = batch.is_err();
            if tx.blocking_send(batch).is_err() || stop {
                break;
            }
        }
    });
    let mut report = SeedReport {
        events: 0,
        batches: 0,
        replayed: 0,
        elapsed: Duration::ZERO,
    };
    while let Some(batch) = rx.recv().await {
        let batch = batch?;
        let setup = after_setup.is_some().then(|| batch.clone());
        // Personal values are encrypted like the API's (the same bytes again on a
        // rerun: the nonces come from the event ids, so stored batches replay).
        let outcome = crm_api::commands::append(log, batch.appends).await?;
        report.events += batch.events as u64;
        report.batches += 1;
        report.replayed += u64::from(outcome.replayed);
        progress(report.events);
        if let (Some(step), Some(setup)) = (after_setup.take(), setup) {
            step(setup).await.map_err(SeedError::AfterSetup)?;
        }
    }
    producer
        .await
        .map_err(|e| SeedError::Stopped(e.to_string()))?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// True when the log holds no event.
pub async fn log_is_empty(log: &EventLog) -> Result<bool, EventLogError> {
    let page = log
        .read_feed(Cursor::start(), 1, &FeedFilter::default())
        .await?;
    Ok(page.events.is_empty())
}

/// [`seed`] with a progress bar on the terminal (events, events per second, time
/// left); nothing is drawn when stderr is not a terminal.
pub async fn seed_with_progress(
    log: &EventLog,
    options: &SeedOptions,
) -> Result<SeedReport, SeedError> {
    let bar = ProgressBar::new(options.events);
    let style = ProgressStyle::with_template(
        "seeding [{wide_bar}] {human_pos}/{human_len} events · {rate} · {eta} left",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .with_key(
        "rate",
        |state: &ProgressState, out: &mut dyn std::fmt::Write| {
            let _ = write!(out, "{:.0} events/s", state.per_sec());
        },
    )
    .progress_chars("=> ");
    bar.set_style(style);
    let report = seed(log, options, |appended| bar.set_position(appended)).await;
    bar.finish_and_clear();
    report
}
