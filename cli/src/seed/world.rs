//! [`World`]: every entity's folded state, and the one way events are made:
//! a command decided by the domain's aggregate on the current state, its events
//! folded back into the states and staged for the log with their metadata, made
//! by the command path (`crm_api::commands::new_events`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use crm_api::access::Role;
use crm_api::commands::{self, CommandContext};
use crm_domain::client::ClientState;
use crm_domain::deal::DealState;
use crm_domain::invoice::InvoiceState;
use crm_domain::lead::LeadState;
use crm_domain::manager::ManagerState;
use crm_domain::pipeline::PipelineState;
use crm_domain::plan::PlanState;
use crm_domain::product::ProductState;
use crm_domain::task::TaskState;
use crm_domain::{Aggregate, DomainError, DomainEvent, EntityKind, Ref};
use crm_eventlog::Source;
use serde_json::Value;
use uuid::Uuid;

use super::batch::{Batch, Batcher, Staged};
use super::random::Dice;
use super::SeedError;

/// Every entity's state, and the log's batches being made.
pub struct World {
    /// Managers by id.
    pub managers: HashMap<Uuid, ManagerState>,
    /// Pipelines by id.
    pub pipelines: HashMap<Uuid, PipelineState>,
    /// Clients by id.
    pub clients: HashMap<Uuid, ClientState>,
    /// Leads by id.
    pub leads: HashMap<Uuid, LeadState>,
    /// Deals by id.
    pub deals: HashMap<Uuid, DealState>,
    /// Tasks by id.
    pub tasks: HashMap<Uuid, TaskState>,
    /// Products of the catalogue by id.
    pub products: HashMap<Uuid, ProductState>,
    /// Invoices by id.
    pub invoices: HashMap<Uuid, InvoiceState>,
    /// Plans by id (one per manager and month).
    pub plans: HashMap<Uuid, PlanState>,
    batcher: Batcher,
    emitted: u64,
    limit: u64,
}

/// Who does something: a manager, or the administrator who set the system up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The setup's administrator (`role:admin`, as a token without a manager).
    Admin,
    /// A manager (his id, as the API records a manager's token).
    Manager(Uuid),
}

impl From<Actor> for crm_api::access::Actor {
    fn from(actor: Actor) -> Self {
        match actor {
            Actor::Admin => crm_api::access::Actor {
                manager_id: None,
                role: Role::Admin,
            },
            Actor::Manager(id) => crm_api::access::Actor {
                manager_id: Some(id),
                role: Role::Manager,
            },
        }
    }
}

impl World {
    /// An empty world that will stage at most `limit` events, in appends of about
    /// `batch_size` events.
    pub fn new(limit: u64, batch_size: usize) -> Self {
        World {
            managers: HashMap::new(),
            pipelines: HashMap::new(),
            clients: HashMap::new(),
            leads: HashMap::new(),
            deals: HashMap::new(),
            tasks: HashMap::new(),
            products: HashMap::new(),
            invoices: HashMap::new(),
            plans: HashMap::new(),
            batcher: Batcher::new(batch_size),
            emitted: 0,
            limit,
        }
    }

    /// Events staged so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Events that may still be staged.
    pub fn room(&self) -> u64 {
        self.limit.saturating_sub(self.emitted)
    }

    /// A manager named by a command, with his state.
    pub fn manager(&self, id: Uuid) -> Ref<ManagerState> {
        Ref::new(id, self.managers.get(&id).cloned().unwrap_or_default())
    }

    /// A client named by a command, with its state.
    pub fn client(&self, id: Uuid) -> Ref<ClientState> {
        Ref::new(id, self.clients.get(&id).cloned().unwrap_or_default())
    }

    /// A deal named by a command, with its state.
    pub fn deal(&self, id: Uuid) -> Ref<DealState> {
        Ref::new(id, self.deals.get(&id).cloned().unwrap_or_default())
    }

    /// A product named by a command, with its state.
    pub fn product(&self, id: Uuid) -> Ref<ProductState> {
        Ref::new(id, self.products.get(&id).cloned().unwrap_or_default())
    }

    /// A lead named by a command, with its state.
    pub fn lead(&self, id: Uuid) -> Ref<LeadState> {
        Ref::new(id, self.leads.get(&id).cloned().unwrap_or_default())
    }

    /// True when the manager exists and is active.
    pub fn active(&self, id: Uuid) -> bool {
        self.managers
            .get(&id)
            .and_then(|m| m.manager.as_ref())
            .is_some_and(|m| m.active)
    }

    /// Stages the events of a command decided at `at` by `actor`, folding them into
    /// the states. False (and nothing staged) when they do not fit in what is left.
    pub fn commit(
        &mut self,
        dice: &mut Dice,
        at: DateTime<Utc>,
        actor: Actor,
        events: Vec<DomainEvent>,
    ) -> bool {
        if events.is_empty() {
            return true;
        }
        if events.len() as u64 > self.room() {
            return false;
        }
        // Metadata and the log's form come from the command path, as the API's do;
        // the ids from the dice (the correlation first, then each event's).
        let mut ctx = CommandContext::new(actor.into(), Source::Import);
        ctx.correlation_id = dice.id();
        let news = commands::new_events(&events, &ctx, at, |_| dice.id());
        let mut staged = Vec::with_capacity(events.len());
        for (event, new) in events.iter().zip(news) {
            let version_before = self.fold(event);
            let (_, entity) = event.entity();
            staged.push(Staged {
                stream: event.stream(),
                entity,
                version_before,
                names: named(&new.data, entity),
                event: new,
            });
        }
        self.emitted += staged.len() as u64;
        self.batcher.push(staged);
        true
    }

    /// Applies `event` to its entity's state; the stream's version before it.
    fn fold(&mut self, event: &DomainEvent) -> i64 {
        let (kind, id) = event.entity();
        match kind {
            EntityKind::Manager => evolve(self.managers.entry(id).or_default(), event),
            EntityKind::Pipeline => evolve(self.pipelines.entry(id).or_default(), event),
            EntityKind::Client => evolve(self.clients.entry(id).or_default(), event),
            EntityKind::Lead => evolve(self.leads.entry(id).or_default(), event),
            EntityKind::Deal => evolve(self.deals.entry(id).or_default(), event),
            EntityKind::Task => evolve(self.tasks.entry(id).or_default(), event),
            EntityKind::Product => evolve(self.products.entry(id).or_default(), event),
            EntityKind::Invoice => evolve(self.invoices.entry(id).or_default(), event),
            EntityKind::Plan => evolve(self.plans.entry(id).or_default(), event),
            // Interactions and shipments are recorded once and never looked at again
            // (their streams have one event each); the generator defines no custom
            // projections or rules and makes no exports.
            EntityKind::Interaction
            | EntityKind::Shipment
            | EntityKind::Projection
            | EntityKind::Export
            | EntityKind::Rule => 0,
        }
    }

    /// Closes the batch being gathered.
    pub fn cut(&mut self) {
        self.batcher.cut();
    }

    /// The oldest finished batch, if any.
    pub fn take(&mut self) -> Option<Batch> {
        self.batcher.take()
    }
}

/// The ids an event's payload names besides its own entity's (stage ids too,
/// which name no stream and so never matter).
fn named(data: &Value, own: Uuid) -> Vec<Uuid> {
    let mut ids = Vec::new();
    let mut take = |value: &Value| {
        if let Some(id) = value.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
            if id != own {
                ids.push(id);
            }
        }
    };
    if let Value::Object(fields) = data {
        for value in fields.values() {
            match value {
                Value::Array(items) => items.iter().for_each(&mut take),
                other => take(other),
            }
        }
    }
    ids
}

fn evolve<S: Aggregate>(state: &mut S, event: &DomainEvent) -> i64 {
    let before = state.version();
    *state = std::mem::take(state).evolve(event);
    before
}

/// Decides `command` on `state`; a refusal is a bug of the generator.
pub fn decide<S: Aggregate>(
    what: &'static str,
    state: Option<&S>,
    command: S::Command,
) -> Result<Vec<DomainEvent>, SeedError> {
    let empty = S::default();
    state
        .unwrap_or(&empty)
        .decide(command)
        .map_err(|source: DomainError| SeedError::Refused {
            command: what,
            source,
        })
}
