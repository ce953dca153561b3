//! What each event counts as and for whom: a batch folded in memory, with the
//! current manager of each lead, deal and task (and a task's due time) as the events
//! leave them.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use crm_domain::values::{Direction, InteractionKind, Role};
use crm_domain::DomainEvent;
use crm_eventlog::RecordedEvent;
use uuid::Uuid;

use crate::error::ProjectionError;

/// What a fact counts as (`kpi_facts.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    CallOutbound,
    CallInbound,
    Meeting,
    Email,
    Message,
    LeadAssigned,
    LeadConverted,
    LeadRejected,
    DealOpened,
    DealWon,
    DealLost,
    TaskCompleted,
}

impl Kind {
    /// As stored in `kpi_facts.kind`.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Kind::CallOutbound => "call_outbound",
            Kind::CallInbound => "call_inbound",
            Kind::Meeting => "meeting",
            Kind::Email => "email",
            Kind::Message => "message",
            Kind::LeadAssigned => "lead_assigned",
            Kind::LeadConverted => "lead_converted",
            Kind::LeadRejected => "lead_rejected",
            Kind::DealOpened => "deal_opened",
            Kind::DealWon => "deal_won",
            Kind::DealLost => "deal_lost",
            Kind::TaskCompleted => "task_completed",
        }
    }

    /// A call, inbound or outbound.
    pub(super) fn is_call(self) -> bool {
        matches!(self, Kind::CallOutbound | Kind::CallInbound)
    }
}

/// One counted event, for the manager it counts for.
#[derive(Debug, Clone)]
pub(super) struct Fact {
    pub(super) position: i64,
    pub(super) manager_id: Uuid,
    pub(super) occurred_at: DateTime<Utc>,
    pub(super) kind: Kind,
    pub(super) client_id: Option<Uuid>,
    pub(super) seconds: i64,
    pub(super) amount: i64,
    pub(super) late: bool,
    /// Interactions with a client: the previous one of the pair (None: the first).
    pub(super) prev_contact_at: Option<DateTime<Utc>>,
    /// Calls with a client: the previous call of the pair (None: the first).
    pub(super) prev_call_at: Option<DateTime<Utc>>,
    /// Calls: a goal was said (`goal` or `goal_reached` given).
    pub(super) goal: bool,
    /// Calls: `goal_reached` true.
    pub(super) goal_reached: bool,
}

impl Fact {
    fn new(stored: &RecordedEvent, manager_id: Uuid, kind: Kind) -> Fact {
        Fact {
            position: stored.position,
            manager_id,
            occurred_at: stored.occurred_at,
            kind,
            client_id: None,
            seconds: 0,
            amount: 0,
            late: false,
            prev_contact_at: None,
            prev_call_at: None,
            goal: false,
            goal_reached: false,
        }
    }
}

/// Who is responsible for a lead, deal or task now, and a task's due time now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Owner {
    pub(super) manager_id: Option<Uuid>,
    pub(super) due_at: Option<DateTime<Utc>>,
}

/// A registered manager.
pub(super) struct Manager {
    pub(super) name: String,
    pub(super) department: String,
    pub(super) role: String,
    pub(super) email: Option<String>,
    pub(super) registered_at: DateTime<Utc>,
}

/// A batch folded in memory: what to write.
#[derive(Default)]
pub(super) struct Fold {
    pub(super) managers: BTreeMap<Uuid, Manager>,
    /// The managers the batch deactivated.
    pub(super) deactivated: Vec<Uuid>,
    /// Owners as loaded, then as the batch leaves them.
    pub(super) owners: HashMap<Uuid, Owner>,
    /// The owners the batch changed.
    pub(super) changed: BTreeMap<Uuid, Owner>,
    pub(super) facts: Vec<Fact>,
}

impl Fold {
    fn owner(&self, id: Uuid, position: i64) -> Result<Owner, ProjectionError> {
        self.owners.get(&id).copied().ok_or_else(|| {
            ProjectionError::failed(format!(
                "event at position {position}: entity {id} was never opened"
            ))
        })
    }

    fn set_owner(&mut self, id: Uuid, owner: Owner) {
        self.owners.insert(id, owner);
        self.changed.insert(id, owner);
    }

    /// A fact for the current manager of a lead, deal or task (none: counts for nobody).
    fn for_owner(
        &mut self,
        stored: &RecordedEvent,
        id: Uuid,
        kind: Kind,
    ) -> Result<Option<&mut Fact>, ProjectionError> {
        let owner = match kind {
            // A lead nobody was ever assigned has no row.
            Kind::LeadConverted | Kind::LeadRejected => self.owners.get(&id).copied(),
            _ => Some(self.owner(id, stored.position)?),
        };
        let Some(manager_id) = owner.and_then(|o| o.manager_id) else {
            return Ok(None);
        };
        self.facts.push(Fact::new(stored, manager_id, kind));
        Ok(self.facts.last_mut())
    }

    /// Folds one event in.
    pub(super) fn apply(
        &mut self,
        stored: &RecordedEvent,
        event: &DomainEvent,
    ) -> Result<(), ProjectionError> {
        use DomainEvent as E;
        match event {
            E::ManagerRegistered(e) => {
                let role = role_name(&e.role);
                self.managers.insert(
                    e.manager_id,
                    Manager {
                        name: e.name.clone(),
                        department: e.department.clone(),
                        role,
                        email: e.email.clone(),
                        registered_at: stored.occurred_at,
                    },
                );
            }
            E::ManagerDeactivated(e) => self.deactivated.push(e.manager_id),
            E::LeadAssigned(e) => {
                self.set_owner(
                    e.lead_id,
                    Owner {
                        manager_id: Some(e.manager_id),
                        due_at: None,
                    },
                );
                self.facts
                    .push(Fact::new(stored, e.manager_id, Kind::LeadAssigned));
            }
            E::LeadConverted(e) => {
                self.for_owner(stored, e.lead_id, Kind::LeadConverted)?;
            }
            E::LeadRejected(e) => {
                self.for_owner(stored, e.lead_id, Kind::LeadRejected)?;
            }
            E::DealOpened(e) => {
                self.set_owner(
                    e.deal_id,
                    Owner {
                        manager_id: Some(e.manager_id),
                        due_at: None,
                    },
                );
                self.facts
                    .push(Fact::new(stored, e.manager_id, Kind::DealOpened));
            }
            E::DealReassigned(e) => {
                let owner = self.owner(e.deal_id, stored.position)?;
                self.set_owner(
                    e.deal_id,
                    Owner {
                        manager_id: Some(e.to_manager_id),
                        ..owner
                    },
                );
            }
            E::DealWon(e) => {
                if let Some(fact) = self.for_owner(stored, e.deal_id, Kind::DealWon)? {
                    fact.amount = e.amount;
                }
            }
            E::DealLost(e) => {
                self.for_owner(stored, e.deal_id, Kind::DealLost)?;
            }
            E::TaskScheduled(e) => self.set_owner(
                e.task_id,
                Owner {
                    manager_id: Some(e.assignee_id),
                    due_at: Some(e.due_at),
                },
            ),
            E::TaskRescheduled(e) => {
                let owner = self.owner(e.task_id, stored.position)?;
                self.set_owner(
                    e.task_id,
                    Owner {
                        due_at: Some(e.to_due_at),
                        ..owner
                    },
                );
            }
            E::TaskReassigned(e) => {
                let owner = self.owner(e.task_id, stored.position)?;
                self.set_owner(
                    e.task_id,
                    Owner {
                        manager_id: Some(e.to_assignee_id),
                        ..owner
                    },
                );
            }
            E::TaskCompleted(e) => {
                let due_at = self.owner(e.task_id, stored.position)?.due_at;
                if let Some(fact) = self.for_owner(stored, e.task_id, Kind::TaskCompleted)? {
                    fact.late = due_at.is_some_and(|due| fact.occurred_at > due);
                }
            }
            E::InteractionLogged(e) => {
                let kind = match (e.kind, e.direction) {
                    (InteractionKind::Call, Direction::Outbound) => Kind::CallOutbound,
                    (InteractionKind::Call, Direction::Inbound) => Kind::CallInbound,
                    (InteractionKind::Meeting, _) => Kind::Meeting,
                    (InteractionKind::Email, _) => Kind::Email,
                    (InteractionKind::Message, _) => Kind::Message,
                };
                let mut fact = Fact::new(stored, e.manager_id, kind);
                fact.client_id = e.client_id;
                if kind.is_call() {
                    fact.seconds = e.duration.map_or(0, |d| d.seconds);
                    fact.goal = e.goal.is_some() || e.goal_reached.is_some();
                    fact.goal_reached = e.goal_reached == Some(true);
                }
                self.facts.push(fact);
            }
            _ => {}
        }
        Ok(())
    }
}

/// The role as the API spells it (`manager`, `head`, …).
fn role_name(role: &Role) -> String {
    role.name().to_owned()
}

/// The lead, deal or task an event is about, if it is one of those.
pub(super) fn subject(event: &DomainEvent) -> Option<Uuid> {
    use DomainEvent as E;
    match event {
        E::LeadAssigned(e) => Some(e.lead_id),
        E::LeadConverted(e) => Some(e.lead_id),
        E::LeadRejected(e) => Some(e.lead_id),
        E::DealOpened(e) => Some(e.deal_id),
        E::DealReassigned(e) => Some(e.deal_id),
        E::DealWon(e) => Some(e.deal_id),
        E::DealLost(e) => Some(e.deal_id),
        E::TaskScheduled(e) => Some(e.task_id),
        E::TaskRescheduled(e) => Some(e.task_id),
        E::TaskReassigned(e) => Some(e.task_id),
        E::TaskCompleted(e) => Some(e.task_id),
        _ => None,
    }
}
