//! The deliverer `crm serve` runs: a supervisor that starts a task per active
//! webhook, each task holding a lease on its webhook (so two servers never
//! deliver one webhook at once; renewed once a third of it has passed, not at every
//! attempt; a disabled one's task ends before its next attempt, never in one) and
//! walking the feed from
//! the webhook's cursor, one event at a time: attempt, record, and on a 2xx move
//! the cursor; else wait a growing, jittered pause and try the same event again,
//! until the retry window is over and the webhook is marked `failing`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crm_eventlog::{Cursor, EventLog, EventLogError, FeedFilter, RecordedEvent, Snapshot};
use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::delivery::{self, Outcome, Sender};
use super::store::{self, AttemptRow, Target};
use super::WebhookSettings;
use crate::access::{Actor, Role};
use crate::hidden::HiddenFields;

/// Events read from the feed at once for one webhook.
const BATCH: usize = 100;

/// Why a webhook's task stopped before its time.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The webhooks' tables could not be read or written.
    #[error("webhook store: {0}")]
    Store(#[from] sqlx::Error),
    /// The log could not be read.
    #[error("event log: {0}")]
    Log(#[from] EventLogError),
    /// An event could not be written as JSON.
    #[error("payload: {0}")]
    Payload(#[from] serde_json::Error),
}

/// The running deliverer of one server.
pub struct Deliverer {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Deliverer {
    /// Starts delivering every active webhook of `log`'s database, with payloads as
    /// an admin reads them (`hidden`: the admin's hidden fields, if any).
    pub fn spawn(log: EventLog, hidden: Arc<HiddenFields>, settings: WebhookSettings) -> Self {
        let (shutdown, stop) = watch::channel(false);
        let worker = Arc::new(Worker {
            stop: stop.clone(),
            sender: Sender::new(settings.timeout, settings.deny_private),
            owner: Uuid::new_v4(),
            lease: settings.lease.max(settings.timeout * 3),
            log,
            hidden,
            settings,
        });
        let task = tokio::spawn(supervise(worker, stop));
        Deliverer { shutdown, task }
    }

    /// Stops every webhook's task once its attempt in flight has ended (one that
    /// does not end within the timeout and a few seconds is dropped: its event is
    /// delivered again later) and gives their leases up.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// A webhook this task holds the lease on, and when the lease was last renewed
/// (asked for: it lasts at least the lease from then).
struct Held {
    target: Target,
    renewed: Instant,
}

/// What every webhook task of one server shares.
struct Worker {
    /// True once the server stops.
    stop: watch::Receiver<bool>,
    log: EventLog,
    hidden: Arc<HiddenFields>,
    settings: WebhookSettings,
    sender: Sender,
    /// This server's id in the leases.
    owner: Uuid,
    lease: Duration,
}

async fn supervise(worker: Arc<Worker>, mut stop: watch::Receiver<bool>) {
    let mut running: HashMap<Uuid, JoinHandle<()>> = HashMap::new();
    loop {
        match store::active_ids(worker.log.pool()).await {
            Ok(active) => {
                // A task whose webhook was disabled ends by itself before its next
                // attempt (its lease is refused), never in the middle of one.
                running.retain(|_, task| !task.is_finished());
                for id in active {
                    running.entry(id).or_insert_with(|| {
                        let worker = Arc::clone(&worker);
                        tokio::spawn(async move {
                            if let Err(err) = worker.follow(id).await {
                                tracing::warn!(webhook = %id, error = %err, "webhook delivery paused");
                            }
                        })
                    });
                }
            }
            Err(err) => tracing::warn!(error = %err, "listing webhooks failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(worker.settings.rescan) => {}
            _ = stop.changed() => break,
        }
    }
    let grace = worker.settings.timeout + Duration::from_secs(5);
    for (id, mut task) in running {
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
        }
        if let Err(err) = store::release(worker.log.pool(), id, worker.owner).await {
            tracing::warn!(webhook = %id, error = %err, "releasing a webhook's lease failed");
        }
    }
}

impl Worker {
    /// Delivers webhook `id` until it is no longer this server's to deliver (not
    /// active, or leased by another server).
    async fn follow(&self, id: Uuid) -> Result<(), WorkerError> {
        let pool = self.log.pool();
        let asked = Instant::now();
        let Some(target) = store::lease(pool, id, self.owner, self.lease).await? else {
            return Ok(());
        };
        let mut held = Held {
            target,
            renewed: asked,
        };
        let target = &held.target;
        let cursor: Cursor = target.feed_cursor.parse()?;
        // Events committed before the definition, which the cursor cannot tell apart.
        let before: Snapshot = target.start_snapshot.parse()?;
        let filter = if target.event_types.is_empty() {
            FeedFilter::default()
        } else {
            FeedFilter::types(target.event_types.clone())
        };
        let mut feed = self.log.subscribe(cursor, filter);
        let mut passed = cursor;
        tracing::info!(webhook = %id, cursor = %cursor, "delivering webhook");
        let mut stop = self.stop.clone();
        loop {
            // Renewed when a third of the lease has passed, busy or not.
            let renew = (self.lease / 3).saturating_sub(held.renewed.elapsed());
            let next = tokio::select! {
                next = tokio::time::timeout(renew, feed.next_batch(BATCH)) => next,
                _ = stop.wait_for(|stop| *stop) => return Ok(()),
            };
            let mut events = match next {
                Err(_) => {
                    // Time to renew: keep the claim, and notice a disable.
                    if !self.renew(&mut held).await? {
                        return Ok(());
                    }
                    continue;
                }
                Ok(events) => events?,
            };
            crm_projections::personal::reveal_current(&self.log, &mut events).await?;
            for event in events.iter_mut().filter(|e| !before.saw(e)) {
                self.as_admin_reads_it(event);
                match self.deliver(&mut held, event).await? {
                    true => passed = event.cursor(),
                    false => return Ok(()),
                }
            }
            // Past the events the filter skipped too.
            let end = feed.cursor();
            if end != passed {
                if !store::advance(pool, id, self.owner, &end.to_string(), None, 0).await? {
                    return Ok(());
                }
                passed = end;
            }
        }
    }

    /// Hides what an admin does not see (nothing, unless configured).
    fn as_admin_reads_it(&self, event: &mut RecordedEvent) {
        let admin = Actor {
            manager_id: None,
            role: Role::Admin,
        };
        self.hidden
            .of(&admin)
            .strip_stream(&event.stream, &mut event.data);
    }

    /// Renews the lease (reloading the webhook with it); false when it was refused
    /// (disabled, marked failing, leased elsewhere).
    async fn renew(&self, held: &mut Held) -> Result<bool, WorkerError> {
        let asked = Instant::now();
        let pool = self.log.pool();
        match store::lease(pool, held.target.id, self.owner, self.lease).await? {
            // The lease renewed carries the retry state this task wrote.
            Some(renewed) => {
                held.target = renewed;
                held.renewed = asked;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Before an attempt: renews the lease once a third of it has passed (so at least
    /// two thirds, two timeouts, are left for the attempt), else only checks that it
    /// is still held and the webhook active; false when not.
    async fn keep(&self, held: &mut Held) -> Result<bool, WorkerError> {
        if held.renewed.elapsed() >= self.lease / 3 {
            return self.renew(held).await;
        }
        Ok(store::still_held(self.log.pool(), held.target.id, self.owner).await?)
    }

    /// Delivers one event, retrying until a 2xx; false when the webhook stopped
    /// being this server's to deliver (disabled, marked failing, leased elsewhere).
    async fn deliver(&self, held: &mut Held, event: &RecordedEvent) -> Result<bool, WorkerError> {
        let pool = self.log.pool();
        let body = delivery::body(event)?;
        loop {
            if let Some(at) = held.target.next_attempt_at {
                if !self.wait_until(held, at).await? {
                    return Ok(false);
                }
            }
            if *self.stop.borrow() {
                return Ok(false);
            }
            if !self.keep(held).await? {
                return Ok(false);
            }
            let target = &mut held.target;
            let outcome = self
                .sender
                .post(&target.url, &target.secret, event.event_id, body.clone())
                .await;
            store::record_attempt(pool, target.id, &attempt(event, &outcome)).await?;
            if outcome.succeeded() {
                let cursor = event.cursor().to_string();
                let moved = store::advance(
                    pool,
                    target.id,
                    self.owner,
                    &cursor,
                    Some(event.position),
                    1,
                )
                .await?;
                target.failing_since = None;
                target.failures = 0;
                target.next_attempt_at = None;
                return Ok(moved);
            }
            let failing_since = target.failing_since.unwrap_or(outcome.started_at);
            let failures = target.failures.saturating_add(1);
            let now = Utc::now();
            let next = (now.signed_duration_since(failing_since)
                < chrono::Duration::from_std(self.settings.give_up_after)
                    .unwrap_or(chrono::TimeDelta::MAX))
            .then(|| now + chrono::Duration::from_std(self.pause(failures)).unwrap_or_default());
            let kept =
                store::failed(pool, target.id, self.owner, failing_since, failures, next).await?;
            tracing::debug!(webhook = %target.id, position = event.position, failures,
                error = outcome.error.as_deref().unwrap_or(""), "webhook attempt failed");
            if next.is_none() {
                tracing::warn!(webhook = %target.id, position = event.position, failures,
                    "webhook marked failing: its receiver refused an event for the whole retry window");
            }
            if !kept || next.is_none() {
                return Ok(false);
            }
            target.failing_since = Some(failing_since);
            target.failures = failures;
            target.next_attempt_at = next;
        }
    }

    /// Sleeps until `at`, renewing the lease meanwhile; false when it was lost. Each
    /// renewal reloads the retry time: a webhook enabled again meanwhile (its retry
    /// state cleared) is tried at once.
    async fn wait_until(
        &self,
        held: &mut Held,
        mut at: DateTime<Utc>,
    ) -> Result<bool, WorkerError> {
        loop {
            let left = (at - Utc::now()).to_std().unwrap_or_default();
            if left.is_zero() {
                return Ok(true);
            }
            let mut stop = self.stop.clone();
            tokio::select! {
                () = tokio::time::sleep(left.min(self.lease / 3)) => {}
                _ = stop.wait_for(|stop| *stop) => return Ok(false),
            }
            if !self.renew(held).await? {
                return Ok(false);
            }
            match held.target.next_attempt_at {
                Some(next) => at = next,
                None => return Ok(true),
            }
        }
    }

    /// The pause after the `failures`-th failed attempt: doubling from
    /// `first_retry` up to `max_retry`, less a random part of up to a half.
    fn pause(&self, failures: i32) -> Duration {
        let doublings = u32::try_from(failures.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        let full = self
            .settings
            .first_retry
            .saturating_mul(1u32 << doublings)
            .min(self.settings.max_retry);
        full.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }
}

/// The attempt's row.
fn attempt(event: &RecordedEvent, outcome: &Outcome) -> AttemptRow {
    AttemptRow {
        event_id: event.event_id,
        position: event.position,
        attempted_at: outcome.started_at,
        duration_ms: i32::try_from(outcome.duration.as_millis()).unwrap_or(i32::MAX),
        status_code: outcome.status.map(i32::from),
        error: outcome.error.clone(),
    }
}
