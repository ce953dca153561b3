//! Helpers for set-based `apply`: decoding a batch, and Postgres array literals for
//! columns that are arrays themselves (which `UNNEST` cannot take as 2-D arrays).

use std::collections::HashMap;
use std::sync::Arc;

use crm_domain::DomainEvent;
use crm_eventlog::RecordedEvent;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::event::FeedEvent;

/// Every event of a batch in its domain form, in order, each beside its envelope; an
/// error on the first one that has none.
pub(crate) fn decode(
    events: &[Arc<FeedEvent>],
) -> Result<Vec<(&RecordedEvent, &DomainEvent)>, ProjectionError> {
    events
        .iter()
        .map(|e| e.domain().map(|event| (&e.stored, event)))
        .collect()
}

/// A feed filter of these event types (what [`crate::Projection::event_types`] returns).
pub(crate) fn types(names: &[&str]) -> Option<Vec<String>> {
    Some(names.iter().map(|t| (*t).to_owned()).collect())
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
