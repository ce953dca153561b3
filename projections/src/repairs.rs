//! Operators' repairs of read models stopped by an event they cannot apply (a value
//! PostgreSQL cannot store, a payload older code wrote wrong): `crm projection skip`
//! applies nothing of the event, `crm projection sanitize` applies it with every
//! U+0000 in its text made U+FFFD. Each repair is a row of `projections.event_repairs`
//! (append-only: the audit trail of who skipped what, when and why); the live runner
//! and rebuilds honour it in the transaction of the batch that holds the event, so a
//! rebuild gets past it too.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use crm_eventlog::{EventLog, RecordedEvent};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::event::FeedEvent;

/// What a repair does with its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RepairAction {
    /// The read model applies nothing of the event.
    Skip,
    /// The read model applies the event with every U+0000 in its text (payload,
    /// metadata) replaced by U+FFFD.
    Sanitize,
}

impl RepairAction {
    /// Its stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            RepairAction::Skip => "skip",
            RepairAction::Sanitize => "sanitize",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        match word {
            "skip" => Some(RepairAction::Skip),
            "sanitize" => Some(RepairAction::Sanitize),
            _ => None,
        }
    }
}

/// One recorded repair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Repair {
    /// The read model (its checkpoint's name).
    pub projection: String,
    /// The event's position in the log.
    pub position: i64,
    /// The event's id.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: String,
    /// The event's stream.
    pub stream: String,
    /// What the read model does with it.
    pub action: RepairAction,
    /// Why (the operator's words).
    pub reason: String,
    /// Who recorded it.
    pub repaired_by: String,
    /// When.
    pub repaired_at: DateTime<Utc>,
    /// The error the read model had failed with on this event, if it had.
    pub error: Option<String>,
}

type RepairRow = (
    String,
    i64,
    Uuid,
    String,
    String,
    String,
    String,
    String,
    DateTime<Utc>,
    Option<String>,
);

const COLUMNS: &str = "projection, position, event_id, event_type, stream_id, action, reason, \
                       repaired_by, repaired_at, error";

fn from_row(row: RepairRow) -> Result<Repair, ProjectionError> {
    let (projection, position, event_id, event_type, stream, action, reason, by, at, error) = row;
    let action = RepairAction::parse(&action).ok_or_else(|| ProjectionError::Corrupt {
        name: projection.clone(),
        reason: format!("unknown repair action {action:?}"),
    })?;
    Ok(Repair {
        projection,
        position,
        event_id,
        event_type,
        stream,
        action,
        reason,
        repaired_by: by,
        repaired_at: at,
        error,
    })
}

/// Records that read model `projection` gets past the event at `position` by
/// `action`. Refused when the read model is unknown, no event has that position, the
/// read model does not read events of its type, or a repair of it is recorded
/// already. A read model failed on that event picks it up at its next retry (within
/// about a second), in every process.
pub async fn repair(
    log: &EventLog,
    projection: &str,
    position: i64,
    action: RepairAction,
    reason: &str,
    by: &str,
) -> Result<Repair, ProjectionError> {
    let pool = log.pool();
    type Checkpoint = (Option<Vec<String>>, Option<i64>, Option<String>);
    let checkpoint: Option<Checkpoint> = sqlx::query_as(
        "SELECT event_types, failed_position, last_error FROM projections.checkpoints \
          WHERE name = $1",
    )
    .bind(projection)
    .fetch_optional(pool)
    .await?;
    let Some((types, failed_position, last_error)) = checkpoint else {
        return Err(ProjectionError::Repair(format!(
            "no read model is named {projection:?} (GET /projections lists them; a custom \
             projection's is custom.<name>.<generation>)"
        )));
    };
    let event = log
        .event_at(position)
        .await?
        .ok_or(ProjectionError::UnknownEvent(position))?;
    if let Some(types) = &types {
        if !types.contains(&event.event_type) {
            return Err(ProjectionError::Repair(format!(
                "the event at position {position} is a {}, which {projection} does not read",
                event.event_type
            )));
        }
    }
    if reason.trim().is_empty() {
        return Err(ProjectionError::Repair("give a reason".into()));
    }
    let error = (failed_position == Some(position))
        .then_some(last_error)
        .flatten();
    let row: Option<RepairRow> = sqlx::query_as(&format!(
        "INSERT INTO projections.event_repairs \
           (projection, position, event_id, event_type, stream_id, action, reason, repaired_by, error) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(projection)
    .bind(position)
    .bind(event.event_id)
    .bind(&event.event_type)
    .bind(&event.stream)
    .bind(action.as_str())
    .bind(reason)
    .bind(by)
    .bind(&error)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Err(ProjectionError::Repair(format!(
            "a repair of the event at position {position} is recorded for {projection} already"
        )));
    };
    let repair = from_row(row)?;
    tracing::warn!(
        projection,
        position,
        event_type = repair.event_type,
        stream = repair.stream,
        action = action.as_str(),
        reason,
        by,
        "read model repair recorded"
    );
    Ok(repair)
}

/// Every recorded repair (of one read model when `projection` is given), oldest first.
pub async fn repairs(
    pool: &PgPool,
    projection: Option<&str>,
) -> Result<Vec<Repair>, ProjectionError> {
    let rows: Vec<RepairRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM projections.event_repairs \
          WHERE $1::text IS NULL OR projection = $1 ORDER BY repaired_at, projection, position"
    ))
    .bind(projection)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// True when a repair of the event at `position` is recorded for `projection`.
pub(crate) async fn recorded(
    pool: &PgPool,
    projection: &str,
    position: i64,
) -> Result<bool, ProjectionError> {
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM projections.event_repairs WHERE projection = $1 AND position = $2",
    )
    .bind(projection)
    .bind(position)
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}

/// A column of a query on `projections.checkpoints c`: the repairs of that read model
/// among positions `$2..=$3` (see [`span`]), as `position:action` texts. Read in the
/// statement that locks the checkpoint, so honouring repairs costs no round trip.
pub(crate) const AMONG: &str = "ARRAY(SELECT r.position::text || ':' || r.action \
     FROM projections.event_repairs r \
     WHERE r.projection = c.name AND r.position BETWEEN $2 AND $3)";

/// The least and greatest positions of `events` (an empty span when none).
pub(crate) fn span(events: &[Arc<FeedEvent>]) -> (i64, i64) {
    let positions = events.iter().map(|e| e.stored.position);
    match (positions.clone().min(), positions.max()) {
        (Some(first), Some(last)) => (first, last),
        _ => (1, 0),
    }
}

/// The events as the read model must apply them, given the repairs [`AMONG`] found:
/// skipped ones left out, sanitized ones cleaned; borrowed as they are when none is
/// repaired.
pub(crate) fn honour<'a>(
    events: &'a [Arc<FeedEvent>],
    found: &[String],
) -> Cow<'a, [Arc<FeedEvent>]> {
    let found: Vec<(i64, RepairAction)> = found
        .iter()
        .filter_map(|text| {
            let (position, action) = text.split_once(':')?;
            Some((position.parse().ok()?, RepairAction::parse(action)?))
        })
        .collect();
    if found.is_empty() {
        return Cow::Borrowed(events);
    }
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        let action = found
            .iter()
            .find(|(p, _)| *p == event.stored.position)
            .map(|(_, a)| *a);
        match action {
            None => out.push(event.clone()),
            Some(RepairAction::Skip) => {}
            Some(RepairAction::Sanitize) => {
                out.push(Arc::new(FeedEvent::decode(sanitized(&event.stored))))
            }
        }
    }
    Cow::Owned(out)
}

/// The event with every U+0000 in its payload's strings and keys and its metadata's
/// text replaced by U+FFFD.
fn sanitized(event: &RecordedEvent) -> RecordedEvent {
    let mut event = event.clone();
    clean(&mut event.data);
    let metadata = &mut event.metadata;
    for text in [&mut metadata.actor, &mut metadata.request_id]
        .into_iter()
        .flatten()
    {
        *text = text.replace('\0', "\u{FFFD}");
    }
    event
}

fn clean(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        Value::Array(items) => items.iter_mut().for_each(clean),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (k.replace('\0', "\u{FFFD}"), v))
                    .collect();
            }
            map.values_mut().for_each(clean);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::clean;

    #[test]
    fn sanitizing_replaces_every_nul_and_nothing_else() {
        let mut data = json!({"name": "Evil\u{0}Corp", "contacts": [{"phone": "\u{0}1\u{1b}"}],
                              "k\u{0}": 1, "n": 5});
        clean(&mut data);
        assert_eq!(
            data,
            json!({"name": "Evil\u{FFFD}Corp", "contacts": [{"phone": "\u{FFFD}1\u{1b}"}],
                   "k\u{FFFD}": 1, "n": 5})
        );
    }
}
