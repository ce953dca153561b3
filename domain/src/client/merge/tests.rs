#![allow(clippy::unwrap_used, clippy::expect_used)]

use uuid::Uuid;

use crate::client::{ClientCommand, ClientState};
use crate::events::{ClientMerged, ClientUnmerged};
use crate::testing::*;
use crate::{DomainEvent, Ref};

const THIRD_CLIENT: Uuid = id(22);

fn merged(client_id: Uuid, into_client_id: Uuid) -> DomainEvent {
    DomainEvent::ClientMerged(ClientMerged {
        client_id,
        into_client_id,
    })
}

fn unmerged(client_id: Uuid, from_client_id: Uuid) -> DomainEvent {
    DomainEvent::ClientUnmerged(ClientUnmerged {
        client_id,
        from_client_id,
    })
}

fn merge_into(into: Ref<ClientState>) -> ClientCommand {
    ClientCommand::Merge {
        client_id: OTHER_CLIENT,
        into,
    }
}

fn unmerge() -> ClientCommand {
    ClientCommand::Unmerge {
        client_id: OTHER_CLIENT,
    }
}

/// A reference to `client_id` merged into `into`.
fn merged_client(client_id: Uuid, into: Uuid) -> Ref<ClientState> {
    Ref::new(
        client_id,
        crate::client::fold(&[client_registered(client_id), merged(client_id, into)]),
    )
}

#[test]
fn a_duplicate_is_merged_into_a_client_and_unmerged_back() {
    let state = given::<ClientState>([client_registered(OTHER_CLIENT)])
        .when(merge_into(client(CLIENT)))
        .then(vec![merged(OTHER_CLIENT, CLIENT)]);
    assert_eq!(state.client.as_ref().unwrap().merged_into, Some(CLIENT));
    let state = given::<ClientState>([
        client_registered(OTHER_CLIENT),
        merged(OTHER_CLIENT, CLIENT),
    ])
    .when(unmerge())
    .then(vec![unmerged(OTHER_CLIENT, CLIENT)]);
    assert_eq!(state.client.unwrap().merged_into, None);
}

#[test]
fn a_client_is_not_merged_into_itself() {
    given::<ClientState>([client_registered(OTHER_CLIENT)])
        .when(merge_into(client(OTHER_CLIENT)))
        .then_error("merge_into_itself");
}

#[test]
fn a_client_is_not_merged_into_a_merged_client() {
    given::<ClientState>([client_registered(OTHER_CLIENT)])
        .when(merge_into(merged_client(CLIENT, THIRD_CLIENT)))
        .then_error("merge_into_merged");
}

#[test]
fn a_merged_client_is_not_merged_again_until_unmerged() {
    given::<ClientState>([
        client_registered(OTHER_CLIENT),
        merged(OTHER_CLIENT, CLIENT),
    ])
    .when(merge_into(client(THIRD_CLIENT)))
    .then_error("client_merged");
    given::<ClientState>([
        client_registered(OTHER_CLIENT),
        merged(OTHER_CLIENT, CLIENT),
        unmerged(OTHER_CLIENT, CLIENT),
    ])
    .when(merge_into(client(THIRD_CLIENT)))
    .then(vec![merged(OTHER_CLIENT, THIRD_CLIENT)]);
}

#[test]
fn a_client_not_merged_is_not_unmerged() {
    given::<ClientState>([client_registered(OTHER_CLIENT)])
        .when(unmerge())
        .then_error("client_not_merged");
    given::<ClientState>([
        client_registered(OTHER_CLIENT),
        merged(OTHER_CLIENT, CLIENT),
        unmerged(OTHER_CLIENT, CLIENT),
    ])
    .when(unmerge())
    .then_error("client_not_merged");
}

#[test]
fn unknown_clients_on_either_side_are_refused() {
    given::<ClientState>([client_registered(OTHER_CLIENT)])
        .when(merge_into(client(NOBODY)))
        .then_error("reference_not_found");
    given::<ClientState>([])
        .when(merge_into(client(CLIENT)))
        .then_error("not_found");
    given::<ClientState>([])
        .when(unmerge())
        .then_error("not_found");
}

#[test]
fn a_merge_names_its_survivor_and_no_one_else() {
    assert_eq!(
        merged(OTHER_CLIENT, CLIENT).references(),
        [(crate::EntityKind::Client, CLIENT)]
    );
    assert_eq!(
        merged(OTHER_CLIENT, CLIENT).stream(),
        format!("client-{OTHER_CLIENT}")
    );
    assert!(unmerged(OTHER_CLIENT, CLIENT).references().is_empty());
}
