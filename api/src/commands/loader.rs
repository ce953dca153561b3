//! [`Loader`]: the states a command is decided on, read from the log (only what
//! was appended since the remembered state), each entity checked against the
//! actor's reach before the domain sees it.
//!
//! A command's first attempt trusts the remembered states (kept up to date with
//! this process's own appends): it reads only what it has never seen, and the append
//! checks that every state it decided on is still current (the streams it writes by
//! their expected versions, the others by [`crm_eventlog::Unmoved`]). If one moved,
//! or the decision on remembered states failed, the command is decided again on
//! states read from the log.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crm_domain::manager::ManagerState;
use crm_domain::pipeline::PipelineState;
use crm_domain::{Aggregate, DomainEvent, EntityKind, Ref};
use crm_eventlog::{AppendOutcome, EventLog};
use uuid::Uuid;

use super::authorize::{may_name, Touched};
use super::{CommandError, Commands};
use crate::access::{Actor, Reach};

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
    /// Are remembered states taken as they are, without reading the log?
    trust_remembered: bool,
    /// The streams whose states were taken from memory unread, at their versions.
    unread: BTreeMap<String, i64>,
    /// How to remember each loaded state once the command's events are appended.
    folds: HashMap<String, Fold>,
}

/// Remembers a loaded state with the events the command appended to its stream,
/// when they bring it to the given version.
type Fold = Box<dyn FnOnce(&[DomainEvent], i64, &StateCache) + Send + Sync>;

impl Loader {
    /// A loader for one attempt at a command by an actor who reaches `reach`; with
    /// `trust_remembered`, states remembered between commands are taken unread.
    pub(super) fn new(commands: &Commands, reach: Reach, trust_remembered: bool) -> Self {
        Loader {
            log: commands.log.clone(),
            versions: BTreeMap::new(),
            pipelines: Arc::clone(&commands.pipelines),
            states: Arc::clone(&commands.states),
            prefetched: HashMap::new(),
            touched: HashMap::new(),
            reach,
            trust_remembered,
            unread: BTreeMap::new(),
            folds: HashMap::new(),
        }
    }

    /// A pipeline: from memory once it is defined, since nothing changes a pipeline.
    pub async fn load_pipeline(&mut self, id: Uuid) -> Result<PipelineState, CommandError> {
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
    pub async fn prefetch(&mut self, entities: &[(EntityKind, Uuid)]) -> Result<(), CommandError> {
        let mut after = Vec::with_capacity(entities.len());
        for (kind, id) in entities {
            let stream = kind.stream(*id);
            let known = self.states.version(&stream);
            if known.is_some() && self.trust_remembered {
                // Taken from memory by `load`, unread.
                continue;
            }
            after.push((stream, known.unwrap_or(0)));
        }
        if after.is_empty() {
            return Ok(());
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
        self.remember(kind.stream(id), &S::default());
        S::default()
    }

    /// The state of entity `id` of `kind` (the default state when it has no events),
    /// or a 403 when it exists outside the actor's reach. States are remembered
    /// between commands: only the events appended since are read.
    pub async fn load<S>(&mut self, kind: EntityKind, id: Uuid) -> Result<S, CommandError>
    where
        S: Aggregate + Send + Sync + 'static,
    {
        let stream = kind.stream(id);
        let state: S = self.read(&stream, self.trust_remembered).await?;
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

    /// The entity a command names by `id`, loaded as [`Loader::load`] does, as the
    /// domain's [`Ref`] (the id beside its state).
    pub async fn reference<S>(&mut self, kind: EntityKind, id: Uuid) -> Result<Ref<S>, CommandError>
    where
        S: Aggregate + Send + Sync + 'static,
    {
        Ok(Ref::new(id, self.load(kind, id).await?))
    }

    /// [`Loader::reference`] of an id a command may leave out (None when it does).
    pub async fn optional_reference<S>(
        &mut self,
        kind: EntityKind,
        id: Option<Uuid>,
    ) -> Result<Option<Ref<S>>, CommandError>
    where
        S: Aggregate + Send + Sync + 'static,
    {
        match id {
            Some(id) => Ok(Some(self.reference(kind, id).await?)),
            None => Ok(None),
        }
    }

    /// Like [`Loader::load`], but an entity outside the actor's reach is left out
    /// (None) instead of refusing the command: for lists of candidates the domain
    /// picks from (a manager's book, of which only what is his now is handed over).
    pub async fn load_reachable<S>(
        &mut self,
        kind: EntityKind,
        id: Uuid,
    ) -> Result<Option<S>, CommandError>
    where
        S: Aggregate + Send + Sync + 'static,
    {
        let stream = kind.stream(id);
        // Always read: an entity left out on a stale state would be checked by nothing.
        let state: S = self.read(&stream, false).await?;
        let exists = state.id().is_some();
        if may_name(&self.reach, kind, &stream, exists, &state.responsible()).is_err() {
            return Ok(None);
        }
        self.remember(stream, &state);
        Ok(Some(state))
    }

    /// The version each loaded stream was read at.
    pub(super) fn versions(&self) -> &BTreeMap<String, i64> {
        &self.versions
    }

    /// Every loaded entity, by stream.
    pub(super) fn touched(&self) -> &HashMap<String, Touched> {
        &self.touched
    }

    /// The streams whose states were taken from memory unread, at their versions.
    pub(super) fn unread(&self) -> &BTreeMap<String, i64> {
        &self.unread
    }

    /// Remembers each loaded state with the events `outcome` appended to its stream
    /// (`events`, in the order appended), so that the next command on it need not
    /// read them back.
    pub(super) fn remember_appended(self, events: &[DomainEvent], outcome: &AppendOutcome) {
        if outcome.replayed {
            return;
        }
        let mut folds = self.folds;
        let mut by_stream: BTreeMap<String, Vec<DomainEvent>> = BTreeMap::new();
        for event in events {
            // As a read of the log would give it back: its stored form decoded.
            let Ok(stored) = DomainEvent::from_stored(
                event.event_type(),
                event.schema_version(),
                event.to_data(),
            ) else {
                return;
            };
            by_stream.entry(event.stream()).or_default().push(stored);
        }
        for (stream, events) in by_stream {
            let (Some(fold), Some(version)) = (folds.remove(&stream), outcome.version_of(&stream))
            else {
                continue;
            };
            fold(&events, version, &self.states);
        }
    }

    /// Remembers the version `state` was read at, and the entity, for the append.
    fn remember<S>(&mut self, stream: String, state: &S)
    where
        S: Aggregate + Send + Sync + 'static,
    {
        self.versions.insert(stream.clone(), state.version());
        self.touched
            .insert(stream.clone(), Touched::of(state.clone()));
        let (start, key) = (state.clone(), stream.clone());
        self.folds.insert(
            stream,
            Box::new(move |events, version, states| {
                let state = events.iter().fold(start, |s, e| s.evolve(e));
                if state.version() == version {
                    states.put(&key, &state);
                }
            }),
        );
    }

    /// Loads (and so checks) every entity `events` name that the command did not load.
    pub(super) async fn load_references(
        &mut self,
        events: &[DomainEvent],
    ) -> Result<(), CommandError> {
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
    async fn load_any(&mut self, kind: EntityKind, id: Uuid) -> Result<(), CommandError> {
        use crm_domain::{
            client, custom_projection, deal, export, interaction, invoice, lead, plan, product,
            rule, shipment, task,
        };
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
            EntityKind::Rule => self.load::<rule::RuleState>(kind, id).await.map(drop),
            EntityKind::Product => self.load::<product::ProductState>(kind, id).await.map(drop),
            EntityKind::Invoice => self.load::<invoice::InvoiceState>(kind, id).await.map(drop),
            EntityKind::Shipment => self
                .load::<shipment::ShipmentState>(kind, id)
                .await
                .map(drop),
            EntityKind::Plan => self.load::<plan::PlanState>(kind, id).await.map(drop),
        }
    }

    /// The state of `stream` as it stands: the remembered one brought up to date;
    /// with `trust`, the remembered one as it is (noted as unread).
    async fn read<S>(&mut self, stream: &str, trust: bool) -> Result<S, CommandError>
    where
        S: Aggregate + Send + Sync + 'static,
    {
        if trust {
            if let Some(state) = self.states.get::<S>(stream) {
                self.unread
                    .entry(stream.to_owned())
                    .or_insert(state.version());
                return Ok(state);
            }
        }
        let prefetched = self.prefetched.remove(stream);
        latest(&self.log, &self.states, stream, prefetched).await
    }
}

/// The state of `stream` as it stands: the one remembered in `states` (if any) with
/// the events appended since (`prefetched`, when they were read ahead) folded in.
pub(super) async fn latest<S>(
    log: &EventLog,
    states: &StateCache,
    stream: &str,
    prefetched: Option<(i64, Vec<crm_eventlog::RecordedEvent>)>,
) -> Result<S, CommandError>
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
                    CommandError::internal(format!(
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

/// The department of an actor whose reach is limited (a head), as the log says, when
/// `events` change a member of the team: the part of the team he may shape
/// (`access::may_shape_team`). None otherwise, or when he has none.
pub(super) async fn shaping_department(
    commands: &Commands,
    actor: &Actor,
    reach: &Reach,
    events: &[DomainEvent],
) -> Result<Option<String>, CommandError> {
    let shapes_team = events.iter().any(|e| e.entity().0 == EntityKind::Manager);
    match (reach, actor.manager_id) {
        (Reach::Managers(_), Some(me)) if shapes_team => {
            let stream = EntityKind::Manager.stream(me);
            let actor: ManagerState =
                latest(&commands.log, &commands.states, &stream, None).await?;
            Ok(actor.manager.map(|m| m.department))
        }
        _ => Ok(None),
    }
}

/// A folded state, type-erased, with its version.
type Remembered = (Arc<dyn Any + Send + Sync>, i64);

/// Entities' folded states by stream, each at the version it was folded to. A
/// command reads only the events appended since, so a state is never stale; an
/// append still expects the version it was decided on.
#[derive(Default)]
pub struct StateCache {
    states: Mutex<HashMap<String, Remembered>>,
}

impl StateCache {
    /// The state remembered for `stream`, if it is of type `S`.
    pub fn get<S: Clone + Send + Sync + 'static>(&self, stream: &str) -> Option<S> {
        let states = self.states.lock().ok()?;
        states.get(stream)?.0.downcast_ref::<S>().cloned()
    }

    /// The version of the state remembered for `stream`.
    pub fn version(&self, stream: &str) -> Option<i64> {
        let states = self.states.lock().ok()?;
        states.get(stream).map(|s| s.1)
    }

    /// Remembers `state` for `stream`, unless a later version is remembered already.
    pub fn put<S: crm_domain::Aggregate + Send + Sync + 'static>(&self, stream: &str, state: &S) {
        if let Ok(mut states) = self.states.lock() {
            if states
                .get(stream)
                .is_some_and(|known| known.1 > state.version())
            {
                return;
            }
            // Bounded: forget everything rather than grow without end.
            if states.len() >= 100_000 {
                states.clear();
            }
            states.insert(
                stream.to_owned(),
                (Arc::new(state.clone()), state.version()),
            );
        }
    }
}
