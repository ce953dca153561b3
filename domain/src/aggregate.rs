//! The [`Aggregate`] trait every aggregate state implements, and [`Ref`]: how a
//! command carries the folded state of another entity it names.

use std::fmt::Debug;

use uuid::Uuid;

use crate::{DomainError, DomainEvent};

/// An aggregate's state, folded from its stream. `Default` is "does not exist yet".
pub trait Aggregate: Default + Clone + Debug {
    /// The entity's name in errors: `deal`, `client`, …
    const ENTITY: &'static str;
    /// The entity's data when it exists.
    type Entity;
    /// The commands it decides.
    type Command;

    /// The entity, if it exists.
    fn entity(&self) -> Option<&Self::Entity>;
    /// The entity's id, if it exists.
    fn id(&self) -> Option<Uuid>;
    /// The version of its stream: how many of its events were folded (0: none).
    fn version(&self) -> i64;
    /// Applies one event; events of other entities leave it unchanged.
    fn evolve(self, event: &DomainEvent) -> Self;
    /// The events a command produces, or why it is refused.
    fn decide(&self, command: Self::Command) -> Result<Vec<DomainEvent>, DomainError>;
    /// The managers who answer for the entity, and so may act on it: its manager, a
    /// task's assignee and co-executors; empty when it does not exist or no one does.
    fn responsible(&self) -> Vec<Uuid> {
        Vec::new()
    }
    /// The managers who follow the entity without answering for it: they read it but
    /// do not change it (a task's observers).
    fn watchers(&self) -> Vec<Uuid> {
        Vec::new()
    }
    /// The managers who may read the entity: who answers for it and who watches it.
    fn readers(&self) -> Vec<Uuid> {
        let mut readers = self.responsible();
        readers.extend(self.watchers());
        readers
    }

    /// Folds events (typically one stream, oldest first) from the empty state.
    fn fold<'a>(events: impl IntoIterator<Item = &'a DomainEvent>) -> Self {
        events.into_iter().fold(Self::default(), Self::evolve)
    }
}

/// Another entity named by a command: the id the command gave, and the state the
/// caller folded from that id's stream (the default state when the stream is empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Ref<S> {
    /// The id the command names.
    pub id: Uuid,
    /// The state folded from that id's stream.
    pub state: S,
}

impl<S: Aggregate> Ref<S> {
    /// A reference to `id` with its folded state.
    pub fn new(id: Uuid, state: S) -> Self {
        Ref { id, state }
    }

    /// A reference to `id` whose stream is empty.
    pub fn missing(id: Uuid) -> Self {
        Ref {
            id,
            state: S::default(),
        }
    }

    /// The entity, or [`DomainError::ReferenceNotFound`] (also when the state is
    /// another entity's than `id`).
    pub fn get(&self) -> Result<&S::Entity, DomainError> {
        implied(&self.state, self.id)
    }
}

/// The entity a command is about, or [`DomainError::NotFound`].
pub(crate) fn target<S: Aggregate>(state: &S, id: Uuid) -> Result<&S::Entity, DomainError> {
    match state.entity() {
        Some(entity) if state.id() == Some(id) => Ok(entity),
        _ => Err(DomainError::NotFound {
            entity: S::ENTITY,
            id,
        }),
    }
}

/// An entity a command implies (a deal's pipeline, a lead's manager), passed as a
/// bare state: it must be the entity `id`, else [`DomainError::ReferenceNotFound`].
pub(crate) fn implied<S: Aggregate>(state: &S, id: Uuid) -> Result<&S::Entity, DomainError> {
    match state.entity() {
        Some(entity) if state.id() == Some(id) => Ok(entity),
        _ => Err(DomainError::ReferenceNotFound {
            entity: S::ENTITY,
            id,
        }),
    }
}

/// Refuses a create command when the entity exists.
pub(crate) fn absent<S: Aggregate>(state: &S) -> Result<(), DomainError> {
    match state.id() {
        Some(id) => Err(DomainError::AlreadyExists {
            entity: S::ENTITY,
            id,
        }),
        None => Ok(()),
    }
}

/// The entity in `slot` when it is the one with `id` (for `evolve`).
pub(crate) fn own<T: HasId>(slot: &mut Option<T>, id: Uuid) -> Option<&mut T> {
    slot.as_mut().filter(|entity| entity.id() == id)
}

/// Entity data that knows its id.
pub(crate) trait HasId {
    /// The entity's id.
    fn id(&self) -> Uuid;
}
