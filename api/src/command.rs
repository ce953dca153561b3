//! Running a command: authorize, load the streams it needs, decide, append with the
//! versions read.
//!
//! A handler gives [`execute`] the entity the command is about and a closure that
//! loads the states the command needs (through a [`Loader`], which remembers each
//! stream's version and refuses any entity out of the actor's reach before the domain
//! sees it), decides, and returns the events. The role is checked before anything
//! is read; what the events name and the streams they go to, after deciding
//! (`crate::access`). The events are appended in one transaction to their
//! streams, each expected at the version it was read at. If another command got
//! in between, the whole thing runs again on fresh states, unless the request
//! carried `If-Match`, which makes a moved entity a 409.
//!
//! Personal values are decrypted where the loader reads stored events, and encrypted
//! where the events are appended (`crate::personal`): the domain sees plaintext only.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_domain::manager::ManagerState;
use crm_domain::pipeline::PipelineState;
use crm_domain::{Aggregate, DomainError, DomainEvent, EntityKind, Ref};
use crm_eventlog::{
    EventLog, EventLogError, ExpectedVersion, Metadata, NewEvent, Source, StreamAppend,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::{may_command, may_leave, may_name, reach, Reach, Touched};
use crate::auth::Actor;
use crate::error::ApiError;
use crate::idempotency::IdSeed;
use crate::server::REQUEST_ID;
use crate::state::AppState;
use crate::state::StateCache;

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

/// The body of a command that carries nothing but its business time (it may be left out).
#[derive(Debug, Clone, Default, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnlyBusinessTime {
    /// Business time of the fact; default: now.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Who sends a command and how: the actor, `If-Match`, correlation and request ids.
#[derive(Debug, Clone)]
pub struct CommandContext {
    /// The token's owner.
    pub actor: Actor,
    /// `If-Match: <version>`: the version the target entity must be at.
    pub if_match: Option<i64>,
    /// `X-Correlation-Id`, or a new id.
    pub correlation_id: Uuid,
    /// The request's id.
    pub request_id: Option<String>,
    /// Set when the request carries an `Idempotency-Key`: seeds the ids it makes up.
    pub seed: Option<IdSeed>,
}

impl CommandContext {
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

impl FromRequestParts<AppState> for CommandContext {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let actor = Actor::from_request_parts(parts, state).await?;
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let if_match = match header("if-match") {
            None => None,
            Some(v) => Some(
                v.trim_matches('"')
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_if_match",
                            "If-Match must be a stream version",
                        )
                    })?,
            ),
        };
        let correlation_id = match header("x-correlation-id") {
            None => Uuid::new_v4(),
            Some(v) => Uuid::parse_str(v).map_err(|_| {
                ApiError::bad_request("invalid_correlation_id", "X-Correlation-Id must be a UUID")
            })?,
        };
        let request_id = header(REQUEST_ID).map(str::to_owned);
        let seed = parts.extensions.get::<IdSeed>().copied();
        Ok(CommandContext {
            actor,
            if_match,
            correlation_id,
            request_id,
            seed,
        })
    }
}

/// Loads states for one attempt at a command, remembering each stream's version,
/// and refuses (403 `out_of_reach`) any entity the actor does not reach before the
/// command is decided on it.
pub struct Loader {
    log: EventLog,
    versions: BTreeMap<String, i64>,
    pipelines: Arc<Mutex<HashMap<Uuid, PipelineState>>>,
    states: Arc<StateCache>,
    /// Streams read ahead by `prefetch`: the version read from, and the events after it.
    prefetched: HashMap<String, (i64, Vec<crm_eventlog::RecordedEvent>)>,
    /// Each loaded entity, for judging who may append to its stream.
    touched: HashMap<String, Touched>,
    /// What the actor reaches.
    reach: Reach,
}

impl Loader {
    /// A loader for one attempt at a command by an actor who reaches `reach`.
    fn new(state: &AppState, reach: Reach) -> Self {
        Loader {
            log: state.log.clone(),
            versions: BTreeMap::new(),
            pipelines: Arc::clone(&state.pipelines),
            states: Arc::clone(&state.states),
            prefetched: HashMap::new(),
            touched: HashMap::new(),
            reach,
        }
    }

    /// A pipeline: from memory once it is defined, since nothing changes a pipeline.
    pub async fn load_pipeline(&mut self, id: Uuid) -> Result<PipelineState, ApiError> {
        let cached = self.pipelines.lock().ok().and_then(|p| p.get(&id).cloned());
        if let Some(pipeline) = cached {
            let stream = EntityKind::Pipeline.stream(id);
            self.touched.insert(stream, Touched::of(pipeline.clone()));
            return Ok(pipeline);
        }
        let pipeline: PipelineState = self.load(EntityKind::Pipeline, id).await?;
        if pipeline.pipeline.is_some() {
            if let Ok(mut cache) = self.pipelines.lock() {
                cache.insert(id, pipeline.clone());
            }
        }
        Ok(pipeline)
    }

    /// Reads, in one query, what is new in the streams of `entities`, for the
    /// [`Loader::load`] calls that follow.
    pub async fn prefetch(&mut self, entities: &[(EntityKind, Uuid)]) -> Result<(), ApiError> {
        let mut after = Vec::with_capacity(entities.len());
        for (kind, id) in entities {
            let stream = kind.stream(*id);
            let known = self.states.version(&stream).unwrap_or(0);
            after.push((stream, known));
        }
        let mut news = self.log.read_streams_after(&after).await?;
        for events in news.values_mut() {
            crm_projections::personal::reveal(&self.log, events).await?;
        }
        for (stream, known) in after {
            let events = news.remove(&stream).unwrap_or_default();
            self.prefetched.insert(stream, (known, events));
        }
        Ok(())
    }

    /// A new entity with an id of the server's making: nothing to read, and the append
    /// expects its stream not to exist.
    pub fn fresh<S: Aggregate + Send + Sync + 'static>(&mut self, kind: EntityKind, id: Uuid) -> S {
        self.versions.insert(kind.stream(id), 0);
        self.touched
            .insert(kind.stream(id), Touched::of(S::default()));
        S::default()
    }

    /// The state of entity `id` of `kind` (the default state when it has no events),
    /// or a 403 when it exists outside the actor's reach. States are remembered
    /// between commands: only the events appended since are read.
    pub async fn load<S>(&mut self, kind: EntityKind, id: Uuid) -> Result<S, ApiError>
    where
        S: Aggregate + Send + Sync + 'static,
    {
        let stream = kind.stream(id);
        let state: S = self.read(&stream).await?;
        may_name(
            &self.reach,
            kind,
            &stream,
            state.id().is_some(),
            &state.responsible(),
        )?;
        self.remember(stream, &state);
        Ok(state)
    }

    /// Like [`Loader::load`], but an entity outside the actor's reach is left out
    /// (None) instead of refusing the command: for lists of candidates the domain
    /// picks from (a manager's book, of which only what is his now is handed over).
    pub async fn load_reachable<S>(
        &mut self,
        kind: EntityKind,
        id: Uuid,
    ) -> Result<Option<S>, ApiError>
    where
        S: Aggregate + Send + Sync + 'static,
    {
        let stream = kind.stream(id);
        let state: S = self.read(&stream).await?;
        let exists = state.id().is_some();
        if may_name(&self.reach, kind, &stream, exists, &state.responsible()).is_err() {
            return Ok(None);
        }
        self.remember(stream, &state);
        Ok(Some(state))
    }

    /// Remembers the version `state` was read at, and the entity, for the append.
    fn remember<S>(&mut self, stream: String, state: &S)
    where
        S: Aggregate + Send + Sync + 'static,
    {
        self.versions.insert(stream.clone(), state.version());
        self.touched.insert(stream, Touched::of(state.clone()));
    }

    /// Loads (and so checks) every entity `events` name that the command did not load.
    async fn load_references(&mut self, events: &[DomainEvent]) -> Result<(), ApiError> {
        for event in events {
            for (kind, id) in event.references() {
                if !self.touched.contains_key(&kind.stream(id)) {
                    self.load_any(kind, id).await?;
                }
            }
        }
        Ok(())
    }

    /// Loads entity `id` of `kind` with its own aggregate's state.
    async fn load_any(&mut self, kind: EntityKind, id: Uuid) -> Result<(), ApiError> {
        use crm_domain::{client, custom_projection, deal, export, interaction, lead, task};
        match kind {
            EntityKind::Manager => self.load::<ManagerState>(kind, id).await.map(drop),
            EntityKind::Pipeline => self.load_pipeline(id).await.map(drop),
            EntityKind::Client => self.load::<client::ClientState>(kind, id).await.map(drop),
            EntityKind::Lead => self.load::<lead::LeadState>(kind, id).await.map(drop),
            EntityKind::Deal => self.load::<deal::DealState>(kind, id).await.map(drop),
            EntityKind::Interaction => self
                .load::<interaction::InteractionState>(kind, id)
                .await
                .map(drop),
            EntityKind::Task => self.load::<task::TaskState>(kind, id).await.map(drop),
            EntityKind::Projection => self
                .load::<custom_projection::CustomProjectionState>(kind, id)
                .await
                .map(drop),
            EntityKind::Export => self.load::<export::ExportState>(kind, id).await.map(drop),
        }
    }

    /// The state of `stream` as it stands: the remembered one brought up to date.
    async fn read<S>(&mut self, stream: &str) -> Result<S, ApiError>
    where
        S: Aggregate + Send + Sync + 'static,
    {
        let prefetched = self.prefetched.remove(stream);
        latest(&self.log, &self.states, stream, prefetched).await
    }
}

/// The state of `stream` as it stands: the one remembered in `states` (if any) with
/// the events appended since (`prefetched`, when they were read ahead) folded in.
async fn latest<S>(
    log: &EventLog,
    states: &StateCache,
    stream: &str,
    prefetched: Option<(i64, Vec<crm_eventlog::RecordedEvent>)>,
) -> Result<S, ApiError>
where
    S: Aggregate + Send + Sync + 'static,
{
    let cached: S = states.get(stream).unwrap_or_default();
    let (mut state, events) = match prefetched {
        Some((known, events)) if known == cached.version() => (cached, events),
        Some((0, events)) => (S::default(), events),
        _ => {
            let mut events = log.read_stream_after(stream, cached.version()).await?;
            crm_projections::personal::reveal(log, &mut events).await?;
            (cached, events)
        }
    };
    let caught_up = !events.is_empty();
    for stored in events {
        let event =
            DomainEvent::from_stored(&stored.event_type, stored.schema_version, stored.data)
                .map_err(|e| {
                    ApiError::Internal(format!(
                        "undecodable event at position {}: {e}",
                        stored.position
                    ))
                })?;
        state = state.evolve(&event);
    }
    if caught_up {
        states.put(stream, &state);
    }
    Ok(state)
}

/// Is manager `id` registered and active, as the log says now?
pub(crate) async fn manager_is_active(state: &AppState, id: Uuid) -> Result<bool, ApiError> {
    let stream = EntityKind::Manager.stream(id);
    let manager: ManagerState = latest(&state.log, &state.states, &stream, None).await?;
    Ok(manager.manager.is_some_and(|m| m.active))
}

/// The department of an actor whose reach is limited (a head), as the log says, when
/// `events` change a member of the team: the part of the team he may shape
/// (`access::may_shape_team`). None otherwise, or when he has none.
async fn shaping_department(
    state: &AppState,
    actor: &Actor,
    reach: &Reach,
    events: &[DomainEvent],
) -> Result<Option<String>, ApiError> {
    let shapes_team = events.iter().any(|e| e.entity().0 == EntityKind::Manager);
    match (reach, actor.manager_id) {
        (Reach::Managers(_), Some(me)) if shapes_team => {
            let stream = EntityKind::Manager.stream(me);
            let actor: ManagerState = latest(&state.log, &state.states, &stream, None).await?;
            Ok(actor.manager.map(|m| m.department))
        }
        _ => Ok(None),
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
    state: &AppState,
    ctx: &CommandContext,
    target: (EntityKind, Uuid),
    occurred_at: Option<DateTime<Utc>>,
    decide: F,
) -> Result<CommandResponse, ApiError>
where
    F: Fn(Loader) -> Fut,
    Fut: Future<Output = Result<Decision, ApiError>>,
{
    may_command(&ctx.actor, target.0)?;
    let reach = reach(state, &ctx.actor).await?;
    // Whole microseconds, as PostgreSQL stores them, so that a time the command
    // copies into its events (a lead's received_at) equals the stored occurred_at.
    let occurred_at = occurred_at.unwrap_or_else(Utc::now);
    let occurred_at =
        DateTime::from_timestamp_micros(occurred_at.timestamp_micros()).unwrap_or(occurred_at);
    let target_stream = target.0.stream(target.1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Decision { events, mut loader } = decide(Loader::new(state, reach.clone())).await?;
        loader.load_references(&events).await?;
        let department = shaping_department(state, &ctx.actor, &reach, &events).await?;
        may_leave(&reach, department.as_deref(), &events, &loader.touched)?;
        let versions = &loader.versions;
        let target_version = versions.get(&target_stream).copied().unwrap_or(0);
        if let Some(expected) = ctx.if_match {
            if expected != target_version {
                return Err(ApiError::VersionConflict {
                    stream: target_stream,
                    expected: expected.to_string(),
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
        let batches = batches(events, versions, ctx, occurred_at)?;
        match crate::personal::append(&state.log, batches).await {
            Ok(outcome) => {
                // A deactivated manager's tokens end now (in other processes, once
                // their cached lookup expires).
                for manager in deactivated {
                    state.tokens.forget_manager(manager);
                }
                let version = outcome.version_of(&target_stream).unwrap_or(target_version);
                return Ok(CommandResponse {
                    id: target.1,
                    stream: target_stream,
                    version,
                    position: outcome.last_position(),
                });
            }
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

/// The shape of every command that hands an existing entity to a manager: load the
/// entity and the manager, decide `command(entity id, manager)`, append.
pub async fn assign<S>(
    state: &AppState,
    ctx: &CommandContext,
    target: (EntityKind, Uuid),
    manager_id: Uuid,
    occurred_at: Option<DateTime<Utc>>,
    command: fn(Uuid, Ref<ManagerState>) -> S::Command,
) -> Result<CommandResponse, ApiError>
where
    S: Aggregate + Send + Sync + 'static,
{
    let (kind, id) = target;
    execute(state, ctx, target, occurred_at, |mut loader| async move {
        let entity: S = loader.load(kind, id).await?;
        let manager = Ref::new(
            manager_id,
            loader.load(EntityKind::Manager, manager_id).await?,
        );
        let events = entity.decide(command(id, manager))?;
        Ok(Decision::new(loader, events))
    })
    .await
}

/// The log's form of a domain event: its type, payload and schema version, with
/// `metadata`.
pub fn new_event(event: &DomainEvent, metadata: Metadata) -> NewEvent {
    NewEvent {
        schema_version: event.schema_version(),
        ..NewEvent::new(event.event_type(), event.to_data()).with_metadata(metadata)
    }
}

/// Groups events by stream, each stream expected at the version it was read at.
fn batches(
    events: Vec<DomainEvent>,
    versions: &BTreeMap<String, i64>,
    ctx: &CommandContext,
    occurred_at: DateTime<Utc>,
) -> Result<Vec<StreamAppend>, ApiError> {
    let metadata = Metadata {
        actor: Some(ctx.actor.name()),
        correlation_id: Some(ctx.correlation_id),
        causation_id: None,
        request_id: ctx.request_id.clone(),
        source: Source::Api,
    };
    let mut batches: Vec<StreamAppend> = Vec::new();
    for (n, event) in events.into_iter().enumerate() {
        let stream = event.stream();
        let mut new = new_event(&event, metadata.clone()).occurred_at(occurred_at);
        if let Some(seed) = ctx.seed {
            new.event_id = seed.id("event", n);
        }
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
    Ok(batches)
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match &err {
            DomainError::NotFound { entity, id } => ApiError::NotFound {
                what: format!("{entity} {id}"),
            },
            DomainError::AlreadyExists { .. } => ApiError::Reused {
                code: err.code(),
                detail: err.to_string(),
            },
            _ => ApiError::Rule {
                code: err.code(),
                detail: err.to_string(),
            },
        }
    }
}

/// 201 Created with the command's response.
pub fn created(response: CommandResponse) -> (StatusCode, Json<CommandResponse>) {
    (StatusCode::CREATED, Json(response))
}
