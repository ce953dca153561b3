//! [`DomainError`]: why a command was refused, with a stable machine code.

use uuid::Uuid;

use crate::codes;

/// A command refused by the domain. Nothing is to be appended.
///
/// The API maps [`DomainError::NotFound`] to 404 (the entity the command is about),
/// [`DomainError::AlreadyExists`] to 409 (or to an idempotent replay when the
/// caller recognises its own create), and the rest to 422 with [`DomainError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The entity the command is about does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// The kind of entity: `deal`, `client`, …
        entity: &'static str,
        /// Its id.
        id: Uuid,
    },
    /// An entity the command refers to (a manager, client, pipeline…) does not exist.
    #[error("the referenced {entity} {id} does not exist")]
    ReferenceNotFound {
        /// The kind of entity: `manager`, `pipeline`, …
        entity: &'static str,
        /// Its id.
        id: Uuid,
    },
    /// A create command for an entity that exists already.
    #[error("{entity} {id} already exists")]
    AlreadyExists {
        /// The kind of entity.
        entity: &'static str,
        /// Its id.
        id: Uuid,
    },
    /// A domain rule refused the command.
    #[error("{message}")]
    Rule {
        /// Stable machine word naming the rule (see [`crate::codes`]).
        code: &'static str,
        /// What the rule says, for a person.
        message: String,
    },
}

impl DomainError {
    /// A refusal by the rule `code`.
    pub fn rule(code: &'static str, message: impl Into<String>) -> Self {
        DomainError::Rule {
            code,
            message: message.into(),
        }
    }

    /// The stable machine word of this error, for problem+json's `code`.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::NotFound { .. } => codes::NOT_FOUND,
            DomainError::ReferenceNotFound { .. } => codes::REFERENCE_NOT_FOUND,
            DomainError::AlreadyExists { .. } => codes::ALREADY_EXISTS,
            DomainError::Rule { code, .. } => code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_code() {
        let id = Uuid::nil();
        assert_eq!(
            DomainError::NotFound { entity: "deal", id }.code(),
            "not_found"
        );
        assert_eq!(
            DomainError::ReferenceNotFound {
                entity: "manager",
                id
            }
            .code(),
            "reference_not_found"
        );
        assert_eq!(
            DomainError::AlreadyExists { entity: "deal", id }.code(),
            "already_exists"
        );
        let rule = DomainError::rule(codes::DEAL_CLOSED, "the deal is won");
        assert_eq!(rule.code(), "deal_closed");
        assert_eq!(rule.to_string(), "the deal is won");
    }
}
