//! The errors of the projector runtime and of projections.

use std::time::Duration;

use crm_eventlog::EventLogError;

/// Everything that can go wrong while projecting or asking about projections.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// A projection refused an event (bad payload, broken invariant…).
    #[error("{0}")]
    Failed(String),
    /// A database statement failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// Reading the event log failed.
    #[error("event log error")]
    EventLog(#[from] EventLogError),
    /// The schema migrations could not be applied.
    #[error("cannot migrate the projections schema")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The projection did not reflect the event in time (read-your-writes).
    #[error("projection {name} does not reflect position {position} after {waited:?}")]
    Lagging {
        /// The projection waited for.
        name: String,
        /// The event's position.
        position: i64,
        /// How long the caller waited.
        waited: Duration,
    },
    /// The projection is marked failed on an event at or before the one waited for
    /// (read-your-writes): it cannot reflect it until an operator repairs it.
    #[error("projection {name} failed on the event at position {failed_position} ({error}): it cannot reflect position {position} until repaired")]
    FailedBefore {
        /// The projection waited for.
        name: String,
        /// The position waited for.
        position: i64,
        /// The position of the event it failed on.
        failed_position: i64,
        /// Its error.
        error: String,
    },
    /// An operator's repair was refused (see `crate::repairs`).
    #[error("cannot repair: {0}")]
    Repair(String),
    /// No event has this position.
    #[error("no event at position {0}")]
    UnknownEvent(i64),
    /// Two projections of one set share a name.
    #[error("two projections are named {0}")]
    DuplicateName(String),
    /// A checkpoint row does not have the shape this crate writes.
    #[error("corrupt checkpoint of projection {name}: {reason}")]
    Corrupt {
        /// The projection.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The advisory lock's connection was lost: another runner may take over.
    #[error("lost the lock of projection {0}")]
    LockLost(String),
}

impl ProjectionError {
    /// A projection's own refusal, with a message.
    pub fn failed(message: impl Into<String>) -> Self {
        ProjectionError::Failed(message.into())
    }

    /// True when the database is unreachable for now (connection lost, server
    /// restarting, no free connection): the runner then reconnects instead of
    /// marking its projection failed.
    pub fn is_transient(&self) -> bool {
        match self {
            ProjectionError::Database(err) => is_transient_sqlx(err),
            ProjectionError::EventLog(err) => err.is_unavailable(),
            ProjectionError::LockLost(_) => true,
            _ => false,
        }
    }

    /// The error and its sources as one line, for `last_error` and logs.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(err) = source {
            text.push_str(": ");
            text.push_str(&err.to_string());
            source = err.source();
        }
        text
    }
}

fn is_transient_sqlx(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
        }),
        _ => false,
    }
}
