//! The automation runner: beside the projectors (`crm serve` starts it), it follows
//! the log and runs what the rules plan (`crm_domain::automation`) through the one
//! command path, and fires the deadlines they keep.
//!
//! - **One active runner.** Runners of every server on a database take turns on one
//!   advisory lock (held on a connection of its own): the others stand by and take
//!   over within a second of its loss.
//! - **Following.** From its checkpoint (`api.automation_checkpoint`), the runner
//!   reads the feed's events of the types the rules need ([`plan::FOLLOWED`]) in
//!   feed order. A rule's definition adds it for the events after it; a disabling
//!   stops it. For each event and enabled rule: the deadlines it sets or drops, and
//!   the commands the rule's reaction plans, gathered from stream loads (and the
//!   leads and deals read models for `least_busy`) and run at once ([`act`]). Each
//!   batch's deadline changes, round robins' picks and new checkpoint are committed
//!   together afterwards ([`store`]).
//! - **Deadlines.** Once caught up, every deadline due by now fires, in due order,
//!   each dropped once its commands ran; the runner then sleeps until the next one
//!   or the next event, whichever comes first. After downtime, the missed ones fire
//!   at once; a deadline already past when its trigger is followed fires at once.
//! - **Exactly once in effect.** Every planned command has a deterministic id (the
//!   rule, the trigger, a purpose) which seeds its event ids and names the task it
//!   schedules. A command run again (after a crash before the checkpoint, by a
//!   runner that lost its lock, after a reset checkpoint) is decided on the entity
//!   as it stands: refused (the lead assigned, the task existing) or appended as the
//!   same events, which the log takes as a replay.

pub mod act;
pub mod plan;
pub mod store;

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use crm_domain::automation::{self, DueChange, Trigger};
use crm_domain::DomainEvent;
use crm_eventlog::{Cursor, EventLog, FeedFilter, RecordedEvent};
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::commands::{CommandError, Commands};
use act::{act, Acted};
use plan::{readable, Planner, Roster, Rules};

/// The advisory lock the active runner holds: (`"CRMA"`, 1).
const LOCK: (i32, i32) = (0x4352_4D41, 1);

/// How a runner behaves; the defaults suit production.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The most events read and committed in one batch.
    pub batch_size: usize,
    /// How often a standby tries the lock, and the active runner checks it.
    pub lock_check: Duration,
    /// The pause before running again after a failure.
    pub backoff: Duration,
    /// For tests: the runner stops dead after running this many commands, before
    /// committing their batch (a crash between a command and the checkpoint).
    pub crash_after_commands: Option<usize>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            batch_size: 1000,
            lock_check: Duration::from_secs(1),
            backoff: Duration::from_secs(1),
            crash_after_commands: None,
        }
    }
}

/// Why the active runner stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// A command, a stream load or a read model failed.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The runner's own tables or its lock connection failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The feed could not be read.
    #[error(transparent)]
    Log(#[from] crm_eventlog::EventLogError),
    /// The lock connection is gone: another runner may be active.
    #[error("the automation runner lost its lock")]
    LockLost,
    /// [`RunnerConfig::crash_after_commands`] was reached.
    #[error("crashed on purpose after {0} commands")]
    Crashed(usize),
}

/// The automation runner of one process.
pub struct Runner {
    commands: Commands,
    config: RunnerConfig,
}

/// A running runner: stop it with [`Running::shutdown`], or drop it to kill it.
pub struct Running {
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops the runner and waits for it.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// True once the runner's task has ended (it only does on shutdown, or after
    /// [`RunnerConfig::crash_after_commands`]).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Runner {
    /// A runner over `log`, with commands of its own and the default configuration.
    pub fn new(log: EventLog) -> Self {
        Runner {
            commands: Commands::new(log),
            config: RunnerConfig::default(),
        }
    }

    /// The same runner with this configuration.
    pub fn with_config(mut self, config: RunnerConfig) -> Self {
        self.config = config;
        self
    }

    /// Starts the runner on the current tokio runtime.
    pub fn spawn(self) -> Running {
        let (shutdown, stop) = watch::channel(false);
        let task = tokio::spawn(self.run(stop));
        Running {
            shutdown,
            task: Some(task),
        }
    }

    /// Stands by until it holds the lock, then runs until `shutdown` (or a crash on
    /// purpose); failures are retried after the backoff.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut said_standby = false;
        while !*shutdown.borrow() {
            match self.lock().await {
                Ok(Some(mut lock)) => {
                    said_standby = false;
                    tracing::info!("automation runner active");
                    let outcome = self.active(&mut lock, &mut shutdown).await;
                    let _ = lock.close().await;
                    match outcome {
                        Ok(()) => break,
                        Err(RunnerError::Crashed(n)) => {
                            tracing::warn!(commands = n, "automation runner crashed on purpose");
                            return;
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "automation runner stopped; retrying")
                        }
                    }
                }
                Ok(None) if !said_standby => {
                    tracing::info!("another automation runner is active; standing by");
                    said_standby = true;
                }
                Ok(None) => {}
                Err(err) => tracing::debug!(error = %err, "cannot take the automation lock yet"),
            }
            let pause = self.config.lock_check.max(self.config.backoff);
            tokio::select! {
                _ = shutdown.changed() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
        tracing::info!("automation runner stopped");
    }

    /// A connection holding the lock, or None while another runner holds it.
    async fn lock(&self) -> Result<Option<PgConnection>, sqlx::Error> {
        let options = self.commands.log().pool().connect_options();
        let mut conn = PgConnection::connect_with(&options).await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(LOCK.0)
            .bind(LOCK.1)
            .fetch_one(&mut conn)
            .await?;
        if got {
            Ok(Some(conn))
        } else {
            let _ = conn.close().await;
            Ok(None)
        }
    }

    /// The active runner's loop, while it holds the lock on `lock`: catch up with
    /// the feed, fire what is due, wait for the next event or deadline.
    async fn active(
        &self,
        lock: &mut PgConnection,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), RunnerError> {
        let log = self.commands.log();
        let pool = log.pool();
        let cursor = store::checkpoint(pool).await?.unwrap_or_else(Cursor::start);
        let mut state = State {
            rules: Rules::up_to(log, cursor).await?,
            roster: Roster::load(log).await?,
            last_assigned: store::last_assigned(pool).await?,
            seen: cursor.position(),
            cursor,
            ran: 0,
        };
        let filter = FeedFilter::types(plan::FOLLOWED.iter().copied());
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            loop {
                let page = log
                    .read_feed(state.cursor, self.config.batch_size, &filter)
                    .await?;
                self.follow(&mut state, &page.events, page.next).await?;
                if page.caught_up {
                    break;
                }
            }
            let mut ran = state.ran;
            let done = self
                .fire_due(&state.planner(&self.commands), &state.rules, &mut ran)
                .await?;
            state.ran = ran;
            state.seen = state.seen.max(done);
            let now = Utc::now();
            let wait = match store::next_due(pool).await? {
                Some(at) => (at - now).to_std().unwrap_or(Duration::ZERO),
                None => self.config.lock_check,
            }
            .min(self.config.lock_check);
            if !wait.is_zero() {
                let mut feed = log.subscribe(state.cursor, filter.clone());
                tokio::select! {
                    _ = shutdown.changed() => {}
                    got = feed.next_batch(self.config.batch_size) => {
                        self.follow(&mut state, &got?, feed.cursor()).await?;
                    }
                    () = tokio::time::sleep(wait) => {}
                }
            }
            sqlx::query("SELECT 1")
                .execute(&mut *lock)
                .await
                .map_err(|_| RunnerError::LockLost)?;
        }
    }

    /// Follows a batch of events up to `next`: runs what they trigger, then commits
    /// their deadline changes and picks with the checkpoint.
    async fn follow(
        &self,
        state: &mut State,
        events: &[RecordedEvent],
        next: Cursor,
    ) -> Result<(), RunnerError> {
        let mut batch = Batch {
            picks: HashMap::new(),
            changes: Vec::new(),
        };
        for stored in events {
            state.seen = state.seen.max(stored.position);
            let Some(event) = readable(stored) else {
                continue;
            };
            state.rules.follow(&event);
            state.roster.follow(&event);
            if state.rules.is_empty() {
                continue;
            }
            let mut ran = state.ran;
            let done = self
                .on_event(
                    &state.planner(&self.commands),
                    &state.rules,
                    stored,
                    &event,
                    &mut batch,
                    &mut ran,
                )
                .await?;
            state.ran = ran;
            state.seen = state.seen.max(done);
            for (rule, manager) in &batch.picks {
                state.last_assigned.insert(*rule, *manager);
            }
        }
        if next != state.cursor {
            store::commit(
                self.commands.log().pool(),
                &batch.changes,
                &batch.picks,
                next,
            )
            .await?;
            state.cursor = next;
        }
        Ok(())
    }

    /// What the enabled rules do about one event: deadline changes into `batch`,
    /// planned commands run now. Returns the last position appended (0: none).
    async fn on_event(
        &self,
        planner: &Planner<'_>,
        rules: &Rules,
        stored: &RecordedEvent,
        event: &DomainEvent,
        batch: &mut Batch,
        ran: &mut usize,
    ) -> Result<i64, RunnerError> {
        let trigger = Trigger {
            event_id: stored.event_id,
            occurred_at: stored.occurred_at,
            event,
        };
        let mut last = 0;
        for rule in rules.active() {
            batch
                .changes
                .extend(automation::due_changes(rule, &trigger));
            let (planned, earlier) = planner.react(rule, &trigger).await?;
            if let Some(manager) = earlier {
                batch.picks.insert(rule.id, manager);
            }
            for p in planned {
                self.count(ran)?;
                if let Acted::Appended(position) =
                    act(&self.commands, &p, stored.metadata.correlation_id).await?
                {
                    last = last.max(position);
                    if let automation::Action::AssignLead { manager_id, .. } = p.action {
                        batch.picks.insert(rule.id, manager_id);
                    }
                }
            }
        }
        Ok(last)
    }

    /// Fires every deadline due by now, in due order. Returns the last position
    /// appended (0: none).
    async fn fire_due(
        &self,
        planner: &Planner<'_>,
        rules: &Rules,
        ran: &mut usize,
    ) -> Result<i64, RunnerError> {
        let pool = self.commands.log().pool();
        let mut last = 0;
        loop {
            let entries = store::due_by(pool, Utc::now(), 100).await?;
            if entries.is_empty() {
                return Ok(last);
            }
            for entry in entries {
                if let Some(rule) = rules.get(entry.due.rule_id) {
                    for p in planner.fire(rule, &entry).await? {
                        self.count(ran)?;
                        if let Acted::Appended(position) = act(&self.commands, &p, None).await? {
                            last = last.max(position);
                        }
                    }
                }
                store::fired(pool, &entry.due).await?;
            }
        }
    }

    /// Counts a command about to run; the crash on purpose once there were enough.
    fn count(&self, ran: &mut usize) -> Result<(), RunnerError> {
        if self.config.crash_after_commands == Some(*ran) {
            return Err(RunnerError::Crashed(*ran));
        }
        *ran += 1;
        Ok(())
    }
}

/// What one batch of events leaves to commit with its checkpoint.
struct Batch {
    /// Round robins' picks: rule → manager.
    picks: HashMap<Uuid, Uuid>,
    /// Deadline changes, in order.
    changes: Vec<DueChange>,
}

/// What the active runner knows between batches.
struct State {
    /// Where it stands in the feed (committed).
    cursor: Cursor,
    /// The rules as of `cursor`.
    rules: Rules,
    /// The team now.
    roster: Roster,
    /// Each round robin's last pick.
    last_assigned: HashMap<Uuid, Uuid>,
    /// The last position seen or appended.
    seen: i64,
    /// Commands run so far.
    ran: usize,
}

impl State {
    /// The planner over what the runner knows now.
    fn planner<'a>(&'a self, commands: &'a Commands) -> Planner<'a> {
        Planner {
            commands,
            roster: &self.roster,
            last_assigned: &self.last_assigned,
            seen: self.seen,
        }
    }
}
