//! An analyst's custom projection (`projection-<uuid>`, the id derived from its name):
//! defined, redefined and dropped through the log, so its history is auditable. The
//! definition itself is checked by the projections crate, which knows how to run it;
//! here are the lifecycle rules.

use serde_json::Value;
use uuid::Uuid;

use crate::aggregate::{absent, target, Aggregate};
use crate::events::{ProjectionDefined, ProjectionDropped, ProjectionRedefined};
use crate::{codes, DomainError, DomainEvent};

/// The namespace of the UUIDs derived from projection names.
const NAMESPACE: Uuid = Uuid::from_u128(0x6372_6d2d_7072_6f6a_6563_7469_6f6e_7321);

/// The id of the custom projection called `name` (the same name, the same stream).
pub fn id_of(name: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

/// True for 1–48 lowercase ASCII letters, digits or `_`, starting with a letter: a
/// name that is safe in table names and URLs.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && name.len() <= 48
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A defined (and not dropped) custom projection.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CustomProjection {
    /// Its id (derived from its name).
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its current definition.
    pub definition: Value,
    /// The stream version of the event that gave the current definition: each
    /// definition is built as a generation of its own.
    pub generation: i64,
}

/// A custom projection's state; the default is "never defined".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomProjectionState {
    /// Events folded from the stream.
    pub version: i64,
    /// The projection while defined; None before its definition and after a drop.
    pub projection: Option<CustomProjection>,
}

/// What can be asked of a custom projection.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomProjectionCommand {
    /// `POST /projections`: a new projection (or a name dropped before, again).
    Define {
        /// Its name.
        name: String,
        /// Its definition, already checked.
        definition: Value,
    },
    /// `PUT /projections/{name}`: a new definition for a defined projection.
    Redefine {
        /// Its name.
        name: String,
        /// The new definition, already checked.
        definition: Value,
    },
    /// `DELETE /projections/{name}`.
    Drop {
        /// Its name.
        name: String,
    },
}

/// Applies one event to a custom projection's state.
pub fn evolve(mut state: CustomProjectionState, event: &DomainEvent) -> CustomProjectionState {
    let version = state.version + 1;
    match event {
        DomainEvent::ProjectionDefined(e) => {
            state.projection = Some(CustomProjection {
                id: e.projection_id,
                name: e.name.clone(),
                definition: e.definition.clone(),
                generation: version,
            });
        }
        DomainEvent::ProjectionRedefined(e) => match state.projection.as_mut() {
            Some(p) if p.id == e.projection_id => {
                p.definition = e.definition.clone();
                p.generation = version;
            }
            _ => return state,
        },
        DomainEvent::ProjectionDropped(e) => {
            if state.projection.as_ref().map(|p| p.id) != Some(e.projection_id) {
                return state;
            }
            state.projection = None;
        }
        _ => return state,
    }
    state.version = version;
    state
}

/// Decides a custom projection command.
pub fn decide(
    state: &CustomProjectionState,
    command: CustomProjectionCommand,
) -> Result<Vec<DomainEvent>, DomainError> {
    match command {
        CustomProjectionCommand::Define { name, definition } => {
            check_name(&name)?;
            absent(state)?;
            Ok(vec![DomainEvent::ProjectionDefined(ProjectionDefined {
                projection_id: id_of(&name),
                name,
                definition,
            })])
        }
        CustomProjectionCommand::Redefine { name, definition } => {
            let projection = target(state, id_of(&name))?;
            if projection.definition == definition {
                // The same definition again: nothing to rebuild.
                return Ok(vec![]);
            }
            Ok(vec![DomainEvent::ProjectionRedefined(
                ProjectionRedefined {
                    projection_id: projection.id,
                    definition,
                },
            )])
        }
        CustomProjectionCommand::Drop { name } => {
            let projection = target(state, id_of(&name))?;
            Ok(vec![DomainEvent::ProjectionDropped(ProjectionDropped {
                projection_id: projection.id,
            })])
        }
    }
}

fn check_name(name: &str) -> Result<(), DomainError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(DomainError::rule(
            codes::INVALID_PROJECTION_NAME,
            format!(
                "projection name {name:?} must be 1-48 lowercase letters, digits or _, \
                 starting with a letter"
            ),
        ))
    }
}

impl Aggregate for CustomProjectionState {
    const ENTITY: &'static str = "projection";
    type Entity = CustomProjection;
    type Command = CustomProjectionCommand;

    fn entity(&self) -> Option<&CustomProjection> {
        self.projection.as_ref()
    }
    fn id(&self) -> Option<Uuid> {
        self.projection.as_ref().map(|p| p.id)
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn evolve(self, event: &DomainEvent) -> Self {
        evolve(self, event)
    }
    fn decide(&self, command: CustomProjectionCommand) -> Result<Vec<DomainEvent>, DomainError> {
        decide(self, command)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::given;

    fn defined(name: &str, definition: Value) -> DomainEvent {
        DomainEvent::ProjectionDefined(ProjectionDefined {
            projection_id: id_of(name),
            name: name.into(),
            definition,
        })
    }

    #[test]
    fn a_new_name_is_defined() {
        given::<CustomProjectionState>([])
            .when(CustomProjectionCommand::Define {
                name: "calls".into(),
                definition: json!({"a": 1}),
            })
            .then(vec![defined("calls", json!({"a": 1}))]);
    }

    #[test]
    fn a_defined_name_is_not_defined_twice() {
        given::<CustomProjectionState>([defined("calls", json!({}))])
            .when(CustomProjectionCommand::Define {
                name: "calls".into(),
                definition: json!({}),
            })
            .then_error(codes::ALREADY_EXISTS);
    }

    #[test]
    fn bad_names_are_refused() {
        for name in ["", "Calls", "1calls", "calls-per-day", &"a".repeat(49)] {
            given::<CustomProjectionState>([])
                .when(CustomProjectionCommand::Define {
                    name: name.into(),
                    definition: json!({}),
                })
                .then_error(codes::INVALID_PROJECTION_NAME);
        }
    }

    #[test]
    fn a_redefinition_starts_a_new_generation_and_the_same_one_is_a_no_op() {
        let state = given::<CustomProjectionState>([defined("calls", json!({"a": 1}))])
            .when(CustomProjectionCommand::Redefine {
                name: "calls".into(),
                definition: json!({"a": 2}),
            })
            .then(vec![DomainEvent::ProjectionRedefined(
                ProjectionRedefined {
                    projection_id: id_of("calls"),
                    definition: json!({"a": 2}),
                },
            )]);
        // `then` folds the new events too: the redefinition is generation 2.
        assert_eq!(state.projection.map(|p| p.generation), Some(2));
        given::<CustomProjectionState>([defined("calls", json!({"a": 1}))])
            .when(CustomProjectionCommand::Redefine {
                name: "calls".into(),
                definition: json!({"a": 1}),
            })
            .then(vec![]);
        let redefined = CustomProjectionState::fold(&[
            defined("calls", json!({"a": 1})),
            DomainEvent::ProjectionRedefined(ProjectionRedefined {
                projection_id: id_of("calls"),
                definition: json!({"a": 2}),
            }),
        ]);
        let p = redefined.projection.expect("defined");
        assert_eq!((p.generation, p.definition), (2, json!({"a": 2})));
    }

    #[test]
    fn a_dropped_projection_is_gone_and_its_name_free_again() {
        let dropped = DomainEvent::ProjectionDropped(ProjectionDropped {
            projection_id: id_of("calls"),
        });
        given::<CustomProjectionState>([defined("calls", json!({})), dropped.clone()])
            .when(CustomProjectionCommand::Drop {
                name: "calls".into(),
            })
            .then_error(codes::NOT_FOUND);
        given::<CustomProjectionState>([])
            .when(CustomProjectionCommand::Redefine {
                name: "calls".into(),
                definition: json!({}),
            })
            .then_error(codes::NOT_FOUND);
        let state = given::<CustomProjectionState>([defined("calls", json!({})), dropped])
            .when(CustomProjectionCommand::Define {
                name: "calls".into(),
                definition: json!({"b": 1}),
            })
            .then(vec![defined("calls", json!({"b": 1}))]);
        assert_eq!(state.version, 3);
        assert_eq!(state.projection.map(|p| p.generation), Some(3));
    }
}
