//! The manager aggregate (`manager-<uuid>`): registration, deactivation, and the
//! handover of his book (see [`crate::handover`]).

use serde::Serialize;
use uuid::Uuid;

use crate::aggregate::{absent, own, target, Aggregate, HasId};
use crate::events::{ManagerDeactivated, ManagerRegistered};
use crate::handover::{handover, Handover};
use crate::rules::{at_most, inactive, non_empty, short, MAX_NAME_CHARS};
use crate::values::Role;
use crate::{codes, DomainError, DomainEvent};

/// A registered manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manager {
    /// Id.
    pub id: Uuid,
    /// Full name.
    pub name: String,
    /// Work email.
    pub email: Option<String>,
    /// Department.
    pub department: String,
    /// Role.
    pub role: Role,
    /// False once deactivated: he can no longer be made responsible for anything.
    pub active: bool,
}

impl HasId for Manager {
    fn id(&self) -> Uuid {
        self.id
    }
}

/// A manager's state; the default is "not registered".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ManagerState {
    /// Events folded from the stream.
    pub version: i64,
    /// The manager, once registered.
    pub manager: Option<Manager>,
}

/// What can be asked of a manager.
#[derive(Debug, Clone, PartialEq)]
pub enum ManagerCommand {
    /// `POST /managers`.
    Register {
        /// The new manager's id.
        manager_id: Uuid,
        /// Full name, not blank.
        name: String,
        /// Work email.
        email: Option<String>,
        /// Department, not blank.
        department: String,
        /// Role.
        role: Role,
    },
    /// `POST /managers/{id}/deactivate`: refused when already deactivated.
    Deactivate {
        /// The manager.
        manager_id: Uuid,
    },
    /// `POST /managers/{id}/handover`: see [`crate::handover`].
    Handover {
        /// The manager handing over (active or not).
        manager_id: Uuid,
        /// The receiving manager and the entities to hand over.
        handover: Handover,
    },
}

/// Applies one event to a manager's state.
pub fn evolve(mut state: ManagerState, event: &DomainEvent) -> ManagerState {
    if apply(&mut state, event) {
        state.version += 1;
    }
    state
}

fn apply(state: &mut ManagerState, event: &DomainEvent) -> bool {
    match event {
        DomainEvent::ManagerRegistered(e) if state.manager.is_none() => {
            state.manager = Some(Manager {
                id: e.manager_id,
                name: e.name.clone(),
                email: e.email.clone(),
                department: e.department.clone(),
                role: e.role,
                active: true,
            });
        }
        DomainEvent::ManagerDeactivated(e) => match own(&mut state.manager, e.manager_id) {
            Some(manager) => manager.active = false,
            None => return false,
        },
        _ => return false,
    }
    true
}

/// Folds a manager's stream.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a DomainEvent>) -> ManagerState {
    ManagerState::fold(events)
}

/// Decides a manager command.
pub fn decide(
    state: &ManagerState,
    command: ManagerCommand,
) -> Result<Vec<DomainEvent>, DomainError> {
    match command {
        ManagerCommand::Register {
            manager_id,
            name,
            email,
            department,
            role,
        } => {
            absent(state)?;
            non_empty(&name, codes::EMPTY_NAME, "name")?;
            non_empty(&department, codes::EMPTY_DEPARTMENT, "department")?;
            at_most(&name, MAX_NAME_CHARS, "name")?;
            at_most(&department, MAX_NAME_CHARS, "department")?;
            short(email.as_deref(), "email")?;
            Ok(vec![DomainEvent::ManagerRegistered(ManagerRegistered {
                manager_id,
                name,
                email,
                department,
                role,
            })])
        }
        ManagerCommand::Deactivate { manager_id } => {
            let manager = target(state, manager_id)?;
            if !manager.active {
                return Err(inactive(manager));
            }
            Ok(vec![DomainEvent::ManagerDeactivated(ManagerDeactivated {
                manager_id,
            })])
        }
        ManagerCommand::Handover {
            manager_id,
            handover: h,
        } => handover(target(state, manager_id)?, h),
    }
}

impl Aggregate for ManagerState {
    const ENTITY: &'static str = "manager";
    type Entity = Manager;
    type Command = ManagerCommand;

    fn entity(&self) -> Option<&Manager> {
        self.manager.as_ref()
    }
    fn id(&self) -> Option<Uuid> {
        self.manager.as_ref().map(|m| m.id)
    }
    fn responsible(&self) -> Vec<Uuid> {
        self.manager.iter().map(|m| m.id).collect()
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn evolve(self, event: &DomainEvent) -> Self {
        evolve(self, event)
    }
    fn decide(&self, command: ManagerCommand) -> Result<Vec<DomainEvent>, DomainError> {
        decide(self, command)
    }
}

#[cfg(test)]
mod tests;
