//! A manager's handover (`POST /managers/{id}/handover`): everything he is
//! responsible for passes to another manager, one event per entity.

use crate::client::ClientState;
use crate::deal::{DealState, DealStatus};
use crate::events::{ClientReassigned, DealReassigned, LeadAssigned, TaskReassigned};
use crate::lead::LeadState;
use crate::manager::{Manager, ManagerState};
use crate::rules::active_manager;
use crate::task::{TaskState, TaskStatus};
use crate::{codes, DomainError, DomainEvent, Ref};

/// The input of a handover: the receiving manager and the states of the entities
/// to look at, which the caller folds (typically from a read model's list of the
/// manager's clients, deals, tasks and leads). Entities that are not his, or are
/// closed, are skipped, so passing extra ones is harmless.
#[derive(Debug, Clone, PartialEq)]
pub struct Handover {
    /// The manager receiving the book: must exist, be active and not be the giver.
    pub to: Ref<ManagerState>,
    /// Clients: each one whose manager he is gets a `ClientReassigned`.
    pub clients: Vec<ClientState>,
    /// Deals: each open one whose manager he is gets a `DealReassigned`.
    pub deals: Vec<DealState>,
    /// Tasks: each open one assigned to him gets a `TaskReassigned`.
    pub tasks: Vec<TaskState>,
    /// Leads: each open one assigned to him gets a `LeadAssigned`.
    pub leads: Vec<LeadState>,
}

/// The events handing `from`'s book to `handover.to`: clients, then deals, tasks
/// and leads, each in the order given. No events when he has nothing to hand over.
pub fn handover(from: &Manager, handover: Handover) -> Result<Vec<DomainEvent>, DomainError> {
    let to = active_manager(&handover.to)?.id;
    if to == from.id {
        return Err(DomainError::rule(
            codes::SAME_MANAGER,
            "a manager cannot hand over to himself",
        ));
    }
    let clients = handover
        .clients
        .iter()
        .filter_map(|s| s.client.as_ref())
        .filter(|c| c.manager_id == from.id)
        .map(|c| {
            DomainEvent::ClientReassigned(ClientReassigned {
                client_id: c.id,
                from_manager_id: from.id,
                to_manager_id: to,
            })
        });
    let deals = handover
        .deals
        .iter()
        .filter_map(|s| s.deal.as_ref())
        .filter(|d| d.manager_id == from.id && d.status == DealStatus::Open)
        .map(|d| {
            DomainEvent::DealReassigned(DealReassigned {
                deal_id: d.id,
                from_manager_id: from.id,
                to_manager_id: to,
            })
        });
    let tasks = handover
        .tasks
        .iter()
        .filter_map(|s| s.task.as_ref())
        .filter(|t| t.assignee_id == from.id && t.status == TaskStatus::Open)
        .map(|t| {
            DomainEvent::TaskReassigned(TaskReassigned {
                task_id: t.id,
                from_assignee_id: from.id,
                to_assignee_id: to,
            })
        });
    let leads = handover
        .leads
        .iter()
        .filter_map(|s| s.lead.as_ref())
        .filter(|l| l.manager_id == Some(from.id) && l.is_open())
        .map(|l| {
            DomainEvent::LeadAssigned(LeadAssigned {
                lead_id: l.id,
                manager_id: to,
            })
        });
    Ok(clients.chain(deals).chain(tasks).chain(leads).collect())
}

#[cfg(test)]
mod tests;
