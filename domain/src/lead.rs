//! The lead aggregate (`lead-<uuid>`): an incoming request, captured, assigned to a
//! manager, then converted (see [`crate::conversion`]) or rejected, at most once.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::aggregate::{absent, own, target, Aggregate, HasId, Ref};
use crate::client::ClientState;
use crate::conversion::{convert, ConvertLead};
use crate::events::{LeadAssigned, LeadCaptured, LeadErased, LeadRejected, LeadSlaBreached};
use crate::manager::ManagerState;
use crate::personal::ERASED;
use crate::rule::spec::{period, MAX_PERIOD_MINUTES};
use crate::rules::{active_manager, at_most, non_empty, short, MAX_NAME_CHARS};
use crate::{codes, DomainError, DomainEvent};

/// Where a lead is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    /// Captured, nobody responsible yet.
    New,
    /// A manager is responsible.
    Assigned,
    /// Became a deal; final.
    Converted,
    /// Turned down; final.
    Rejected,
}

/// A captured lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lead {
    /// Id.
    pub id: Uuid,
    /// Where it came from.
    pub source: String,
    /// The channel.
    pub channel: Option<String>,
    /// The person's name.
    pub name: String,
    /// Phone.
    pub phone: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// The existing client it came from, if known at capture.
    pub client_id: Option<Uuid>,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// The responsible manager, once assigned.
    pub manager_id: Option<Uuid>,
    /// Its status.
    pub status: LeadStatus,
    /// The client and deal it was converted into (`{client_id, deal_id}` as JSON).
    #[serde(serialize_with = "converted_json")]
    pub converted: Option<(Uuid, Uuid)>,
    /// Why it was rejected.
    pub reject_reason: Option<String>,
    /// True once its personal data was erased (`LeadErased`).
    pub erased: bool,
}

/// Serializes a conversion as `{client_id, deal_id}` rather than a bare pair.
fn converted_json<S: Serializer>(
    converted: &Option<(Uuid, Uuid)>,
    out: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Converted {
        client_id: Uuid,
        deal_id: Uuid,
    }
    converted
        .map(|(client_id, deal_id)| Converted { client_id, deal_id })
        .serialize(out)
}

impl Lead {
    /// True until it is converted or rejected.
    pub fn is_open(&self) -> bool {
        matches!(self.status, LeadStatus::New | LeadStatus::Assigned)
    }

    /// Refuses a converted or rejected lead.
    pub fn require_open(&self) -> Result<(), DomainError> {
        if self.is_open() {
            Ok(())
        } else {
            Err(DomainError::rule(
                codes::LEAD_CLOSED,
                format!("lead {} is already {:?}", self.id, self.status).to_lowercase(),
            ))
        }
    }
}

impl HasId for Lead {
    fn id(&self) -> Uuid {
        self.id
    }
}

/// A lead's state; the default is "not captured".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LeadState {
    /// Events folded from the stream.
    pub version: i64,
    /// The lead, once captured.
    pub lead: Option<Lead>,
}

/// `POST /leads`.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureLead {
    /// The new lead's id.
    pub lead_id: Uuid,
    /// Where it came from, not blank.
    pub source: String,
    /// The channel.
    pub channel: Option<String>,
    /// The person's name, not blank.
    pub name: String,
    /// Phone.
    pub phone: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// The existing client it is from: must exist.
    pub client: Option<Ref<ClientState>>,
    /// A manager to assign at once (adds a `LeadAssigned`): must exist and be active.
    pub manager: Option<Ref<ManagerState>>,
    /// When it arrived (the command's `occurred_at`).
    pub received_at: DateTime<Utc>,
}

/// What can be asked of a lead.
#[derive(Debug, Clone, PartialEq)]
pub enum LeadCommand {
    /// `POST /leads`: `LeadCaptured`, plus `LeadAssigned` when a manager is given.
    Capture(CaptureLead),
    /// `POST /leads/{id}/assign`: refused for a closed lead, and with
    /// `same_manager` for the current one.
    Assign {
        /// The lead.
        lead_id: Uuid,
        /// The manager: must exist and be active.
        manager: Ref<ManagerState>,
    },
    /// `POST /leads/{id}/convert`: see [`crate::conversion`].
    Convert(ConvertLead),
    /// `POST /leads/{id}/reject`.
    Reject {
        /// The lead.
        lead_id: Uuid,
        /// Why, not blank.
        reason: String,
    },
    /// A `lead_sla` rule's deadline passed unanswered (see
    /// [`crate::automation::sla`], which decides whether): `LeadSlaBreached` with the
    /// lead's manager, whatever its status now (it may have been answered since).
    BreachSla {
        /// The lead.
        lead_id: Uuid,
        /// The rule's `sla_minutes`, 1 or more.
        minutes: i64,
    },
    /// `POST /leads/{id}/erase` (also when its client is erased): `LeadErased`, in
    /// any status; nothing for a lead erased already.
    Erase {
        /// The lead.
        lead_id: Uuid,
        /// Why.
        reason: Option<String>,
    },
}

/// Applies one event to a lead's state.
pub fn evolve(mut state: LeadState, event: &DomainEvent) -> LeadState {
    if apply(&mut state, event) {
        state.version += 1;
    }
    state
}

fn apply(state: &mut LeadState, event: &DomainEvent) -> bool {
    match event {
        DomainEvent::LeadCaptured(e) if state.lead.is_none() => {
            state.lead = Some(Lead {
                id: e.lead_id,
                source: e.source.clone(),
                channel: e.channel.clone(),
                name: e.name.clone(),
                phone: e.phone.clone(),
                email: e.email.clone(),
                client_id: e.client_id,
                received_at: e.received_at,
                manager_id: None,
                status: LeadStatus::New,
                converted: None,
                reject_reason: None,
                erased: false,
            });
        }
        DomainEvent::LeadAssigned(e) => match own(&mut state.lead, e.lead_id) {
            Some(lead) => {
                lead.manager_id = Some(e.manager_id);
                lead.status = LeadStatus::Assigned;
            }
            None => return false,
        },
        DomainEvent::LeadConverted(e) => match own(&mut state.lead, e.lead_id) {
            Some(lead) => {
                lead.status = LeadStatus::Converted;
                lead.converted = Some((e.client_id, e.deal_id));
            }
            None => return false,
        },
        DomainEvent::LeadRejected(e) => match own(&mut state.lead, e.lead_id) {
            Some(lead) => {
                lead.status = LeadStatus::Rejected;
                lead.reject_reason = Some(e.reason.clone());
            }
            None => return false,
        },
        DomainEvent::LeadSlaBreached(e) => {
            if own(&mut state.lead, e.lead_id).is_none() {
                return false;
            }
        }
        DomainEvent::LeadErased(e) => match own(&mut state.lead, e.lead_id) {
            Some(lead) => {
                lead.erased = true;
                lead.name = ERASED.to_owned();
                lead.phone = lead.phone.as_ref().map(|_| ERASED.to_owned());
                lead.email = lead.email.as_ref().map(|_| ERASED.to_owned());
            }
            None => return false,
        },
        _ => return false,
    }
    true
}

/// Folds a lead's stream.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a DomainEvent>) -> LeadState {
    LeadState::fold(events)
}

/// Decides a lead command.
pub fn decide(state: &LeadState, command: LeadCommand) -> Result<Vec<DomainEvent>, DomainError> {
    match command {
        LeadCommand::Capture(c) => {
            absent(state)?;
            non_empty(&c.name, codes::EMPTY_NAME, "lead name")?;
            non_empty(&c.source, codes::EMPTY_SOURCE, "lead source")?;
            at_most(&c.name, MAX_NAME_CHARS, "lead name")?;
            at_most(&c.source, MAX_NAME_CHARS, "lead source")?;
            short(c.channel.as_deref(), "channel")?;
            short(c.phone.as_deref(), "phone")?;
            short(c.email.as_deref(), "email")?;
            let client_id = match &c.client {
                Some(client) => Some(client.get()?.id),
                None => None,
            };
            let manager_id = match &c.manager {
                Some(manager) => Some(active_manager(manager)?.id),
                None => None,
            };
            let mut events = vec![DomainEvent::LeadCaptured(LeadCaptured {
                lead_id: c.lead_id,
                source: c.source,
                channel: c.channel,
                name: c.name,
                phone: c.phone,
                email: c.email,
                client_id,
                received_at: c.received_at,
            })];
            if let Some(manager_id) = manager_id {
                events.push(DomainEvent::LeadAssigned(LeadAssigned {
                    lead_id: c.lead_id,
                    manager_id,
                }));
            }
            Ok(events)
        }
        LeadCommand::Assign { lead_id, manager } => {
            let lead = target(state, lead_id)?;
            lead.require_open()?;
            let manager = active_manager(&manager)?;
            if lead.manager_id == Some(manager.id) {
                return Err(DomainError::rule(
                    codes::SAME_MANAGER,
                    format!("manager {} is already responsible for the lead", manager.id),
                ));
            }
            Ok(vec![DomainEvent::LeadAssigned(LeadAssigned {
                lead_id,
                manager_id: manager.id,
            })])
        }
        LeadCommand::Convert(c) => convert(state, c),
        LeadCommand::Reject { lead_id, reason } => {
            let lead = target(state, lead_id)?;
            lead.require_open()?;
            non_empty(&reason, codes::EMPTY_REASON, "reason")?;
            at_most(&reason, MAX_NAME_CHARS, "reason")?;
            Ok(vec![DomainEvent::LeadRejected(LeadRejected {
                lead_id,
                reason,
            })])
        }
        LeadCommand::BreachSla { lead_id, minutes } => {
            let lead = target(state, lead_id)?;
            period(minutes, 1, MAX_PERIOD_MINUTES, "minutes")?;
            Ok(vec![DomainEvent::LeadSlaBreached(LeadSlaBreached {
                lead_id,
                manager_id: lead.manager_id,
                minutes,
            })])
        }
        LeadCommand::Erase { lead_id, reason } => {
            let lead = target(state, lead_id)?;
            if lead.erased {
                return Ok(vec![]);
            }
            Ok(vec![DomainEvent::LeadErased(LeadErased {
                lead_id,
                reason,
            })])
        }
    }
}

impl Aggregate for LeadState {
    const ENTITY: &'static str = "lead";
    type Entity = Lead;
    type Command = LeadCommand;

    fn entity(&self) -> Option<&Lead> {
        self.lead.as_ref()
    }
    fn id(&self) -> Option<Uuid> {
        self.lead.as_ref().map(|l| l.id)
    }
    fn responsible(&self) -> Vec<Uuid> {
        self.lead.iter().filter_map(|l| l.manager_id).collect()
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn evolve(self, event: &DomainEvent) -> Self {
        evolve(self, event)
    }
    fn decide(&self, command: LeadCommand) -> Result<Vec<DomainEvent>, DomainError> {
        decide(self, command)
    }
}

#[cfg(test)]
mod tests;
