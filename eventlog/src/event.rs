//! The envelope: events to append, events as stored, their metadata.

use std::fmt;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::EventLogError;
use crate::feed::Cursor;

/// What the caller expects a stream's version to be before an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream's version.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be exactly at this version (its last event's version).
    Exact(i64),
}

impl ExpectedVersion {
    /// The encoding the append function takes: NULL any, 0 no stream, n exact.
    pub(crate) fn as_db(self) -> Option<i64> {
        match self {
            ExpectedVersion::Any => None,
            ExpectedVersion::NoStream => Some(0),
            ExpectedVersion::Exact(n) => Some(n),
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(n) => write!(f, "{n}"),
        }
    }
}

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A command through the HTTP API.
    #[default]
    Api,
    /// A bulk import of history.
    Import,
    /// An automatic rule of the system.
    Automation,
}

/// Who caused an event and in answer to what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Metadata {
    /// The token owner who issued the command.
    pub actor: Option<String>,
    /// Groups the events of one business conversation.
    pub correlation_id: Option<Uuid>,
    /// The event or command that caused this one.
    pub causation_id: Option<Uuid>,
    /// The HTTP request that appended the event.
    pub request_id: Option<String>,
    /// Where the event came from.
    pub source: Source,
    /// The automation rule that appended it (with `source: automation`); absent
    /// otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<Uuid>,
}

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Unique in the whole log; appending the same id again is idempotent.
    pub event_id: Uuid,
    /// The event's type name, e.g. `DealStageChanged`.
    pub event_type: String,
    /// The payload's schema version, 1 and up.
    pub schema_version: i32,
    /// Business time of the fact.
    pub occurred_at: DateTime<Utc>,
    /// The payload.
    pub data: Value,
    /// Who and why.
    pub metadata: Metadata,
}

impl NewEvent {
    /// A new event with a fresh id, schema version 1, occurring now, with default metadata.
    pub fn new(event_type: impl Into<String>, data: Value) -> Self {
        NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version: 1,
            occurred_at: Utc::now(),
            data,
            metadata: Metadata::default(),
        }
    }

    /// The same event with this business time.
    pub fn occurred_at(mut self, at: DateTime<Utc>) -> Self {
        self.occurred_at = at;
        self
    }

    /// The same event with this metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// The same event with this id.
    pub fn with_id(mut self, event_id: Uuid) -> Self {
        self.event_id = event_id;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), EventLogError> {
        validate_name("event type", &self.event_type)?;
        if self.schema_version < 1 {
            return Err(EventLogError::Invalid(format!(
                "event {}: schema_version must be at least 1",
                self.event_id
            )));
        }
        if has_nul(&self.data) {
            return Err(EventLogError::Invalid(format!(
                "event {}: the payload contains a NUL character, which PostgreSQL cannot store",
                self.event_id
            )));
        }
        let year = self.occurred_at.year();
        if !(1..=9999).contains(&year) {
            return Err(EventLogError::Invalid(format!(
                "event {}: occurred_at year {year} is out of range",
                self.event_id
            )));
        }
        Ok(())
    }
}

/// True when a string or key anywhere in `value` holds U+0000.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Stream names and event types: 1 to 200 characters, none of them control characters.
pub(crate) fn validate_name(what: &str, name: &str) -> Result<(), EventLogError> {
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(EventLogError::Invalid(format!(
            "{what} must be 1 to 200 characters without control characters: {name:?}"
        )));
    }
    Ok(())
}

/// An event as stored in the log, with its full envelope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedEvent {
    /// Global position: increasing with each append, unique in the log.
    pub position: i64,
    /// The id of the transaction that appended it; with `position`, its place in the feed.
    pub tx_id: i64,
    /// The event's unique id.
    pub event_id: Uuid,
    /// The stream it belongs to.
    pub stream: String,
    /// 1, 2, 3… within the stream.
    pub version: i64,
    /// The event's type name.
    pub event_type: String,
    /// The payload's schema version.
    pub schema_version: i32,
    /// Business time of the fact.
    pub occurred_at: DateTime<Utc>,
    /// The database's clock when it was appended.
    pub recorded_at: DateTime<Utc>,
    /// The payload.
    pub data: Value,
    /// Who and why.
    pub metadata: Metadata,
    /// SHA-256 over the previous event's hash in the stream and this event's canonical bytes.
    #[serde(serialize_with = "hex_bytes")]
    pub hash: Vec<u8>,
}

impl RecordedEvent {
    /// The feed cursor just after this event.
    pub fn cursor(&self) -> Cursor {
        Cursor::after(self.tx_id, self.position)
    }
}

fn hex_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

/// The columns every read selects (from `eventlog.events e`), as [`row_to_event`] decodes them.
macro_rules! event_columns {
    () => {
        "e.position, e.tx_id, e.event_id, e.stream_id, e.version, e.event_type, \
         e.schema_version, e.occurred_at, e.recorded_at, e.data, e.metadata, e.hash"
    };
}
pub(crate) use event_columns;

/// Decodes one row selected with [`event_columns`] (after any other columns): the
/// columns are taken by their place, found once from `position`'s, and the metadata
/// straight from its JSON.
pub(crate) fn row_to_event(row: &sqlx::postgres::PgRow) -> Result<RecordedEvent, EventLogError> {
    use sqlx::{Column, Row};
    let base = row.try_column("position")?.ordinal();
    let position: i64 = row.try_get(base)?;
    let metadata = match row.try_get::<sqlx::types::Json<Metadata>, _>(base + 10) {
        Ok(sqlx::types::Json(metadata)) => metadata,
        Err(sqlx::Error::ColumnDecode { source, .. }) => {
            return Err(EventLogError::Corrupt(format!(
                "metadata of the event at position {position}: {source}"
            )))
        }
        Err(err) => return Err(err.into()),
    };
    Ok(RecordedEvent {
        position,
        tx_id: row.try_get(base + 1)?,
        event_id: row.try_get(base + 2)?,
        stream: row.try_get(base + 3)?,
        version: row.try_get(base + 4)?,
        event_type: row.try_get(base + 5)?,
        schema_version: row.try_get(base + 6)?,
        occurred_at: row.try_get(base + 7)?,
        recorded_at: row.try_get(base + 8)?,
        data: row.try_get(base + 9)?,
        metadata,
        hash: row.try_get(base + 11)?,
    })
}
