//! One way to run a command, which knows no HTTP: load the states it needs,
//! authorize, decide, encrypt personal data, append with its metadata, retry on
//! conflict.
//!
//! A caller (an HTTP handler, the export record, `crm seed`, `crm demo`) gives
//! [`execute`] the entity the command is about, a [`CommandContext`] (who, how:
//! plain data, the request id and correlation included) and a closure that loads
//! the states the command needs (through a [`Loader`], which remembers each stream's
//! version and refuses any entity out of the actor's reach before the domain sees
//! it), decides, and returns the events. The role is checked before anything is
//! read; what the events name and the streams they go to, after deciding
//! ([`authorize`]). The events are appended in one transaction to their streams,
//! each expected at the version it was read at. If another command got in between,
//! the whole thing runs again on fresh states, unless the context carries
//! `if_match`, which makes a moved entity a conflict.
//!
//! Personal values are decrypted where the loader reads stored events, and encrypted
//! where the events are appended (`crate::personal`): the domain sees plaintext only.
//! Failures are a [`CommandError`]; the HTTP edge maps it to its problem answers once.
//!
//! `crm seed` decides on states it folds in memory (a whole company's year, far
//! faster than reading each state back): it builds its events and their metadata
//! with [`new_events`] and appends them with [`append`], the same steps
//! [`execute`] ends with.

pub mod authorize;
mod loader;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::error::Error;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use crm_domain::manager::ManagerState;
use crm_domain::pipeline::PipelineState;
use crm_domain::task::{ScheduleTask, TaskCommand, TaskState};
use crm_domain::{Aggregate, DomainError, DomainEvent, EntityKind, Ref};
use crm_eventlog::{
    AppendOutcome, EventLog, EventLogError, ExpectedVersion, Metadata, NewEvent, Source,
    StreamAppend, Unmoved,
};
use crm_projections::ProjectionError;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

pub use loader::{Loader, StateCache};

use crate::access::{reach_in, Actor, Refused};
use authorize::{may_command, may_leave};
use loader::{latest, shaping_department};

/// How many times a command is decided again after another command moved its streams.
/// Enough for every one of a few dozen commands racing for one entity to get its
/// turn: each round one of them wins.
const ATTEMPTS: usize = 32;

/// What every command response says: where the entity's stream stands now.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct CommandResponse {
    /// The entity's id.
    pub id: Uuid,
    /// Its stream, e.g. `deal-<uuid>`.
    pub stream: String,
    /// Its stream's version after the command.
    pub version: i64,
    /// The global position of the command's last event.
    pub position: i64,
}

/// Who sends a command and how: the actor, the version expected, correlation and
/// request ids, where it comes from. Plain data: an HTTP request, the `crm` binary
/// and the seed generator each fill it in their own way.
#[derive(Debug, Clone)]
pub struct CommandContext {
    /// Who runs the command (a token's owner).
    pub actor: Actor,
    /// How the actor is named in the events' metadata, when not by
    /// [`Actor::name`] (the operator of the `crm` binary: `cli:<user>`).
    pub actor_label: Option<String>,
    /// The version the target entity must be at (HTTP `If-Match`): a moved entity
    /// is a conflict, never decided again.
    pub if_match: Option<i64>,
    /// The correlation id recorded in the metadata.
    pub correlation_id: Uuid,
    /// The id of the request that carries the command, if any.
    pub request_id: Option<String>,
    /// Where the command comes from, recorded in the metadata.
    pub source: Source,
    /// Seeds the ids the command makes up (an HTTP `Idempotency-Key`), so that a
    /// retry makes the same ones.
    pub seed: Option<IdSeed>,
    /// The event the command answers (metadata `causation_id`): an automation
    /// rule's trigger.
    pub causation_id: Option<Uuid>,
    /// The automation rule that runs the command (metadata `rule_id`).
    pub rule_id: Option<Uuid>,
}

/// Seeds the ids a command makes up: the same seed, the same ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdSeed(pub Uuid);

impl IdSeed {
    /// The `n`-th id derived from the seed.
    pub fn id(&self, purpose: &str, n: usize) -> Uuid {
        Uuid::new_v5(&self.0, format!("{purpose}/{n}").as_bytes())
    }
}

impl CommandContext {
    /// A command by `actor` from `source`, with a new correlation id and nothing else.
    pub fn new(actor: Actor, source: Source) -> Self {
        CommandContext {
            actor,
            actor_label: None,
            if_match: None,
            correlation_id: Uuid::new_v4(),
            request_id: None,
            source,
            seed: None,
            causation_id: None,
            rule_id: None,
        }
    }

    /// The metadata the command's events are recorded with.
    pub fn metadata(&self) -> Metadata {
        Metadata {
            actor: Some(
                self.actor_label
                    .clone()
                    .unwrap_or_else(|| self.actor.name()),
            ),
            correlation_id: Some(self.correlation_id),
            causation_id: self.causation_id,
            request_id: self.request_id.clone(),
            source: self.source,
            rule_id: self.rule_id,
        }
    }

    /// An id for a new entity: derived from the idempotency key if there is one,
    /// so that a retry names the same entity; else a new one.
    pub fn new_id(&self) -> Uuid {
        self.new_id_for("entity", 0)
    }

    /// The `n`-th new id made up for `purpose` (e.g. a pipeline's stages), seeded
    /// like [`CommandContext::new_id`].
    pub fn new_id_for(&self, purpose: &str, n: usize) -> Uuid {
        match self.seed {
            Some(seed) => seed.id(purpose, n),
            None => Uuid::now_v7(),
        }
    }
}

/// Why a command was not run, or not appended.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The actor may not run it, or not on these entities.
    #[error(transparent)]
    Forbidden(#[from] Refused),
    /// The domain refused it.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The request is malformed in a way only the command sees (an HTTP 400).
    #[error("{detail}")]
    Invalid {
        /// Stable machine word.
        code: &'static str,
        /// What is wrong, for a person.
        detail: String,
    },
    /// The target entity is not at the version the context expected.
    #[error("{stream} is at version {current}, not {expected}")]
    VersionConflict {
        /// The entity's stream.
        stream: String,
        /// What the context expected.
        expected: i64,
        /// Its current version.
        current: i64,
    },
    /// The log refused or failed the read or the append (a conflict after the last
    /// attempt, a duplicate, an erased subject, the database unreachable…).
    #[error(transparent)]
    Log(#[from] EventLogError),
    /// A read model the command path reads (a head's department) failed.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// A fault of ours (a stored event that does not decode, a caller's defect).
    #[error("{0}")]
    Internal(#[source] Box<dyn Error + Send + Sync>),
}

impl CommandError {
    /// A fault of ours, with its cause.
    pub fn internal(cause: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        CommandError::Internal(cause.into())
    }

    /// A malformed request, with its stable `code`.
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> Self {
        CommandError::Invalid {
            code,
            detail: detail.into(),
        }
    }
}

/// Runs commands over one log: the caches they share (entities' folded states,
/// pipelines), and what to do when a command deactivates a manager.
#[derive(Clone)]
pub struct Commands {
    log: EventLog,
    pipelines: Arc<Mutex<HashMap<Uuid, PipelineState>>>,
    states: Arc<StateCache>,
    on_deactivated: Option<Arc<dyn Fn(Uuid) + Send + Sync>>,
    /// Does a command's first attempt decide on remembered states unread?
    trust_remembered: bool,
}

impl Commands {
    /// Commands over `log`, with empty caches.
    pub fn new(log: EventLog) -> Self {
        Commands {
            log,
            pipelines: Arc::default(),
            states: Arc::default(),
            on_deactivated: None,
            trust_remembered: true,
        }
    }

    /// The same, deciding every command on states read from the log (the remembered
    /// ones brought up to date first), never on remembered states unread: what
    /// commands did before they trusted them (`crm bench api --read-states`).
    pub fn reading_every_state(mut self) -> Self {
        self.trust_remembered = false;
        self
    }

    /// The same, calling `hook` with each manager a command deactivated, once the
    /// command is appended (the HTTP server forgets his tokens).
    pub fn on_manager_deactivated(mut self, hook: impl Fn(Uuid) + Send + Sync + 'static) -> Self {
        self.on_deactivated = Some(Arc::new(hook));
        self
    }

    /// The log the commands are appended to.
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// The state of entity `id` of `kind` as the log holds it now (personal values
    /// revealed): what the automation runner reads a rule's context from.
    pub async fn state<S>(&self, kind: EntityKind, id: Uuid) -> Result<S, CommandError>
    where
        S: Aggregate + Send + Sync + 'static,
    {
        latest(&self.log, &self.states, &kind.stream(id), None).await
    }

    /// Is manager `id` registered and active, as the log says now?
    pub async fn manager_is_active(&self, id: Uuid) -> Result<bool, CommandError> {
        let stream = EntityKind::Manager.stream(id);
        let manager: ManagerState = latest(&self.log, &self.states, &stream, None).await?;
        Ok(manager.manager.is_some_and(|m| m.active))
    }
}

/// The outcome of a decision: the events, decided on what the loader loaded.
pub struct Decision {
    events: Vec<DomainEvent>,
    loader: Loader,
}

impl Decision {
    /// `events`, decided on what `loader` loaded.
    pub fn new(loader: Loader, events: Vec<DomainEvent>) -> Self {
        Decision { events, loader }
    }
}

/// Runs a command about entity `target`: `decide` loads, decides and returns the
/// events; they are appended with the versions read, with `occurred_at` and the
/// context's metadata.
///
/// Authorization comes first, so that no answer depends on what the actor may not
/// see: the role must run commands about `target`'s kind (before anything is read);
/// each entity `decide` loads must be within the actor's reach as it stands (before
/// the domain sees it); after deciding, every entity the events name must have been
/// loaded that way, and each stream they are appended to must stay within reach.
pub async fn execute<F, Fut>(
    commands: &Commands,
    ctx: &CommandContext,
    target: (EntityKind, Uuid),
    occurred_at: Option<DateTime<Utc>>,
    decide: F,
) -> Result<CommandResponse, CommandError>
where
    F: Fn(Loader) -> Fut,
    Fut: Future<Output = Result<Decision, CommandError>>,
{
    may_command(&ctx.actor, target.0)?;
    let reach = reach_in(commands.log.pool(), &ctx.actor).await?;
    // Whole microseconds, as PostgreSQL stores them, so that a time the command
    // copies into its events (a lead's received_at) equals the stored occurred_at.
    let occurred_at = occurred_at.unwrap_or_else(Utc::now);
    let occurred_at =
        DateTime::from_timestamp_micros(occurred_at.timestamp_micros()).unwrap_or(occurred_at);
    let target_stream = target.0.stream(target.1);
    let mut attempt = 0;
    // The first attempt decides on the states remembered between commands, unread;
    // whatever goes wrong with it is decided again on states read from the log.
    let mut trusting = commands.trust_remembered;
    loop {
        attempt += 1;
        let trusted = std::mem::take(&mut trusting);
        let decided = decide(Loader::new(commands, reach.clone(), trusted)).await;
        let Decision { events, mut loader } = match decided {
            Ok(decision) => decision,
            Err(_) if trusted => continue,
            Err(refusal) => return Err(stale_first(commands, ctx, &target_stream, refusal).await),
        };
        let checked = async {
            loader.load_references(&events).await?;
            let department = shaping_department(commands, &ctx.actor, &reach, &events).await?;
            may_leave(&reach, department.as_deref(), &events, loader.touched())?;
            Ok::<(), CommandError>(())
        };
        match checked.await {
            Ok(()) => {}
            Err(_) if trusted => continue,
            Err(err) => return Err(err),
        }
        let versions = loader.versions();
        let target_version = versions.get(&target_stream).copied().unwrap_or(0);
        let unmoved = match unread_and_unwritten(&loader, &events) {
            Some(unmoved) if trusted => unmoved,
            // An unread state behind what this attempt read of the same stream.
            None if trusted => continue,
            _ => Unmoved::none(),
        };
        // A remembered state may be stale: the answers that do not go through an
        // append, which would check it, are given on states read from the log.
        if trusted && (events.is_empty() || ctx.if_match.is_some_and(|e| e != target_version)) {
            continue;
        }
        if let Some(expected) = ctx.if_match {
            if expected != target_version {
                return Err(CommandError::VersionConflict {
                    stream: target_stream,
                    expected,
                    current: target_version,
                });
            }
        }
        if events.is_empty() {
            return Ok(CommandResponse {
                id: target.1,
                stream: target_stream,
                version: target_version,
                position: 0,
            });
        }
        let deactivated: Vec<Uuid> = events
            .iter()
            .filter_map(|e| match e {
                DomainEvent::ManagerDeactivated(d) => Some(d.manager_id),
                _ => None,
            })
            .collect();
        let batches = batches(&events, versions, ctx, occurred_at);
        match append_checked(&commands.log, batches, &unmoved).await {
            Ok(outcome) => {
                // A deactivated manager's tokens end now (in other processes, once
                // their cached lookup expires).
                if let Some(hook) = &commands.on_deactivated {
                    deactivated.into_iter().for_each(|manager| hook(manager));
                }
                let version = outcome.version_of(&target_stream).unwrap_or(target_version);
                let position = outcome.last_position();
                loader.remember_appended(&events, &outcome);
                return Ok(CommandResponse {
                    id: target.1,
                    stream: target_stream,
                    version,
                    position,
                });
            }
            // A remembered state was stale: decided again at once, on what the log holds.
            Err(EventLogError::Conflict { .. }) if trusted => {}
            Err(EventLogError::Conflict { .. }) if ctx.if_match.is_none() && attempt < ATTEMPTS => {
                tracing::debug!(attempt, "an entity moved while deciding; deciding again");
                // Racers spread out a little more each round, in random order, so the
                // same one does not lose every time.
                let spread = rand::random::<u64>() % (500 * attempt.min(10) as u64);
                tokio::time::sleep(std::time::Duration::from_micros(spread)).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// The streams `loader` took from memory unread that `events` do not append to, to
/// be checked unmoved by the append (those appended to are checked by their
/// expected versions). None when an unread state is not the one the append would
/// expect (the same stream read again later, at another version).
fn unread_and_unwritten(loader: &Loader, events: &[DomainEvent]) -> Option<Unmoved> {
    let written: HashSet<String> = events.iter().map(DomainEvent::stream).collect();
    let mut unmoved = Unmoved::none();
    for (stream, &version) in loader.unread() {
        if loader.versions().get(stream).is_some_and(|&v| v != version) {
            return None;
        }
        if !written.contains(stream) {
            unmoved.push(stream.clone(), version);
        }
    }
    Some(unmoved)
}

/// A domain refusal under `if_match`, judged as the caller saw the entity: when the
/// target has moved from the version the caller expected, the answer is the version
/// conflict (the caller decided on a stale view), not the refusal of the new state.
async fn stale_first(
    commands: &Commands,
    ctx: &CommandContext,
    target_stream: &str,
    refusal: CommandError,
) -> CommandError {
    let (Some(expected), CommandError::Domain(_)) = (ctx.if_match, &refusal) else {
        return refusal;
    };
    match commands.log.stream_version(target_stream).await {
        Ok(current) if current.unwrap_or(0) != expected => CommandError::VersionConflict {
            stream: target_stream.to_owned(),
            expected,
            current: current.unwrap_or(0),
        },
        Ok(_) => refusal,
        Err(err) => err.into(),
    }
}

/// The shape of every command that hands an existing entity to a manager: load the
/// entity and the manager, decide `command(entity id, manager)`, append.
pub async fn assign<S>(
    commands: &Commands,
    ctx: &CommandContext,
    target: (EntityKind, Uuid),
    manager_id: Uuid,
    occurred_at: Option<DateTime<Utc>>,
    command: fn(Uuid, Ref<ManagerState>) -> S::Command,
) -> Result<CommandResponse, CommandError>
where
    S: Aggregate + Send + Sync + 'static,
{
    let (kind, id) = target;
    execute(
        commands,
        ctx,
        target,
        occurred_at,
        |mut loader| async move {
            let entity: S = loader.load(kind, id).await?;
            let manager = loader.reference(EntityKind::Manager, manager_id).await?;
            let events = entity.decide(command(id, manager))?;
            Ok(Decision::new(loader, events))
        },
    )
    .await
}

/// A task to schedule, each entity by id: what `POST /tasks` and a rule's planned
/// task both give [`schedule_task`].
#[derive(Debug, Clone)]
pub struct TaskToSchedule {
    /// The new task's id.
    pub task_id: Uuid,
    /// What to do.
    pub title: String,
    /// Its kind; None for the default.
    pub kind: Option<String>,
    /// The manager who must do it.
    pub assignee_id: Uuid,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// The client it is about.
    pub client_id: Option<Uuid>,
    /// The deal it is about.
    pub deal_id: Option<Uuid>,
    /// Managers who help.
    pub co_executor_ids: Vec<Uuid>,
    /// Managers who watch.
    pub observer_ids: Vec<Uuid>,
}

/// `TaskCommand::Schedule` of `task`: load the task, the assignee, the client, the
/// deal and the helpers and watchers, decide, append.
pub async fn schedule_task(
    commands: &Commands,
    ctx: &CommandContext,
    task: TaskToSchedule,
    occurred_at: Option<DateTime<Utc>>,
) -> Result<CommandResponse, CommandError> {
    let id = task.task_id;
    execute(
        commands,
        ctx,
        (EntityKind::Task, id),
        occurred_at,
        |mut loader| {
            let task = task.clone();
            async move {
                let state: TaskState = loader.load(EntityKind::Task, id).await?;
                let assignee = loader
                    .reference(EntityKind::Manager, task.assignee_id)
                    .await?;
                let client = loader
                    .optional_reference(EntityKind::Client, task.client_id)
                    .await?;
                let deal = loader
                    .optional_reference(EntityKind::Deal, task.deal_id)
                    .await?;
                let co_executors = managers(&mut loader, &task.co_executor_ids).await?;
                let observers = managers(&mut loader, &task.observer_ids).await?;
                let events = state.decide(TaskCommand::Schedule(ScheduleTask {
                    task_id: id,
                    title: task.title,
                    kind: task.kind,
                    assignee,
                    due_at: task.due_at,
                    client,
                    deal,
                    co_executors,
                    observers,
                }))?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await
}

/// The managers `ids` names, each with its state.
async fn managers(
    loader: &mut Loader,
    ids: &[Uuid],
) -> Result<Vec<Ref<ManagerState>>, CommandError> {
    // The domain refuses longer lists too; checked here before any is loaded.
    if ids.len() > crm_domain::MAX_ITEMS {
        return Err(DomainError::rule(
            crm_domain::codes::TOO_MANY_ITEMS,
            format!(
                "at most {} co-executors or observers, got {}",
                crm_domain::MAX_ITEMS,
                ids.len()
            ),
        )
        .into());
    }
    let mut refs = Vec::with_capacity(ids.len());
    for &id in ids {
        refs.push(loader.reference(EntityKind::Manager, id).await?);
    }
    Ok(refs)
}

/// The log's form of a domain event: its type, payload and schema version, with
/// `metadata`.
pub fn new_event(event: &DomainEvent, metadata: Metadata) -> NewEvent {
    NewEvent {
        schema_version: event.schema_version(),
        ..NewEvent::new(event.event_type(), event.to_data()).with_metadata(metadata)
    }
}

/// The log's form of `events`, decided at `occurred_at` in `ctx`: each with the
/// context's metadata, and the id `event_id` gives it (by its place among them).
pub fn new_events(
    events: &[DomainEvent],
    ctx: &CommandContext,
    occurred_at: DateTime<Utc>,
    mut event_id: impl FnMut(usize) -> Uuid,
) -> Vec<NewEvent> {
    let metadata = ctx.metadata();
    events
        .iter()
        .enumerate()
        .map(|(n, event)| {
            let mut new = new_event(event, metadata.clone()).occurred_at(occurred_at);
            new.event_id = event_id(n);
            new
        })
        .collect()
}

/// Encrypts the personal values of `batches` and appends them with their keys in
/// one transaction: the last step of every command ([`execute`]), and the whole of
/// `crm seed`'s appends.
pub async fn append(
    log: &EventLog,
    batches: Vec<StreamAppend>,
) -> Result<AppendOutcome, EventLogError> {
    append_checked(log, batches, &Unmoved::none()).await
}

/// [`append`] that lands only if none of the streams of `unmoved` (read, not
/// written) moved since they were read.
async fn append_checked(
    log: &EventLog,
    mut batches: Vec<StreamAppend>,
    unmoved: &Unmoved,
) -> Result<AppendOutcome, EventLogError> {
    let write = crate::personal::encrypt(log, &mut batches).await?;
    log.append_checked(batches, &write, unmoved).await
}

/// Groups events by stream, each stream expected at the version it was read at.
fn batches(
    events: &[DomainEvent],
    versions: &BTreeMap<String, i64>,
    ctx: &CommandContext,
    occurred_at: DateTime<Utc>,
) -> Vec<StreamAppend> {
    let news = new_events(events, ctx, occurred_at, |n| match ctx.seed {
        Some(seed) => seed.id("event", n),
        None => Uuid::now_v7(),
    });
    let mut batches: Vec<StreamAppend> = Vec::new();
    for (event, new) in events.iter().zip(news) {
        let stream = event.stream();
        match batches.iter_mut().find(|b| b.stream == stream) {
            Some(batch) => batch.events.push(new),
            None => {
                let expected = match versions.get(&stream) {
                    Some(0) | None => ExpectedVersion::NoStream,
                    Some(v) => ExpectedVersion::Exact(*v),
                };
                batches.push(StreamAppend::new(stream, expected, vec![new]));
            }
        }
    }
    batches
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    /// The command path knows no HTTP: none of its files names the web framework,
    /// the HTTP error, or the server's state (the words are split here so that this
    /// file passes its own check).
    #[test]
    fn the_command_path_imports_no_http() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands");
        let words = [
            ["ax", "um"].concat(),
            ["Api", "Error"].concat(),
            ["App", "State"].concat(),
        ];
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for word in &words {
                    assert!(
                        !text.contains(word.as_str()),
                        "{} names {word}",
                        path.display()
                    );
                }
                checked += 1;
            }
        }
        assert!(
            checked >= 3,
            "found only {checked} files in {}",
            dir.display()
        );
    }
}
