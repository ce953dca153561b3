#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::testing::*;

fn register(manager_id: Uuid) -> RegisterClient {
    RegisterClient {
        client_id: CLIENT,
        name: "Romashka LLC".into(),
        kind: ClientKind::Company,
        size: Some("50-200".into()),
        industry: None,
        region: Some("Kazan".into()),
        source: None,
        manager: manager(manager_id),
        contacts: vec![Contact {
            name: "Oleg".into(),
            phone: None,
            email: Some("oleg@example.com".into()),
        }],
    }
}

fn update(changes: ClientChanges) -> ClientCommand {
    ClientCommand::Update {
        client_id: CLIENT,
        changes,
    }
}

#[test]
fn register_succeeds() {
    let state = given::<ClientState>([])
        .when(ClientCommand::Register(register(MANAGER)))
        .then(vec![DomainEvent::ClientRegistered(ClientRegistered {
            client_id: CLIENT,
            name: "Romashka LLC".into(),
            kind: ClientKind::Company,
            size: Some("50-200".into()),
            industry: None,
            region: Some("Kazan".into()),
            source: None,
            manager_id: MANAGER,
            contacts: vec![Contact {
                name: "Oleg".into(),
                phone: None,
                email: Some("oleg@example.com".into()),
            }],
        })]);
    assert_eq!(state.client.unwrap().manager_id, MANAGER);
}

#[test]
fn register_twice_is_already_exists() {
    given::<ClientState>([client_registered(CLIENT)])
        .when(ClientCommand::Register(register(MANAGER)))
        .then_error(codes::ALREADY_EXISTS);
}

#[test]
fn register_needs_a_name() {
    let mut command = register(MANAGER);
    command.name = "".into();
    given::<ClientState>([])
        .when(ClientCommand::Register(command))
        .then_error(codes::EMPTY_NAME);
}

#[test]
fn contacts_need_a_name() {
    let mut command = register(MANAGER);
    command.contacts[0].name = " ".into();
    given::<ClientState>([])
        .when(ClientCommand::Register(command))
        .then_error(codes::EMPTY_NAME);
}

#[test]
fn register_needs_an_existing_manager() {
    let err = given::<ClientState>([])
        .when(ClientCommand::Register(register(NOBODY)))
        .then_error(codes::REFERENCE_NOT_FOUND);
    assert_eq!(
        err,
        DomainError::ReferenceNotFound {
            entity: "manager",
            id: NOBODY
        }
    );
}

#[test]
fn register_needs_an_active_manager() {
    given::<ClientState>([])
        .when(ClientCommand::Register(register(GONE_MANAGER)))
        .then_error(codes::MANAGER_INACTIVE);
}

#[test]
fn update_records_only_what_changes() {
    let state = given::<ClientState>([client_registered(CLIENT)])
        .when(update(ClientChanges {
            name: Some(format!("Client {}", CLIENT.as_u128())),
            kind: Some(ClientKind::Company),
            region: Some(Some("Kazan".into())),
            size: Some(None),
            ..ClientChanges::default()
        }))
        .then(vec![DomainEvent::ClientUpdated(ClientUpdated {
            client_id: CLIENT,
            changes: ClientChanges {
                region: Some(Some("Kazan".into())),
                ..ClientChanges::default()
            },
        })]);
    assert_eq!(state.client.unwrap().region.as_deref(), Some("Kazan"));
}

#[test]
fn update_can_clear_a_field() {
    let with_region = DomainEvent::ClientUpdated(ClientUpdated {
        client_id: CLIENT,
        changes: ClientChanges {
            region: Some(Some("Kazan".into())),
            ..ClientChanges::default()
        },
    });
    let clear = ClientChanges {
        region: Some(None),
        ..ClientChanges::default()
    };
    let state = given::<ClientState>([client_registered(CLIENT), with_region])
        .when(update(clear.clone()))
        .then(vec![DomainEvent::ClientUpdated(ClientUpdated {
            client_id: CLIENT,
            changes: clear,
        })]);
    assert_eq!(state.client.unwrap().region, None);
}

#[test]
fn update_of_unknown_client_is_not_found() {
    given::<ClientState>([])
        .when(update(ClientChanges {
            name: Some("X".into()),
            ..ClientChanges::default()
        }))
        .then_error(codes::NOT_FOUND);
}

#[test]
fn update_that_changes_nothing_is_refused() {
    given::<ClientState>([client_registered(CLIENT)])
        .when(update(ClientChanges {
            kind: Some(ClientKind::Company),
            ..ClientChanges::default()
        }))
        .then_error(codes::NO_CHANGES);
    given::<ClientState>([client_registered(CLIENT)])
        .when(update(ClientChanges::default()))
        .then_error(codes::NO_CHANGES);
}

#[test]
fn update_cannot_blank_the_name() {
    given::<ClientState>([client_registered(CLIENT)])
        .when(update(ClientChanges {
            name: Some("".into()),
            ..ClientChanges::default()
        }))
        .then_error(codes::EMPTY_NAME);
}

#[test]
fn reassign_succeeds() {
    let state = given::<ClientState>([client_registered(CLIENT)])
        .when(ClientCommand::Reassign {
            client_id: CLIENT,
            manager: manager(OTHER_MANAGER),
        })
        .then(vec![DomainEvent::ClientReassigned(ClientReassigned {
            client_id: CLIENT,
            from_manager_id: MANAGER,
            to_manager_id: OTHER_MANAGER,
        })]);
    assert_eq!(state.client.unwrap().manager_id, OTHER_MANAGER);
}

#[test]
fn reassign_to_the_same_manager_is_refused() {
    given::<ClientState>([client_registered(CLIENT)])
        .when(ClientCommand::Reassign {
            client_id: CLIENT,
            manager: manager(MANAGER),
        })
        .then_error(codes::SAME_MANAGER);
}

#[test]
fn reassign_needs_an_active_existing_manager() {
    given::<ClientState>([client_registered(CLIENT)])
        .when(ClientCommand::Reassign {
            client_id: CLIENT,
            manager: manager(GONE_MANAGER),
        })
        .then_error(codes::MANAGER_INACTIVE);
    given::<ClientState>([client_registered(CLIENT)])
        .when(ClientCommand::Reassign {
            client_id: CLIENT,
            manager: manager(NOBODY),
        })
        .then_error(codes::REFERENCE_NOT_FOUND);
}

#[test]
fn reassign_of_unknown_client_is_not_found() {
    given::<ClientState>([])
        .when(ClientCommand::Reassign {
            client_id: CLIENT,
            manager: manager(OTHER_MANAGER),
        })
        .then_error(codes::NOT_FOUND);
}

#[test]
fn a_ref_with_another_entitys_state_is_not_found() {
    let mismatched = Ref::new(OTHER_MANAGER, manager(MANAGER).state);
    given::<ClientState>([client_registered(CLIENT)])
        .when(ClientCommand::Reassign {
            client_id: CLIENT,
            manager: mismatched,
        })
        .then_error(codes::REFERENCE_NOT_FOUND);
}

fn erased(client_id: Uuid) -> DomainEvent {
    DomainEvent::ClientErased(ClientErased {
        client_id,
        reason: Some("asked by the data subject".into()),
    })
}

fn registered_with_contacts() -> DomainEvent {
    DomainEvent::ClientRegistered(ClientRegistered {
        client_id: CLIENT,
        name: "Olena Petrenko".into(),
        kind: ClientKind::Person,
        size: None,
        industry: None,
        region: Some("Kyiv".into()),
        source: None,
        manager_id: MANAGER,
        contacts: vec![
            Contact {
                name: "Olena".into(),
                phone: Some("+380 44 000".into()),
                email: None,
            },
            Contact {
                name: "Ivan".into(),
                phone: None,
                email: Some("ivan@example.com".into()),
            },
        ],
    })
}

#[test]
fn erase_replaces_the_name_and_contacts_by_the_marker() {
    let state = given::<ClientState>([registered_with_contacts()])
        .when(ClientCommand::Erase {
            client_id: CLIENT,
            reason: Some("asked by the data subject".into()),
        })
        .then(vec![erased(CLIENT)]);
    let client = state.client.unwrap();
    assert!(client.erased);
    assert_eq!(client.name, "[erased]");
    assert_eq!(
        client.contacts,
        vec![
            Contact {
                name: "[erased]".into(),
                phone: Some("[erased]".into()),
                email: None,
            },
            Contact {
                name: "[erased]".into(),
                phone: None,
                email: Some("[erased]".into()),
            },
        ]
    );
    // What is not personal stays.
    assert_eq!(client.region.as_deref(), Some("Kyiv"));
    assert_eq!(state.version, 2);
}

#[test]
fn erase_twice_appends_nothing_and_an_unknown_client_is_not_found() {
    given::<ClientState>([client_registered(CLIENT), erased(CLIENT)])
        .when(ClientCommand::Erase {
            client_id: CLIENT,
            reason: None,
        })
        .then(vec![]);
    given::<ClientState>([])
        .when(ClientCommand::Erase {
            client_id: CLIENT,
            reason: None,
        })
        .then_error(codes::NOT_FOUND);
}

#[test]
fn an_erased_client_takes_no_new_personal_data_but_other_changes() {
    let history = [registered_with_contacts(), erased(CLIENT)];
    given::<ClientState>(history.clone())
        .when(update(ClientChanges {
            name: Some("Olena P.".into()),
            ..ClientChanges::default()
        }))
        .then_error(codes::SUBJECT_ERASED);
    given::<ClientState>(history.clone())
        .when(update(ClientChanges {
            contacts: Some(vec![]),
            ..ClientChanges::default()
        }))
        .then_error(codes::SUBJECT_ERASED);
    given::<ClientState>(history)
        .when(update(ClientChanges {
            region: Some(Some("Lviv".into())),
            ..ClientChanges::default()
        }))
        .then(vec![DomainEvent::ClientUpdated(ClientUpdated {
            client_id: CLIENT,
            changes: ClientChanges {
                region: Some(Some("Lviv".into())),
                ..ClientChanges::default()
            },
        })]);
}
