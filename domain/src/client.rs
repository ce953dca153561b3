//! The client aggregate (`client-<uuid>`): registration, updates of its card and its
//! responsible manager, merges into another client and their undoing ([`merge`]).

use serde::Serialize;
use uuid::Uuid;

use crate::aggregate::{absent, own, target, Aggregate, HasId, Ref};
use crate::events::{
    ClientChanges, ClientErased, ClientReassigned, ClientRegistered, ClientUpdated,
};
use crate::manager::ManagerState;
use crate::personal::ERASED;
use crate::rules::{active_manager, at_most, items, non_empty, short, MAX_NAME_CHARS};
use crate::values::{ClientKind, Contact};
use crate::{codes, DomainError, DomainEvent};

mod merge;

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Client {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Company or person.
    pub kind: ClientKind,
    /// Company size.
    pub size: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Where the client came from.
    pub source: Option<String>,
    /// The responsible manager.
    pub manager_id: Uuid,
    /// Contact persons.
    pub contacts: Vec<Contact>,
    /// True once its personal data was erased (`ClientErased`).
    pub erased: bool,
    /// The client it is merged into, while merged (`ClientMerged`).
    pub merged_into: Option<Uuid>,
}

impl HasId for Client {
    fn id(&self) -> Uuid {
        self.id
    }
}

/// A client's state; the default is "not registered".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClientState {
    /// Events folded from the stream.
    pub version: i64,
    /// The client, once registered.
    pub client: Option<Client>,
}

/// `POST /clients`.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterClient {
    /// The new client's id.
    pub client_id: Uuid,
    /// Name, not blank.
    pub name: String,
    /// Company or person.
    pub kind: ClientKind,
    /// Company size.
    pub size: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Source.
    pub source: Option<String>,
    /// The responsible manager: must exist and be active.
    pub manager: Ref<ManagerState>,
    /// Contacts, each with a name that is not blank.
    pub contacts: Vec<Contact>,
}

/// What can be asked of a client.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientCommand {
    /// `POST /clients`.
    Register(RegisterClient),
    /// `PATCH /clients/{id}`: only the fields that differ from the card are
    /// recorded; refused with `no_changes` when none does. The manager is changed
    /// with [`ClientCommand::Reassign`], not here.
    Update {
        /// The client.
        client_id: Uuid,
        /// The fields the request set.
        changes: ClientChanges,
    },
    /// `POST /clients/{id}/assign`: refused with `same_manager` for the current one.
    Reassign {
        /// The client.
        client_id: Uuid,
        /// The new manager: must exist and be active.
        manager: Ref<ManagerState>,
    },
    /// `POST /clients/{id}/merge`: `ClientMerged`; refused into itself
    /// (`merge_into_itself`), into a merged client (`merge_into_merged`) and for a
    /// client merged already (`client_merged`).
    Merge {
        /// The duplicate to merge.
        client_id: Uuid,
        /// The survivor: must exist.
        into: Ref<ClientState>,
    },
    /// `POST /clients/{id}/unmerge`: `ClientUnmerged`; `client_not_merged` unless
    /// the client is merged.
    Unmerge {
        /// The merged client.
        client_id: Uuid,
    },
    /// `POST /clients/{id}/erase`: `ClientErased`; nothing for a client erased already.
    Erase {
        /// The client.
        client_id: Uuid,
        /// Why.
        reason: Option<String>,
    },
}

/// Applies one event to a client's state.
pub fn evolve(mut state: ClientState, event: &DomainEvent) -> ClientState {
    if apply(&mut state, event) {
        state.version += 1;
    }
    state
}

fn apply(state: &mut ClientState, event: &DomainEvent) -> bool {
    match event {
        DomainEvent::ClientRegistered(e) if state.client.is_none() => {
            state.client = Some(Client {
                id: e.client_id,
                name: e.name.clone(),
                kind: e.kind,
                size: e.size.clone(),
                industry: e.industry.clone(),
                region: e.region.clone(),
                source: e.source.clone(),
                manager_id: e.manager_id,
                contacts: e.contacts.clone(),
                erased: false,
                merged_into: None,
            });
        }
        DomainEvent::ClientUpdated(e) => match own(&mut state.client, e.client_id) {
            Some(client) => apply_changes(client, &e.changes),
            None => return false,
        },
        DomainEvent::ClientReassigned(e) => match own(&mut state.client, e.client_id) {
            Some(client) => client.manager_id = e.to_manager_id,
            None => return false,
        },
        DomainEvent::ClientErased(e) => match own(&mut state.client, e.client_id) {
            Some(client) => erase(client),
            None => return false,
        },
        DomainEvent::ClientMerged(e) => match own(&mut state.client, e.client_id) {
            Some(client) => client.merged_into = Some(e.into_client_id),
            None => return false,
        },
        DomainEvent::ClientUnmerged(e) => match own(&mut state.client, e.client_id) {
            Some(client) => client.merged_into = None,
            None => return false,
        },
        _ => return false,
    }
    true
}

/// Replaces the client's personal values by [`ERASED`].
fn erase(client: &mut Client) {
    client.erased = true;
    client.name = ERASED.to_owned();
    client.contacts = client.contacts.iter().map(erased_contact).collect();
}

/// A contact with its personal values replaced by [`ERASED`] (absent ones stay absent).
pub fn erased_contact(contact: &Contact) -> Contact {
    Contact {
        name: ERASED.to_owned(),
        phone: contact.phone.as_ref().map(|_| ERASED.to_owned()),
        email: contact.email.as_ref().map(|_| ERASED.to_owned()),
    }
}

fn apply_changes(client: &mut Client, changes: &ClientChanges) {
    let c = changes.clone();
    if let Some(name) = c.name {
        client.name = name;
    }
    if let Some(kind) = c.kind {
        client.kind = kind;
    }
    if let Some(size) = c.size {
        client.size = size;
    }
    if let Some(industry) = c.industry {
        client.industry = industry;
    }
    if let Some(region) = c.region {
        client.region = region;
    }
    if let Some(source) = c.source {
        client.source = source;
    }
    if let Some(contacts) = c.contacts {
        client.contacts = contacts;
    }
}

/// Folds a client's stream.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a DomainEvent>) -> ClientState {
    ClientState::fold(events)
}

/// Decides a client command.
pub fn decide(
    state: &ClientState,
    command: ClientCommand,
) -> Result<Vec<DomainEvent>, DomainError> {
    match command {
        ClientCommand::Register(c) => {
            absent(state)?;
            non_empty(&c.name, codes::EMPTY_NAME, "client name")?;
            at_most(&c.name, MAX_NAME_CHARS, "client name")?;
            short(c.size.as_deref(), "size")?;
            short(c.industry.as_deref(), "industry")?;
            short(c.region.as_deref(), "region")?;
            short(c.source.as_deref(), "source")?;
            check_contacts(&c.contacts)?;
            let manager = active_manager(&c.manager)?;
            Ok(vec![DomainEvent::ClientRegistered(ClientRegistered {
                client_id: c.client_id,
                name: c.name,
                kind: c.kind,
                size: c.size,
                industry: c.industry,
                region: c.region,
                source: c.source,
                manager_id: manager.id,
                contacts: c.contacts,
            })])
        }
        ClientCommand::Update { client_id, changes } => {
            let client = target(state, client_id)?;
            if let Some(name) = &changes.name {
                non_empty(name, codes::EMPTY_NAME, "client name")?;
                at_most(name, MAX_NAME_CHARS, "client name")?;
            }
            short(changes.size.clone().flatten().as_deref(), "size")?;
            short(changes.industry.clone().flatten().as_deref(), "industry")?;
            short(changes.region.clone().flatten().as_deref(), "region")?;
            short(changes.source.clone().flatten().as_deref(), "source")?;
            if let Some(contacts) = &changes.contacts {
                check_contacts(contacts)?;
            }
            if client.erased && (changes.name.is_some() || changes.contacts.is_some()) {
                return Err(DomainError::rule(
                    codes::SUBJECT_ERASED,
                    format!("the personal data of client {client_id} was erased; it takes no new name or contacts"),
                ));
            }
            let changes = effective(client, changes);
            if changes.is_empty() {
                return Err(DomainError::rule(
                    codes::NO_CHANGES,
                    "the update changes no field of the client",
                ));
            }
            Ok(vec![DomainEvent::ClientUpdated(ClientUpdated {
                client_id,
                changes,
            })])
        }
        ClientCommand::Reassign { client_id, manager } => {
            let client = target(state, client_id)?;
            let manager = active_manager(&manager)?;
            if manager.id == client.manager_id {
                return Err(DomainError::rule(
                    codes::SAME_MANAGER,
                    format!(
                        "manager {} is already responsible for the client",
                        manager.id
                    ),
                ));
            }
            Ok(vec![DomainEvent::ClientReassigned(ClientReassigned {
                client_id,
                from_manager_id: client.manager_id,
                to_manager_id: manager.id,
            })])
        }
        ClientCommand::Merge { client_id, into } => merge::merge(target(state, client_id)?, &into),
        ClientCommand::Unmerge { client_id } => merge::unmerge(target(state, client_id)?),
        ClientCommand::Erase { client_id, reason } => {
            let client = target(state, client_id)?;
            if client.erased {
                return Ok(vec![]);
            }
            Ok(vec![DomainEvent::ClientErased(ClientErased {
                client_id,
                reason,
            })])
        }
    }
}

fn check_contacts(contacts: &[Contact]) -> Result<(), DomainError> {
    items(contacts.len(), "contacts")?;
    contacts.iter().try_for_each(|c| {
        non_empty(&c.name, codes::EMPTY_NAME, "contact name")?;
        at_most(&c.name, MAX_NAME_CHARS, "contact name")?;
        short(c.phone.as_deref(), "contact phone")?;
        short(c.email.as_deref(), "contact email")
    })
}

/// Keeps only the fields whose value differs from the client's.
fn effective(client: &Client, changes: ClientChanges) -> ClientChanges {
    fn differing<T: PartialEq>(new: Option<T>, current: &T) -> Option<T> {
        new.filter(|value| value != current)
    }
    ClientChanges {
        name: differing(changes.name, &client.name),
        kind: differing(changes.kind, &client.kind),
        size: differing(changes.size, &client.size),
        industry: differing(changes.industry, &client.industry),
        region: differing(changes.region, &client.region),
        source: differing(changes.source, &client.source),
        contacts: differing(changes.contacts, &client.contacts),
    }
}

impl Aggregate for ClientState {
    const ENTITY: &'static str = "client";
    type Entity = Client;
    type Command = ClientCommand;

    fn entity(&self) -> Option<&Client> {
        self.client.as_ref()
    }
    fn id(&self) -> Option<Uuid> {
        self.client.as_ref().map(|c| c.id)
    }
    fn responsible(&self) -> Vec<Uuid> {
        self.client.iter().map(|c| c.manager_id).collect()
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn evolve(self, event: &DomainEvent) -> Self {
        evolve(self, event)
    }
    fn decide(&self, command: ClientCommand) -> Result<Vec<DomainEvent>, DomainError> {
        decide(self, command)
    }
}

#[cfg(test)]
mod tests;
