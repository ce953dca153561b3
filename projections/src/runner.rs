//! Running one projection: the advisory lock, the batch loop, failures and backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_eventlog::{
    Cursor, EventLog, FeedFilter, RecordedEvent, Subscription, DEFAULT_POLL_INTERVAL,
};
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::checkpoint::{self, Committed};
use crate::error::ProjectionError;
use crate::event::FeedEvent;
use crate::projection::Projection;
use crate::shadow;
use crate::shared_feed::{SharedFeed, SharedReader};

/// The first key of every projection's advisory lock (`"CRMP"`); the second is
/// `hashtext(name)`. The two-int4 form never collides with one-bigint locks, and the
/// class keeps it apart from other two-int4 users. (Two names whose `hashtext`
/// collide would share one lock: they would still both run, one at a time per
/// process pair, never wrongly.)
pub const LOCK_CLASS: i32 = 0x4352_4D50;

/// How a runner behaves; the defaults suit production.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The most events applied in one transaction. A runner that is behind (a first
    /// build, a rebuild) reads pages of this many events of the whole feed, shared with
    /// the other runners of its process, and applies those of its types from each page
    /// in one transaction; a live one gets what arrived since its last read (often one
    /// event).
    pub batch_size: usize,
    /// How often a standby tries to take the lock.
    pub standby_retry: Duration,
    /// How often an active runner checks its lock connection and its checkpoint (to
    /// notice a rebuild while idle).
    pub health_check: Duration,
    /// The first pause after a projection fails; it doubles on each failure...
    pub backoff_min: Duration,
    /// ...up to this.
    pub backoff_max: Duration,
    /// How long the subscription waits for a notification before reading anyway.
    pub poll_interval: Duration,
    /// A projection with tables of its own that starts from nothing on a log of at
    /// least this many events is first built beside its live tables, as a rebuild is
    /// (indexes built once at the end); None, or a shorter log: built in place.
    pub first_build_beside: Option<i64>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            batch_size: 10_000,
            standby_retry: Duration::from_secs(1),
            health_check: Duration::from_secs(1),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            poll_interval: DEFAULT_POLL_INTERVAL,
            first_build_beside: Some(10_000),
        }
    }
}

impl RunnerConfig {
    /// The pause after the `failures`-th failure in a row (1 and up).
    fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(16);
        self.backoff_min
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// Where an active runner takes its batches from.
enum Source {
    /// Pages of the whole feed shared with the other runners of the process: while
    /// behind.
    CatchUp(SharedReader),
    /// Its own subscription to the events of its types: once caught up.
    Live(Live),
}

/// A runner's subscription, and the events it has handed over that are not in a
/// batch yet. The batch loop drops a read that another branch of its `select!`
/// overtakes, and revealing personal values can fail: the events the subscription has
/// already moved past wait here for the next try instead of being lost.
struct Live {
    sub: Subscription,
    pending: Vec<RecordedEvent>,
}

/// A batch to apply: the events of the projection's types up to `next`.
struct Batch {
    events: Vec<Arc<FeedEvent>>,
    next: Cursor,
    /// The batch reached the end of the feed (a catching-up runner goes live).
    caught_up: bool,
}

/// What the batch loop does next.
enum Flow {
    /// Keep reading from the same subscription.
    Continue,
    /// Follow the feed again from the runner's cursor.
    Resubscribe,
}

/// Drives one projection: waits for its lock as a standby, then applies the feed to
/// it batch by batch, until shut down.
pub struct Runner {
    log: EventLog,
    projection: Arc<dyn Projection>,
    config: RunnerConfig,
    feed: SharedFeed,
}

impl Runner {
    /// A runner of `projection` on `log`'s database, with the default configuration.
    pub fn new(log: EventLog, projection: Arc<dyn Projection>) -> Self {
        Runner {
            feed: SharedFeed::new(log.clone()),
            log,
            projection,
            config: RunnerConfig::default(),
        }
    }

    /// The same runner, catching up through pages shared with other runners.
    pub(crate) fn with_shared_feed(mut self, feed: SharedFeed) -> Self {
        self.feed = feed;
        self
    }

    /// The same runner with this configuration.
    pub fn with_config(mut self, config: RunnerConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs until `shutdown` turns true or its sender is dropped. Never gives up:
    /// database outages, a lost lock and projection failures are all retried.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let name = self.projection.name();
        let mut standby: Option<PgConnection> = None;
        let mut said_standby = false;
        loop {
            if is_shutdown(&shutdown) {
                break;
            }
            match self.try_lock(&mut standby).await {
                Ok(true) => {
                    said_standby = false;
                    if let Some(mut lock) = standby.take() {
                        tracing::info!(projection = name, "projection runner active");
                        let outcome = self.active(Some(&mut lock), &mut shutdown).await;
                        // A dead connection has released the lock already.
                        let _ = sqlx::query("SELECT pg_advisory_unlock($1, hashtext($2))")
                            .bind(LOCK_CLASS)
                            .bind(name)
                            .execute(&mut lock)
                            .await;
                        let _ = lock.close().await;
                        match outcome {
                            Ok(()) => break,
                            Err(err) => tracing::warn!(
                                projection = name,
                                error = %err.chain(),
                                "projection runner no longer active; retrying"
                            ),
                        }
                    }
                }
                Ok(false) => {
                    if !said_standby {
                        tracing::info!(projection = name, "another runner is active; standing by");
                        said_standby = true;
                    }
                }
                Err(err) => {
                    tracing::debug!(projection = name, error = %err.chain(), "cannot take the lock yet");
                    standby = None;
                }
            }
            if sleep_or_shutdown(self.config.standby_retry, &mut shutdown).await {
                break;
            }
        }
        if let Some(conn) = standby {
            let _ = conn.close().await;
        }
        tracing::info!(projection = name, "projection runner stopped");
    }

    /// Runs until `shutdown` like [`Runner::run`], while the caller holds the
    /// projection's advisory lock for it (the custom projections' supervisor holds
    /// the locks of all its runners on one connection, and stops them if it loses
    /// it): takes no connection of its own. Failures are retried.
    pub(crate) async fn run_locked(self, mut shutdown: watch::Receiver<bool>) {
        let name = self.projection.name();
        tracing::info!(projection = name, "projection runner active");
        loop {
            if is_shutdown(&shutdown) {
                break;
            }
            match self.active(None, &mut shutdown).await {
                Ok(()) => break,
                Err(err) => tracing::warn!(
                    projection = name,
                    error = %err.chain(),
                    "projection runner stopped on an error; retrying"
                ),
            }
            if sleep_or_shutdown(self.config.standby_retry, &mut shutdown).await {
                break;
            }
        }
        tracing::info!(projection = name, "projection runner stopped");
    }

    /// Tries the projection's advisory lock on the standby connection (connecting it
    /// first if needed).
    async fn try_lock(&self, slot: &mut Option<PgConnection>) -> Result<bool, ProjectionError> {
        if slot.is_none() {
            let options = self.log.pool().connect_options();
            *slot = Some(PgConnection::connect_with(&options).await?);
        }
        let Some(conn) = slot.as_mut() else {
            return Ok(false);
        };
        let got: Result<bool, sqlx::Error> =
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
                .bind(LOCK_CLASS)
                .bind(self.projection.name())
                .fetch_one(conn)
                .await;
        match got {
            Ok(got) => Ok(got),
            Err(err) => {
                *slot = None;
                Err(err.into())
            }
        }
    }

    fn subscribe(&self, cursor: Cursor) -> Subscription {
        let filter = FeedFilter {
            event_types: self.projection.event_types(),
        };
        self.log
            .subscribe(cursor, filter)
            .with_poll_interval(self.config.poll_interval)
    }

    /// A source that catches up from the shared pages first.
    fn catch_up(&self) -> Source {
        Source::CatchUp(self.feed.reader())
    }

    /// The next batch after `cursor` from `source`.
    async fn next_batch(
        &self,
        source: &mut Source,
        cursor: Cursor,
        types: Option<&[String]>,
    ) -> Result<Batch, ProjectionError> {
        match source {
            Source::CatchUp(reader) => {
                let page = reader.page(cursor, self.config.batch_size).await?;
                Ok(Batch {
                    events: page.of_types(types),
                    next: page.next,
                    caught_up: page.caught_up,
                })
            }
            Source::Live(live) => {
                if live.pending.is_empty() {
                    // Cancel-safe: the subscription moves on only as it returns.
                    live.pending = live.sub.next_batch(self.config.batch_size).await?;
                }
                // Plaintext passes through: a reveal tried again after a failure or a
                // cancellation is harmless.
                crate::personal::reveal(&self.log, &mut live.pending).await?;
                Ok(Batch {
                    events: std::mem::take(&mut live.pending)
                        .into_iter()
                        .map(|e| Arc::new(FeedEvent::decode(e)))
                        .collect(),
                    next: live.sub.cursor(),
                    caught_up: false,
                })
            }
        }
    }

    /// The active runner's loop, while it holds the lock on `lock` (None: its caller
    /// holds it). Returns Ok on shutdown, Err when it should stand by again (lost
    /// lock, database gone).
    async fn active(
        &self,
        mut lock: Option<&mut PgConnection>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), ProjectionError> {
        let projection = &*self.projection;
        let name = projection.name();
        let pool = self.log.pool();
        checkpoint::setup(pool, projection).await?;
        let mut cursor = checkpoint::activate(pool, projection).await?;
        if cursor == Cursor::start() {
            self.begin_first_build().await?;
        }
        let types = projection.event_types();
        let mut source = self.catch_up();
        let mut failures = 0u32;
        let mut last_check = Instant::now();
        let mut rebuild = RebuildTask::default();
        let mut rebuilds = crate::wakeups::REBUILDS.watch();
        // A first build beside the live tables fills them by its swap: the live loop
        // waits for it rather than building the same events in place.
        let mut first_build = self
            .check(&mut rebuild)
            .await?
            .is_some_and(|(_, rebuilding)| rebuilding)
            && cursor == Cursor::start();
        loop {
            if is_shutdown(shutdown) {
                drop(rebuild);
                checkpoint::mark_stopped(pool, name).await?;
                return Ok(());
            }
            let until_check = self
                .config
                .health_check
                .saturating_sub(last_check.elapsed());
            tokio::select! {
                biased;
                _ = shutdown.changed() => continue,
                _ = rebuilds.changed() => {
                    // A rebuild was requested here: check now rather than at the next tick.
                    last_check = Instant::now()
                        .checked_sub(self.config.health_check)
                        .unwrap_or(last_check);
                }
                got = self.next_batch(&mut source, cursor, types.as_deref()), if !first_build => match got {
                    Ok(batch) => {
                        // Rebuilds of this process give way while it runs.
                        let _live = crate::wakeups::LIVE.begin();
                        let flow = self
                            .apply_batch(&batch.events, &mut cursor, batch.next, &mut failures, shutdown)
                            .instrument(tracing::info_span!(
                                "projection.batch",
                                projection = name,
                                events = batch.events.len()
                            ))
                            .await?;
                        match flow {
                            Flow::Resubscribe => source = self.catch_up(),
                            Flow::Continue if batch.caught_up => {
                                if let Source::CatchUp(_) = source {
                                    source = Source::Live(Live {
                                        sub: self.subscribe(cursor),
                                        pending: Vec::new(),
                                    });
                                }
                            }
                            Flow::Continue => {}
                        }
                    }
                    Err(err) if err.is_transient() => {
                        tracing::debug!(projection = name, error = %err.chain(), "feed unavailable; retrying");
                        if sleep_or_shutdown(self.config.backoff_min, shutdown).await {
                            continue;
                        }
                    }
                    Err(err) => return Err(err),
                },
                () = tokio::time::sleep(until_check) => {}
            }
            if last_check.elapsed() >= self.config.health_check {
                last_check = Instant::now();
                if let Some(lock) = lock.as_mut() {
                    if sqlx::query("SELECT 1").execute(&mut **lock).await.is_err() {
                        return Err(ProjectionError::LockLost(name.to_owned()));
                    }
                }
                let stored = self.check(&mut rebuild).await?;
                first_build =
                    stored.is_some_and(|(_, rebuilding)| rebuilding) && cursor == Cursor::start();
                if stored.map(|(at, _)| at) != Some(cursor) {
                    // Rebuilt (or moved by a runner that should not have been active).
                    tracing::info!(
                        projection = name,
                        "checkpoint moved (rebuild): following it"
                    );
                    cursor = checkpoint::activate(pool, projection).await?;
                    source = self.catch_up();
                    failures = 0;
                } else if let Source::Live(live) = &source {
                    let read = live.sub.cursor();
                    if read > cursor && failures == 0 && live.pending.is_empty() {
                        // Idle with a filter: remember the events the filter passed over.
                        let writes = self.feed.live_pool();
                        match checkpoint::commit(&writes, projection, &[], cursor, read).await? {
                            Committed::Done => cursor = read,
                            Committed::Fenced => {
                                cursor = checkpoint::activate(pool, projection).await?;
                                source = self.catch_up();
                            }
                        }
                    }
                }
            }
        }
    }

    /// Starts the projection's first build beside its live tables when the log is long
    /// enough to be worth it ([`RunnerConfig::first_build_beside`]).
    async fn begin_first_build(&self) -> Result<(), ProjectionError> {
        let Some(least) = self.config.first_build_beside else {
            return Ok(());
        };
        if self.projection.tables().is_empty() {
            return Ok(());
        }
        let last = self.log.last_position().await?.unwrap_or(0);
        if last >= least && shadow::first_build(self.log.pool(), &*self.projection).await? {
            tracing::info!(
                projection = self.projection.name(),
                events = last,
                "first build beside the live tables"
            );
        }
        Ok(())
    }

    /// Reads the checkpoint, keeps a rebuild it records going, and returns its cursor
    /// and whether a rebuild is under way.
    async fn check(
        &self,
        rebuild: &mut RebuildTask,
    ) -> Result<Option<(Cursor, bool)>, ProjectionError> {
        let stored = checkpoint::stored(self.log.pool(), self.projection.name()).await?;
        let rebuilding = stored.as_ref().is_some_and(|s| s.rebuilding);
        rebuild
            .keep_going(
                rebuilding,
                &self.log,
                &self.feed,
                &self.projection,
                &self.config,
            )
            .await;
        Ok(stored.map(|s| (s.cursor, s.rebuilding)))
    }

    /// Applies one batch and moves the checkpoint to `next`; on failure, applies the
    /// events one by one to find (and record) the exact one, then waits out the backoff.
    async fn apply_batch(
        &self,
        events: &[Arc<FeedEvent>],
        cursor: &mut Cursor,
        next: Cursor,
        failures: &mut u32,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Flow, ProjectionError> {
        let projection = &*self.projection;
        let name = projection.name();
        let pool = self.log.pool();
        // Batches are written through connections that never append (the feed does
        // not wait for them); everything else through the log's own.
        let writes = &self.feed.live_pool();
        let err = match checkpoint::commit(writes, projection, events, *cursor, next).await {
            Ok(Committed::Done) => {
                *cursor = next;
                if *failures > 0 {
                    tracing::info!(projection = name, "projection recovered");
                    *failures = 0;
                }
                return Ok(Flow::Continue);
            }
            Ok(Committed::Fenced) => {
                *cursor = checkpoint::activate(pool, projection).await?;
                return Ok(Flow::Resubscribe);
            }
            Err(err) if err.is_transient() => return Err(err),
            Err(err) => err,
        };
        let mut failure = None;
        if let [only] = events {
            failure = Some((only.stored.position, err));
        } else {
            for event in events {
                let one = std::slice::from_ref(event);
                let next = event.stored.cursor();
                match checkpoint::commit(writes, projection, one, *cursor, next).await {
                    Ok(Committed::Done) => *cursor = next,
                    Ok(Committed::Fenced) => {
                        *cursor = checkpoint::activate(pool, projection).await?;
                        return Ok(Flow::Resubscribe);
                    }
                    Err(err) if err.is_transient() => return Err(err),
                    Err(err) => {
                        failure = Some((event.stored.position, err));
                        break;
                    }
                }
            }
        }
        let Some((position, err)) = failure else {
            // Each event applied on its own: go on after them.
            return Ok(Flow::Resubscribe);
        };
        *failures = failures.saturating_add(1);
        let delay = self.config.backoff(*failures);
        let text = err.chain();
        tracing::error!(
            projection = name,
            position,
            error = %text,
            retry_in = ?delay,
            "projection failed on an event"
        );
        checkpoint::record_failure(pool, name, *cursor, position, &text).await?;
        self.wait_out(delay, position, shutdown).await;
        Ok(Flow::Resubscribe)
    }

    /// Waits out the backoff after a failure on the event at `position`, cut short by
    /// shutdown or by an operator's repair of that event (looked for every health check).
    async fn wait_out(&self, delay: Duration, position: i64, shutdown: &mut watch::Receiver<bool>) {
        let deadline = Instant::now() + delay;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero()
                || sleep_or_shutdown(left.min(self.config.health_check), shutdown).await
            {
                return;
            }
            let name = self.projection.name();
            if matches!(
                crate::repairs::recorded(self.log.pool(), name, position).await,
                Ok(true)
            ) {
                tracing::info!(projection = name, position, "repair recorded: retrying now");
                return;
            }
        }
    }
}

/// The active runner's rebuild beside the live copy, when one is under way: a task of
/// its own, so live batches go on meanwhile. Dropped (and stopped) when the runner
/// stops being active.
#[derive(Default)]
struct RebuildTask {
    task: Option<JoinHandle<Result<(), ProjectionError>>>,
}

impl RebuildTask {
    /// Starts (or restarts, after a failure) the rebuild task if the checkpoint says
    /// a rebuild is under way (`rebuilding`) and none is running.
    async fn keep_going(
        &mut self,
        rebuilding: bool,
        log: &EventLog,
        feed: &SharedFeed,
        projection: &Arc<dyn Projection>,
        config: &RunnerConfig,
    ) {
        let name = projection.name();
        if let Some(task) = &self.task {
            if !task.is_finished() {
                return;
            }
        }
        if let Some(task) = self.task.take() {
            // Finished: its outcome is ready without waiting.
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::warn!(projection = name, error = %err.chain(), "rebuild failed; retrying")
                }
                Err(err) => {
                    tracing::warn!(projection = name, error = %err, "rebuild task ended abnormally")
                }
            }
        }
        if rebuilding {
            let (log, pool) = (log.clone(), feed.rebuild_pool());
            let (reader, projection) = (feed.reader(), projection.clone());
            let page = config.batch_size;
            // On the rebuilds' own threads: the live batches and the requests of
            // this process never wait behind its folding.
            self.task =
                Some(crate::threads::rebuilds().spawn(async move {
                    shadow::drive(log, pool, reader, &*projection, page).await
                }));
        }
    }
}

impl Drop for RebuildTask {
    /// Stops the rebuild task (its progress is kept; the next active runner resumes it).
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// True when the runner should stop: shutdown was sent, or its sender is gone.
fn is_shutdown(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

/// Sleeps `pause` unless shutdown comes first; true when it did.
async fn sleep_or_shutdown(pause: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    let deadline = tokio::time::Instant::now() + pause;
    loop {
        if is_shutdown(shutdown) {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return false,
            _ = shutdown.changed() => {}
        }
    }
}
