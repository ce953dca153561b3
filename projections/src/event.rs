//! An event of the feed as projections receive it: the stored envelope, decoded once.

use std::sync::OnceLock;

use crm_domain::DomainEvent;
use crm_eventlog::RecordedEvent;

use crate::error::ProjectionError;

/// A stored event with its domain form, decoded (and upcast) at most once for every
/// projection of the process that reads it, and only if one asks for it (custom
/// projections read the stored JSON).
#[derive(Debug)]
pub struct FeedEvent {
    /// The event as the log stores it.
    pub stored: RecordedEvent,
    /// Its domain form, or why it has none (a type the domain does not know, say).
    decoded: OnceLock<Result<DomainEvent, String>>,
}

impl FeedEvent {
    /// A stored event, to be decoded when first asked.
    pub fn decode(stored: RecordedEvent) -> Self {
        FeedEvent {
            stored,
            decoded: OnceLock::new(),
        }
    }

    /// Its domain form; an error naming its position when it has none.
    pub fn domain(&self) -> Result<&DomainEvent, ProjectionError> {
        let stored = &self.stored;
        let decoded = self.decoded.get_or_init(|| {
            DomainEvent::from_stored_ref(&stored.event_type, stored.schema_version, &stored.data)
                .map_err(|e| e.to_string())
        });
        decoded.as_ref().map_err(|e| {
            ProjectionError::failed(format!("event at position {}: {e}", self.stored.position))
        })
    }
}
