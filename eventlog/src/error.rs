//! The errors of the event log.

use uuid::Uuid;

use crate::event::ExpectedVersion;

/// Everything that can go wrong when appending to or reading from the log.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// A stream was not at the version the append expected; nothing was appended.
    #[error("stream {stream} is at version {actual}, expected {expected}")]
    Conflict {
        /// The stream whose expectation failed.
        stream: String,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// The stream's actual version (0: no such stream).
        actual: i64,
    },
    /// An event id is already stored with other content; nothing was appended.
    #[error("event {event_id} is already stored with other content")]
    Duplicate {
        /// The reused event id.
        event_id: Uuid,
    },
    /// The stream has no events.
    #[error("stream {stream} not found")]
    NotFound {
        /// The stream asked for.
        stream: String,
    },
    /// The request itself is malformed (an empty append, a bad stream name, a bad cursor…).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// PostgreSQL cannot be reached or refuses connections for now; retrying later may work.
    #[error("the event store is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Stored data does not have the shape the log writes.
    #[error("corrupt data in the event log: {0}")]
    Corrupt(String),
    /// The database failed in a way the log does not expect.
    #[error("event store failure")]
    Database(#[source] sqlx::Error),
    /// The data subject's key was destroyed (erased): no new personal data of it is
    /// stored; nothing was appended.
    #[error("the personal data of {subject} was erased")]
    SubjectErased {
        /// The erased data subject.
        subject: Uuid,
    },
    /// The schema migrations could not be applied.
    #[error("cannot migrate the event log schema")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl EventLogError {
    /// True when the error is transient and the same call may succeed later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, EventLogError::Unavailable(_))
    }
}

/// SQLSTATE classes and codes that mean "the database is not there right now".
fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources (too many connections, …)
        || matches!(code, "57P01" | "57P02" | "57P03") // shutdown, crash shutdown, cannot connect now
}

impl From<sqlx::Error> for EventLogError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => EventLogError::Unavailable(err),
            sqlx::Error::Protocol(_) => EventLogError::Unavailable(err),
            sqlx::Error::Database(db) => match db.code() {
                Some(code) if is_unavailable_code(&code) => EventLogError::Unavailable(err),
                Some(code) if code.starts_with("22") => {
                    EventLogError::Invalid(db.message().to_string())
                }
                _ => EventLogError::Database(err),
            },
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                EventLogError::Corrupt(err.to_string())
            }
            _ => EventLogError::Database(err),
        }
    }
}
