//! An event of the feed as projections receive it: the stored envelope, decoded once.

use crm_domain::DomainEvent;
use crm_eventlog::RecordedEvent;

use crate::error::ProjectionError;

/// A stored event with its domain form, decoded (and upcast) once for every projection
/// of the process that reads it.
#[derive(Debug)]
pub struct FeedEvent {
    /// The event as the log stores it.
    pub stored: RecordedEvent,
    /// Its domain form, or why it has none (a type the domain does not know, say).
    decoded: Result<DomainEvent, String>,
}

impl FeedEvent {
    /// Decodes a stored event; one the domain cannot decode is kept with the reason.
    pub fn decode(stored: RecordedEvent) -> Self {
        let decoded =
            DomainEvent::from_stored_ref(&stored.event_type, stored.schema_version, &stored.data)
                .map_err(|e| e.to_string());
        FeedEvent { stored, decoded }
    }

    /// Its domain form; an error naming its position when it has none.
    pub fn domain(&self) -> Result<&DomainEvent, ProjectionError> {
        self.decoded.as_ref().map_err(|e| {
            ProjectionError::failed(format!("event at position {}: {e}", self.stored.position))
        })
    }
}
