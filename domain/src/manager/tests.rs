#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::testing::*;

fn register(name: &str, department: &str) -> ManagerCommand {
    ManagerCommand::Register {
        manager_id: MANAGER,
        name: name.into(),
        email: Some("anna@example.com".into()),
        department: department.into(),
        role: Role::Head,
    }
}

#[test]
fn register_succeeds() {
    let state = given::<ManagerState>([])
        .when(register("Anna", "Sales"))
        .then(vec![DomainEvent::ManagerRegistered(ManagerRegistered {
            manager_id: MANAGER,
            name: "Anna".into(),
            email: Some("anna@example.com".into()),
            department: "Sales".into(),
            role: Role::Head,
        })]);
    assert!(state.manager.unwrap().active);
}

#[test]
fn register_twice_is_already_exists() {
    given::<ManagerState>([manager_registered(MANAGER)])
        .when(register("Anna", "Sales"))
        .then_error(codes::ALREADY_EXISTS);
}

#[test]
fn register_needs_a_name() {
    given::<ManagerState>([])
        .when(register("  ", "Sales"))
        .then_error(codes::EMPTY_NAME);
}

#[test]
fn register_needs_a_department() {
    given::<ManagerState>([])
        .when(register("Anna", ""))
        .then_error(codes::EMPTY_DEPARTMENT);
}

#[test]
fn deactivate() {
    let state = given::<ManagerState>([manager_registered(MANAGER)])
        .when(ManagerCommand::Deactivate {
            manager_id: MANAGER,
        })
        .then(vec![manager_deactivated(MANAGER)]);
    assert!(!state.manager.unwrap().active);
    assert_eq!(state.version, 2);
}

#[test]
fn deactivate_unknown_is_not_found() {
    let err = given::<ManagerState>([])
        .when(ManagerCommand::Deactivate {
            manager_id: MANAGER,
        })
        .then_error(codes::NOT_FOUND);
    assert_eq!(
        err,
        DomainError::NotFound {
            entity: "manager",
            id: MANAGER
        }
    );
}

#[test]
fn deactivate_twice_is_refused() {
    given::<ManagerState>([manager_registered(MANAGER), manager_deactivated(MANAGER)])
        .when(ManagerCommand::Deactivate {
            manager_id: MANAGER,
        })
        .then_error(codes::MANAGER_INACTIVE);
}

#[test]
fn a_command_for_another_id_is_not_found() {
    given::<ManagerState>([manager_registered(MANAGER)])
        .when(ManagerCommand::Deactivate {
            manager_id: OTHER_MANAGER,
        })
        .then_error(codes::NOT_FOUND);
}

#[test]
fn evolve_ignores_other_entities_events() {
    let state = fold(&[
        manager_registered(MANAGER),
        manager_deactivated(OTHER_MANAGER),
        manager_registered(OTHER_MANAGER),
        deal_opened(DEAL),
    ]);
    assert_eq!(state.version, 1);
    let manager = state.manager.unwrap();
    assert_eq!(manager.id, MANAGER);
    assert!(manager.active);
}
