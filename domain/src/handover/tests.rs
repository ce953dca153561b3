#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::events::{DealOpened, DealWon, TaskCompleted, TaskScheduled};
use crate::manager::ManagerCommand;
use crate::testing::*;
use uuid::Uuid;

fn deal_of(deal_id: Uuid, manager_id: Uuid, won: bool) -> DealState {
    let mut events = vec![match deal_opened(deal_id) {
        DomainEvent::DealOpened(e) => DomainEvent::DealOpened(DealOpened { manager_id, ..e }),
        other => other,
    }];
    if won {
        events.push(DomainEvent::DealWon(DealWon { deal_id, amount: 1 }));
    }
    crate::deal::fold(&events)
}

fn task_of(task_id: Uuid, assignee_id: Uuid, done: bool) -> TaskState {
    let mut events = vec![DomainEvent::TaskScheduled(TaskScheduled {
        task_id,
        title: "Call".into(),
        kind: "call".into(),
        assignee_id,
        due_at: at(12),
        client_id: None,
        deal_id: None,
        co_executor_ids: vec![],
        observer_ids: vec![],
    })];
    if done {
        events.push(DomainEvent::TaskCompleted(TaskCompleted {
            task_id,
            result: None,
        }));
    }
    crate::task::fold(&events)
}

fn lead_of(lead_id: Uuid, manager_id: Uuid, rejected: bool) -> LeadState {
    let mut events = vec![lead_captured(lead_id), lead_assigned(lead_id, manager_id)];
    if rejected {
        events.push(DomainEvent::LeadRejected(crate::events::LeadRejected {
            lead_id,
            reason: "spam".into(),
        }));
    }
    crate::lead::fold(&events)
}

fn book(to: Uuid) -> Handover {
    Handover {
        to: manager(to),
        clients: vec![
            client(CLIENT).state,
            crate::client::fold(&[match client_registered(OTHER_CLIENT) {
                DomainEvent::ClientRegistered(e) => {
                    DomainEvent::ClientRegistered(crate::events::ClientRegistered {
                        manager_id: OTHER_MANAGER,
                        ..e
                    })
                }
                other => other,
            }]),
        ],
        deals: vec![
            deal_of(id(41), MANAGER, false),
            deal_of(id(42), MANAGER, true),
            deal_of(id(43), OTHER_MANAGER, false),
        ],
        tasks: vec![
            task_of(id(51), MANAGER, false),
            task_of(id(52), MANAGER, true),
        ],
        leads: vec![
            lead_of(id(31), MANAGER, false),
            lead_of(id(32), MANAGER, true),
        ],
    }
}

fn handover_to(to: Uuid) -> ManagerCommand {
    ManagerCommand::Handover {
        manager_id: MANAGER,
        handover: book(to),
    }
}

#[test]
fn hands_over_clients_open_deals_open_tasks_and_open_leads() {
    given::<ManagerState>([manager_registered(MANAGER), manager_deactivated(MANAGER)])
        .when(handover_to(OTHER_MANAGER))
        .then(vec![
            DomainEvent::ClientReassigned(ClientReassigned {
                client_id: CLIENT,
                from_manager_id: MANAGER,
                to_manager_id: OTHER_MANAGER,
            }),
            DomainEvent::DealReassigned(DealReassigned {
                deal_id: id(41),
                from_manager_id: MANAGER,
                to_manager_id: OTHER_MANAGER,
            }),
            DomainEvent::TaskReassigned(TaskReassigned {
                task_id: id(51),
                from_assignee_id: MANAGER,
                to_assignee_id: OTHER_MANAGER,
            }),
            DomainEvent::LeadAssigned(LeadAssigned {
                lead_id: id(31),
                manager_id: OTHER_MANAGER,
            }),
        ]);
}

#[test]
fn nothing_to_hand_over_is_no_events() {
    given::<ManagerState>([manager_registered(MANAGER)])
        .when(ManagerCommand::Handover {
            manager_id: MANAGER,
            handover: Handover {
                to: manager(OTHER_MANAGER),
                clients: vec![],
                deals: vec![],
                tasks: vec![],
                leads: vec![],
            },
        })
        .then(vec![]);
}

#[test]
fn handover_to_himself_is_refused() {
    given::<ManagerState>([manager_registered(MANAGER)])
        .when(handover_to(MANAGER))
        .then_error(codes::SAME_MANAGER);
}

#[test]
fn handover_needs_an_active_existing_receiver() {
    for (who, code) in [
        (GONE_MANAGER, codes::MANAGER_INACTIVE),
        (NOBODY, codes::REFERENCE_NOT_FOUND),
    ] {
        given::<ManagerState>([manager_registered(MANAGER)])
            .when(handover_to(who))
            .then_error(code);
    }
}

#[test]
fn handover_from_unknown_manager_is_not_found() {
    given::<ManagerState>([])
        .when(handover_to(OTHER_MANAGER))
        .then_error(codes::NOT_FOUND);
}
