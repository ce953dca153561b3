#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::codes;
use crate::testing::*;

fn log() -> LogInteraction {
    LogInteraction {
        interaction_id: INTERACTION,
        kind: InteractionKind::Call,
        direction: Direction::Inbound,
        manager: manager(MANAGER),
        client: None,
        deal: None,
        lead: None,
        duration_s: None,
        outcome: None,
        goal: None,
        notes: None,
        goal_reached: None,
    }
}

fn logged() -> InteractionLogged {
    InteractionLogged {
        interaction_id: INTERACTION,
        kind: InteractionKind::Call,
        direction: Direction::Inbound,
        manager_id: MANAGER,
        client_id: None,
        deal_id: None,
        lead_id: None,
        duration: None,
        outcome: None,
        goal: None,
        notes: None,
        goal_reached: None,
    }
}

#[test]
fn log_a_bare_call() {
    let state = given::<InteractionState>([])
        .when(InteractionCommand::Log(log()))
        .then(vec![DomainEvent::InteractionLogged(logged())]);
    assert_eq!(state.interaction.unwrap().manager_id, MANAGER);
}

#[test]
fn log_with_every_field() {
    let command = LogInteraction {
        kind: InteractionKind::Meeting,
        direction: Direction::Outbound,
        client: Some(client(CLIENT)),
        deal: Some(deal(DEAL)),
        lead: Some(lead(LEAD)),
        duration_s: Some(0),
        outcome: Some("ok".into()),
        goal: Some("demo".into()),
        notes: Some("n".into()),
        goal_reached: Some(false),
        ..log()
    };
    given::<InteractionState>([])
        .when(InteractionCommand::Log(command))
        .then(vec![DomainEvent::InteractionLogged(InteractionLogged {
            kind: InteractionKind::Meeting,
            direction: Direction::Outbound,
            client_id: Some(CLIENT),
            deal_id: Some(DEAL),
            lead_id: Some(LEAD),
            duration: Some(InteractionDuration { seconds: 0 }),
            outcome: Some("ok".into()),
            goal: Some("demo".into()),
            notes: Some("n".into()),
            goal_reached: Some(false),
            ..logged()
        })]);
}

#[test]
fn log_twice_is_already_exists() {
    given::<InteractionState>([DomainEvent::InteractionLogged(logged())])
        .when(InteractionCommand::Log(log()))
        .then_error(codes::ALREADY_EXISTS);
}

#[test]
fn duration_is_not_negative() {
    given::<InteractionState>([])
        .when(InteractionCommand::Log(LogInteraction {
            duration_s: Some(-1),
            ..log()
        }))
        .then_error(codes::NEGATIVE_DURATION);
}

#[test]
fn duration_is_at_most_seven_days() {
    given::<InteractionState>([])
        .when(InteractionCommand::Log(LogInteraction {
            duration_s: Some(7 * 24 * 3600 + 1),
            ..log()
        }))
        .then_error(codes::DURATION_TOO_LONG);
}

#[test]
fn the_manager_exists_and_is_active() {
    for (who, code) in [
        (GONE_MANAGER, codes::MANAGER_INACTIVE),
        (NOBODY, codes::REFERENCE_NOT_FOUND),
    ] {
        given::<InteractionState>([])
            .when(InteractionCommand::Log(LogInteraction {
                manager: manager(who),
                ..log()
            }))
            .then_error(code);
    }
}

#[test]
fn referenced_client_deal_and_lead_exist() {
    for command in [
        LogInteraction {
            client: Some(client(NOBODY)),
            ..log()
        },
        LogInteraction {
            deal: Some(deal(NOBODY)),
            ..log()
        },
        LogInteraction {
            lead: Some(lead(NOBODY)),
            ..log()
        },
    ] {
        given::<InteractionState>([])
            .when(InteractionCommand::Log(command))
            .then_error(codes::REFERENCE_NOT_FOUND);
    }
}

#[test]
fn the_deal_is_the_clients() {
    given::<InteractionState>([])
        .when(InteractionCommand::Log(LogInteraction {
            client: Some(client(OTHER_CLIENT)),
            deal: Some(deal(DEAL)),
            ..log()
        }))
        .then_error(codes::CLIENT_MISMATCH);
}
