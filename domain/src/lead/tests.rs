#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::testing::*;

fn capture() -> CaptureLead {
    CaptureLead {
        lead_id: LEAD,
        source: "site".into(),
        channel: Some("form".into()),
        name: "Ivan Petrov".into(),
        phone: Some("+7 900 000-00-00".into()),
        email: None,
        client: None,
        manager: None,
        received_at: at(9),
    }
}

fn rejected() -> DomainEvent {
    DomainEvent::LeadRejected(LeadRejected {
        lead_id: LEAD,
        reason: "spam".into(),
    })
}

fn converted() -> DomainEvent {
    DomainEvent::LeadConverted(crate::events::LeadConverted {
        lead_id: LEAD,
        client_id: CLIENT,
        deal_id: DEAL,
    })
}

#[test]
fn capture_succeeds() {
    let state = given::<LeadState>([])
        .when(LeadCommand::Capture(capture()))
        .then(vec![lead_captured(LEAD)]);
    let lead = state.lead.unwrap();
    assert_eq!(lead.status, LeadStatus::New);
    assert_eq!(lead.manager_id, None);
}

#[test]
fn capture_with_a_manager_assigns_it() {
    let state = given::<LeadState>([])
        .when(LeadCommand::Capture(CaptureLead {
            manager: Some(manager(MANAGER)),
            ..capture()
        }))
        .then(vec![lead_captured(LEAD), lead_assigned(LEAD, MANAGER)]);
    let lead = state.lead.unwrap();
    assert_eq!(lead.status, LeadStatus::Assigned);
    assert_eq!(lead.manager_id, Some(MANAGER));
    assert_eq!(state.version, 2);
}

#[test]
fn capture_of_a_known_client() {
    let mut expected = match lead_captured(LEAD) {
        DomainEvent::LeadCaptured(e) => e,
        _ => unreachable!(),
    };
    expected.client_id = Some(CLIENT);
    given::<LeadState>([])
        .when(LeadCommand::Capture(CaptureLead {
            client: Some(client(CLIENT)),
            ..capture()
        }))
        .then(vec![DomainEvent::LeadCaptured(expected)]);
}

#[test]
fn capture_twice_is_already_exists() {
    given::<LeadState>([lead_captured(LEAD)])
        .when(LeadCommand::Capture(capture()))
        .then_error(codes::ALREADY_EXISTS);
}

#[test]
fn capture_needs_a_name_and_a_source() {
    given::<LeadState>([])
        .when(LeadCommand::Capture(CaptureLead {
            name: "".into(),
            ..capture()
        }))
        .then_error(codes::EMPTY_NAME);
    given::<LeadState>([])
        .when(LeadCommand::Capture(CaptureLead {
            source: " ".into(),
            ..capture()
        }))
        .then_error(codes::EMPTY_SOURCE);
}

#[test]
fn capture_needs_existing_client_and_active_manager() {
    for (command, code) in [
        (
            CaptureLead {
                client: Some(client(NOBODY)),
                ..capture()
            },
            codes::REFERENCE_NOT_FOUND,
        ),
        (
            CaptureLead {
                manager: Some(manager(NOBODY)),
                ..capture()
            },
            codes::REFERENCE_NOT_FOUND,
        ),
        (
            CaptureLead {
                manager: Some(manager(GONE_MANAGER)),
                ..capture()
            },
            codes::MANAGER_INACTIVE,
        ),
    ] {
        given::<LeadState>([])
            .when(LeadCommand::Capture(command))
            .then_error(code);
    }
}

#[test]
fn assign_and_reassign() {
    given::<LeadState>([lead_captured(LEAD)])
        .when(LeadCommand::Assign {
            lead_id: LEAD,
            manager: manager(MANAGER),
        })
        .then(vec![lead_assigned(LEAD, MANAGER)]);
    let state = given::<LeadState>([lead_captured(LEAD), lead_assigned(LEAD, MANAGER)])
        .when(LeadCommand::Assign {
            lead_id: LEAD,
            manager: manager(OTHER_MANAGER),
        })
        .then(vec![lead_assigned(LEAD, OTHER_MANAGER)]);
    assert_eq!(state.lead.unwrap().manager_id, Some(OTHER_MANAGER));
}

#[test]
fn assign_refuses_same_inactive_and_unknown_managers() {
    for (who, code) in [
        (MANAGER, codes::SAME_MANAGER),
        (GONE_MANAGER, codes::MANAGER_INACTIVE),
        (NOBODY, codes::REFERENCE_NOT_FOUND),
    ] {
        given::<LeadState>([lead_captured(LEAD), lead_assigned(LEAD, MANAGER)])
            .when(LeadCommand::Assign {
                lead_id: LEAD,
                manager: manager(who),
            })
            .then_error(code);
    }
}

#[test]
fn assign_of_unknown_lead_is_not_found() {
    given::<LeadState>([])
        .when(LeadCommand::Assign {
            lead_id: LEAD,
            manager: manager(MANAGER),
        })
        .then_error(codes::NOT_FOUND);
}

#[test]
fn reject() {
    let state = given::<LeadState>([lead_captured(LEAD)])
        .when(LeadCommand::Reject {
            lead_id: LEAD,
            reason: "spam".into(),
        })
        .then(vec![rejected()]);
    let lead = state.lead.unwrap();
    assert_eq!(lead.status, LeadStatus::Rejected);
    assert_eq!(lead.reject_reason.as_deref(), Some("spam"));
}

#[test]
fn reject_needs_a_reason() {
    given::<LeadState>([lead_captured(LEAD)])
        .when(LeadCommand::Reject {
            lead_id: LEAD,
            reason: "".into(),
        })
        .then_error(codes::EMPTY_REASON);
}

#[test]
fn a_closed_lead_is_not_assigned_or_rejected() {
    for closed in [rejected(), converted()] {
        given::<LeadState>([lead_captured(LEAD), closed.clone()])
            .when(LeadCommand::Reject {
                lead_id: LEAD,
                reason: "late".into(),
            })
            .then_error(codes::LEAD_CLOSED);
        given::<LeadState>([lead_captured(LEAD), closed])
            .when(LeadCommand::Assign {
                lead_id: LEAD,
                manager: manager(MANAGER),
            })
            .then_error(codes::LEAD_CLOSED);
    }
}

#[test]
fn evolve_records_the_conversion() {
    let lead = fold(&[
        lead_captured(LEAD),
        lead_assigned(LEAD, MANAGER),
        converted(),
    ])
    .lead
    .unwrap();
    assert_eq!(lead.status, LeadStatus::Converted);
    assert_eq!(lead.converted, Some((CLIENT, DEAL)));
    assert!(!lead.is_open());
}

fn erased() -> DomainEvent {
    DomainEvent::LeadErased(LeadErased {
        lead_id: LEAD,
        reason: None,
    })
}

#[test]
fn erase_replaces_name_phone_and_email_in_any_status() {
    for history in [
        vec![lead_captured(LEAD)],
        vec![lead_captured(LEAD), rejected()],
    ] {
        let status = LeadState::fold(&history).lead.unwrap().status;
        let state = given::<LeadState>(history)
            .when(LeadCommand::Erase {
                lead_id: LEAD,
                reason: None,
            })
            .then(vec![erased()]);
        let lead = state.lead.unwrap();
        assert!(lead.erased);
        assert_eq!(lead.name, "[erased]");
        // lead_captured has a phone and no email: absent stays absent.
        assert_eq!(lead.phone.as_deref(), Some("[erased]"));
        assert_eq!(lead.email, None);
        assert_eq!(lead.status, status);
        assert_eq!(lead.source, "site");
    }
}

#[test]
fn erase_twice_appends_nothing_and_an_unknown_lead_is_not_found() {
    given::<LeadState>([lead_captured(LEAD), erased()])
        .when(LeadCommand::Erase {
            lead_id: LEAD,
            reason: Some("again".into()),
        })
        .then(vec![]);
    given::<LeadState>([])
        .when(LeadCommand::Erase {
            lead_id: LEAD,
            reason: None,
        })
        .then_error(codes::NOT_FOUND);
}

fn breached(manager_id: Option<Uuid>) -> DomainEvent {
    DomainEvent::LeadSlaBreached(LeadSlaBreached {
        lead_id: LEAD,
        manager_id,
        minutes: 30,
    })
}

#[test]
fn an_sla_breach_names_the_leads_manager_or_none() {
    let breach = || LeadCommand::BreachSla {
        lead_id: LEAD,
        minutes: 30,
    };
    let state = given::<LeadState>([lead_captured(LEAD), lead_assigned(LEAD, OTHER_MANAGER)])
        .when(breach())
        .then(vec![breached(Some(OTHER_MANAGER))]);
    // The breach is a fact about the lead, not a change of it.
    assert_eq!(state.lead.unwrap().status, LeadStatus::Assigned);
    given::<LeadState>([lead_captured(LEAD)])
        .when(breach())
        .then(vec![breached(None)]);
}

#[test]
fn an_sla_breach_is_recorded_even_for_a_lead_answered_since() {
    // The automation decides whether the deadline passed unanswered; a lead converted
    // after it still records that it waited too long.
    given::<LeadState>([
        lead_captured(LEAD),
        lead_assigned(LEAD, MANAGER),
        converted(),
    ])
    .when(LeadCommand::BreachSla {
        lead_id: LEAD,
        minutes: 30,
    })
    .then(vec![breached(Some(MANAGER))]);
}

#[test]
fn an_sla_breach_needs_the_lead_and_a_period() {
    given::<LeadState>([])
        .when(LeadCommand::BreachSla {
            lead_id: LEAD,
            minutes: 30,
        })
        .then_error(codes::NOT_FOUND);
    given::<LeadState>([lead_captured(LEAD)])
        .when(LeadCommand::BreachSla {
            lead_id: LEAD,
            minutes: 0,
        })
        .then_error(codes::INVALID_PERIOD);
}
