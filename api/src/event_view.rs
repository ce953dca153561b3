//! [`EventView`]: an event with its whole envelope, as `GET /events`, `GET
//! /streams/{s}/events` and the NDJSON export show it.

use chrono::{DateTime, Utc};
use crm_eventlog::RecordedEvent;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// An event with its whole envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    event_id: Uuid,
    stream: String,
    version: i64,
    position: i64,
    #[serde(rename = "type")]
    event_type: String,
    schema_version: i32,
    occurred_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    data: Value,
    metadata: Value,
    /// SHA-256, hex.
    hash: String,
}

impl From<RecordedEvent> for EventView {
    fn from(e: RecordedEvent) -> Self {
        EventView {
            event_id: e.event_id,
            stream: e.stream,
            version: e.version,
            position: e.position,
            event_type: e.event_type,
            schema_version: e.schema_version,
            occurred_at: e.occurred_at,
            recorded_at: e.recorded_at,
            data: e.data,
            metadata: serde_json::to_value(&e.metadata).unwrap_or(Value::Null),
            hash: hex::encode(&e.hash),
        }
    }
}
