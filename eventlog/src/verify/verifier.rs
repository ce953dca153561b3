//! The background verifier: verifies the log at start, then again whenever new events
//! have come since the last stored run, or that run has grown old, and stores each
//! result ([`EventLog::verify_and_record`]).

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Trigger;
use crate::error::EventLogError;
use crate::store::EventLog;

/// How the background verifier runs.
#[derive(Debug, Clone, Copy)]
pub struct VerifierOptions {
    /// The pause between two looks at the log (a run only when there is news).
    pub interval: Duration,
    /// The age after which the last run is repeated even without new events (an
    /// event altered in place adds none).
    pub max_age: Duration,
}

impl Default for VerifierOptions {
    /// A look every 5 minutes; a run at least every hour.
    fn default() -> Self {
        VerifierOptions {
            interval: Duration::from_secs(300),
            max_age: Duration::from_secs(3600),
        }
    }
}

/// A running background verifier; [`Verifier::shutdown`] stops it.
pub struct Verifier {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Verifier {
    /// Starts verifying `log`: at once, then every `options.interval` when there is
    /// news.
    pub fn spawn(log: EventLog, options: VerifierOptions) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut trigger = Some(Trigger::Start);
            loop {
                let run = match trigger {
                    Some(t) => Some(t),
                    None => match due(&log, options.max_age).await {
                        Ok(true) => Some(Trigger::Periodic),
                        Ok(false) => None,
                        Err(err) => {
                            tracing::warn!(error = %err, "cannot tell whether to verify the log");
                            None
                        }
                    },
                };
                if let Some(t) = run {
                    // A walk is read-only: stopping drops it where it is.
                    tokio::select! {
                        done = log.verify_and_record(t) => match done {
                            Ok(done) => tracing::info!(
                                intact = done.intact,
                                through_position = done.through_position,
                                "verified the log"
                            ),
                            Err(err) => tracing::warn!(error = %err, "verifying the log failed"),
                        },
                        _ = stopped.changed() => break,
                    }
                }
                trigger = None;
                tokio::select! {
                    _ = tokio::time::sleep(options.interval) => {}
                    _ = stopped.changed() => break,
                }
            }
        });
        Verifier { stop, task }
    }

    /// Stops the verifier, dropping a run in progress.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(err) = self.task.await {
            tracing::warn!(error = %err, "the verifier task ended abnormally");
        }
    }
}

/// Whether the log needs a new run: never verified, events past the last run's
/// position, or the last run older than `max_age`.
async fn due(log: &EventLog, max_age: Duration) -> Result<bool, EventLogError> {
    let Some(last) = log.last_verification().await? else {
        return Ok(true);
    };
    let head = log.last_position().await?;
    let age = chrono::Utc::now() - last.finished_at;
    let old = age.to_std().is_ok_and(|age| age >= max_age);
    Ok(old || head > last.through_position)
}
