//! Appending events: one stream or several, atomically, with expected versions.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

use crate::error::EventLogError;
use crate::event::{validate_name, ExpectedVersion, NewEvent};
use crate::feed::Cursor;
use crate::store::EventLog;

/// Events to append to one stream, with the version it must be at.
#[derive(Debug, Clone)]
pub struct StreamAppend {
    /// The stream, e.g. `deal-<uuid>`.
    pub stream: String,
    /// The version the stream must be at before the append.
    pub expected: ExpectedVersion,
    /// The events, in order.
    pub events: Vec<NewEvent>,
}

impl StreamAppend {
    /// Events for `stream`, expected at `expected`.
    pub fn new(
        stream: impl Into<String>,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Self {
        StreamAppend {
            stream: stream.into(),
            expected,
            events,
        }
    }
}

/// Where one appended event landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The event's id.
    pub event_id: Uuid,
    /// Its stream.
    pub stream: String,
    /// Its version in the stream.
    pub version: i64,
    /// Its global position.
    pub position: i64,
    /// The appending transaction's id.
    pub tx_id: i64,
    /// The database's clock at the append.
    pub recorded_at: DateTime<Utc>,
}

/// The result of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Every event of the append, in the order given.
    pub events: Vec<Appended>,
    /// True when every event was already stored and nothing was written.
    pub replayed: bool,
}

impl AppendOutcome {
    /// The global position of the append's last event.
    pub fn last_position(&self) -> i64 {
        self.events.last().map_or(0, |e| e.position)
    }

    /// The version `stream` reached with this append, if the append touched it.
    pub fn version_of(&self, stream: &str) -> Option<i64> {
        self.events
            .iter()
            .filter(|e| e.stream == stream)
            .map(|e| e.version)
            .max()
    }

    /// The feed cursor just after the append's last event.
    pub fn cursor(&self) -> Cursor {
        self.events
            .iter()
            .map(|e| Cursor::after(e.tx_id, e.position))
            .max()
            .unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct ConflictDetail {
    stream: String,
    actual: i64,
}

#[derive(Deserialize)]
struct DuplicateDetail {
    event_id: Uuid,
}

impl EventLog {
    /// Appends `events` to `stream` atomically if it is at `expected`.
    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, EventLogError> {
        self.append_multi(vec![StreamAppend::new(stream, expected, events)])
            .await
    }

    /// Appends to several streams in one transaction: all events or none, each
    /// stream checked against its own expected version.
    #[tracing::instrument(name = "eventlog.append", skip_all, fields(streams = batches.len()))]
    pub async fn append_multi(
        &self,
        batches: Vec<StreamAppend>,
    ) -> Result<AppendOutcome, EventLogError> {
        let args = AppendArgs::build(&batches)?;
        let rows = sqlx::query(
            "SELECT r_event_id, r_stream_id, r_version, r_position, r_tx_id, r_recorded_at, r_replayed \
             FROM eventlog.append($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&args.streams)
        .bind(&args.expected)
        .bind(&args.event_stream)
        .bind(&args.event_ids)
        .bind(&args.types)
        .bind(&args.schema_versions)
        .bind(&args.occurred_at)
        .bind(&args.data)
        .bind(&args.metadata)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| map_append_error(e, &batches))?;

        let mut replayed = false;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            replayed = row.try_get("r_replayed")?;
            events.push(Appended {
                event_id: row.try_get("r_event_id")?,
                stream: row.try_get("r_stream_id")?,
                version: row.try_get("r_version")?,
                position: row.try_get("r_position")?,
                tx_id: row.try_get("r_tx_id")?,
                recorded_at: row.try_get("r_recorded_at")?,
            });
        }
        if !replayed {
            self.notifier.poke();
        }
        Ok(AppendOutcome { events, replayed })
    }
}

/// The append function's arguments: one array per column.
struct AppendArgs {
    streams: Vec<String>,
    expected: Vec<Option<i64>>,
    event_stream: Vec<i32>,
    event_ids: Vec<Uuid>,
    types: Vec<String>,
    schema_versions: Vec<i32>,
    occurred_at: Vec<DateTime<Utc>>,
    data: Vec<Value>,
    metadata: Vec<Value>,
}

impl AppendArgs {
    fn build(batches: &[StreamAppend]) -> Result<Self, EventLogError> {
        let total: usize = batches.iter().map(|b| b.events.len()).sum();
        if total == 0 {
            return Err(EventLogError::Invalid(
                "an append needs at least one event".into(),
            ));
        }
        let mut args = AppendArgs {
            streams: Vec::with_capacity(batches.len()),
            expected: Vec::with_capacity(batches.len()),
            event_stream: Vec::with_capacity(total),
            event_ids: Vec::with_capacity(total),
            types: Vec::with_capacity(total),
            schema_versions: Vec::with_capacity(total),
            occurred_at: Vec::with_capacity(total),
            data: Vec::with_capacity(total),
            metadata: Vec::with_capacity(total),
        };
        let mut seen_streams = HashSet::new();
        let mut seen_ids = HashSet::new();
        for (index, batch) in batches.iter().enumerate() {
            validate_name("stream", &batch.stream)?;
            if !seen_streams.insert(batch.stream.as_str()) {
                return Err(EventLogError::Invalid(format!(
                    "stream {} appears twice in one append",
                    batch.stream
                )));
            }
            if batch.events.is_empty() {
                return Err(EventLogError::Invalid(format!(
                    "no events for stream {}",
                    batch.stream
                )));
            }
            if let ExpectedVersion::Exact(n) = batch.expected {
                if n < 1 {
                    return Err(EventLogError::Invalid(format!(
                        "expected version {n} of stream {}: exact versions start at 1",
                        batch.stream
                    )));
                }
            }
            args.streams.push(batch.stream.clone());
            args.expected.push(batch.expected.as_db());
            let stream_index = i32::try_from(index + 1)
                .map_err(|_| EventLogError::Invalid("too many streams in one append".into()))?;
            for event in &batch.events {
                event.validate()?;
                if !seen_ids.insert(event.event_id) {
                    return Err(EventLogError::Invalid(format!(
                        "event id {} appears twice in one append",
                        event.event_id
                    )));
                }
                let metadata = serde_json::to_value(&event.metadata)
                    .map_err(|e| EventLogError::Invalid(format!("metadata: {e}")))?;
                args.event_stream.push(stream_index);
                args.event_ids.push(event.event_id);
                args.types.push(event.event_type.clone());
                args.schema_versions.push(event.schema_version);
                args.occurred_at.push(event.occurred_at);
                args.data.push(event.data.clone());
                args.metadata.push(metadata);
            }
        }
        Ok(args)
    }
}

/// Turns the append function's own errors into typed ones.
fn map_append_error(err: sqlx::Error, batches: &[StreamAppend]) -> EventLogError {
    if let sqlx::Error::Database(db) = &err {
        let detail = db
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .and_then(|pg| pg.detail().map(str::to_owned));
        match (db.code().as_deref(), detail) {
            (Some("CR001"), Some(detail)) => {
                if let Ok(c) = serde_json::from_str::<ConflictDetail>(&detail) {
                    let expected = batches
                        .iter()
                        .find(|b| b.stream == c.stream)
                        .map_or(ExpectedVersion::Any, |b| b.expected);
                    return EventLogError::Conflict {
                        stream: c.stream,
                        expected,
                        actual: c.actual,
                    };
                }
            }
            (Some("CR002"), Some(detail)) => {
                if let Ok(d) = serde_json::from_str::<DuplicateDetail>(&detail) {
                    return EventLogError::Duplicate {
                        event_id: d.event_id,
                    };
                }
            }
            // Two concurrent appends of one event id to different streams.
            (Some("23505"), detail) if db.constraint() == Some("events_event_id_key") => {
                // DETAIL reads "Key (event_id)=(<uuid>) already exists."
                let named = detail.as_deref().and_then(|d| {
                    let start = d.find(")=(")? + 3;
                    let end = start + d[start..].find(')')?;
                    Uuid::parse_str(&d[start..end]).ok()
                });
                let first = batches
                    .iter()
                    .flat_map(|b| &b.events)
                    .map(|e| e.event_id)
                    .next();
                if let Some(event_id) = named.or(first) {
                    return EventLogError::Duplicate { event_id };
                }
            }
            _ => {}
        }
    }
    EventLogError::from(err)
}
