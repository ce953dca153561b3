//! The background sealer: seals what has settled, every few seconds.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::EventLog;

/// How the background sealer runs.
#[derive(Debug, Clone, Copy)]
pub struct SealerOptions {
    /// The pause between two sealing rounds.
    pub interval: Duration,
    /// The most events one seal covers.
    pub max_per_seal: usize,
}

impl Default for SealerOptions {
    fn default() -> Self {
        SealerOptions {
            interval: Duration::from_secs(5),
            max_per_seal: crate::seal::DEFAULT_SEAL_SIZE,
        }
    }
}

/// A running background sealer; [`Sealer::shutdown`] stops it.
pub struct Sealer {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Sealer {
    /// Starts sealing `log` every `options.interval` (the first round at once).
    pub fn spawn(log: EventLog, options: SealerOptions) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            tracing::info!(
                interval_ms = options.interval.as_millis() as u64,
                max_per_seal = options.max_per_seal,
                "sealer running"
            );
            loop {
                match log.seal(options.max_per_seal).await {
                    Ok(report) if report.seals > 0 => tracing::info!(
                        seals = report.seals,
                        events = report.events,
                        last_seq = report.last_seq,
                        "sealed settled events"
                    ),
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "sealing failed; retrying next round"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(options.interval) => {}
                    _ = stopped.changed() => break,
                }
            }
            tracing::info!("sealer stopped");
        });
        Sealer { stop, task }
    }

    /// Stops the sealer after the round in progress, if any.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(err) = self.task.await {
            tracing::warn!(error = %err, "the sealer task ended abnormally");
        }
    }
}
