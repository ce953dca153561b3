//! Helpers for set-based `apply`: decoding a batch, and Postgres array literals for
//! columns that are arrays themselves (which `UNNEST` cannot take as 2-D arrays).

use std::collections::HashMap;

use crm_domain::DomainEvent;
use crm_eventlog::RecordedEvent;
use uuid::Uuid;

use crate::error::ProjectionError;

/// Decodes (and upcasts) every event of a batch, in order, each beside its envelope.
pub(crate) fn decode(
    events: &[RecordedEvent],
) -> Result<Vec<(&RecordedEvent, DomainEvent)>, ProjectionError> {
    events
        .iter()
        .map(|stored| {
            DomainEvent::from_stored(
                &stored.event_type,
                stored.schema_version,
                stored.data.clone(),
            )
            .map(|event| (stored, event))
            .map_err(|e| {
                ProjectionError::failed(format!("event at position {}: {e}", stored.position))
            })
        })
        .collect()
}

/// A `uuid[]` as Postgres' text form (`{a,b}`), to bind in a `text[]` and cast back.
pub(crate) fn uuid_array_literal(ids: &[Uuid]) -> String {
    let inner: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    format!("{{{}}}", inner.join(","))
}

/// The rows of `rows` a batch touched, each once, in id order (a stable write order).
pub(crate) fn touched_rows<T>(mut touched: Vec<Uuid>, rows: &HashMap<Uuid, T>) -> Vec<&T> {
    touched.sort_unstable();
    touched.dedup();
    touched.iter().filter_map(|id| rows.get(id)).collect()
}
