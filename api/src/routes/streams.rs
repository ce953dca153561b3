//! One stream, as it is or as it stood at a version or a business time: where the cut
//! lies, its events (`GET /streams/{stream}/events`) and the aggregate's state folded
//! from them by the domain's own `evolve` for the stream's kind
//! (`GET /streams/{stream}/state`).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_domain::client::ClientState;
use crm_domain::deal::DealState;
use crm_domain::interaction::InteractionState;
use crm_domain::lead::LeadState;
use crm_domain::manager::ManagerState;
use crm_domain::pipeline::PipelineState;
use crm_domain::task::TaskState;
use crm_domain::{Aggregate, DomainEvent, EntityKind};
use crm_eventlog::{EventLog, RecordedEvent, StreamBound};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::access::{out_of_reach, reach, Role, LOG_READERS};
use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::read_model::ReadYourWrites;
use crate::state::AppState;

use super::log::views;
use crate::event_view::EventView;

/// Where to cut a stream: at most one of a business time and a version (from 1);
/// None for the whole stream.
pub(crate) fn cut(
    as_of: Option<DateTime<Utc>>,
    version: Option<i64>,
) -> Result<Option<StreamBound>, ApiError> {
    match (as_of, version) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "invalid_query",
            "give as_of or version, not both",
        )),
        (Some(t), None) => Ok(Some(StreamBound::OccurredAt(t))),
        (None, Some(v)) if v >= 1 => Ok(Some(StreamBound::Version(v))),
        (None, Some(_)) => Err(ApiError::bad_request(
            "invalid_query",
            "version starts at 1",
        )),
        (None, None) => Ok(None),
    }
}

/// The events of `stream` up to `bound`, in version order: 404 for a stream with no
/// events, or a version beyond its head.
pub(crate) async fn read_cut(
    log: &EventLog,
    stream: &str,
    bound: StreamBound,
) -> Result<Vec<RecordedEvent>, ApiError> {
    let events = log.read_stream_until(stream, bound).await?;
    if let StreamBound::Version(v) = bound {
        let head = events.last().map_or(0, |e| e.version);
        if head < v {
            return Err(ApiError::NotFound {
                what: format!("version {v} of stream {stream} (its head is version {head})"),
            });
        }
    }
    Ok(events)
}

/// Which state of the stream to fold.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StateQuery {
    /// The state at this business time (events with `occurred_at <= as_of`).
    as_of: Option<DateTime<Utc>>,
    /// The state at this version of the stream (from 1, at most its head).
    #[param(minimum = 1)]
    version: Option<i64>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// An aggregate's state at a cut of its stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamState {
    stream: String,
    /// The version of the last event folded.
    version: i64,
    /// The entity as the domain folds it (its fields; enums as snake_case strings);
    /// null when its stream holds no entity at that cut (a projection dropped).
    #[schema(value_type = Option<Object>)]
    state: Value,
}

/// The entity of aggregate `S` folded from `events`, as JSON (null if none).
fn entity_json<S>(events: &[DomainEvent]) -> Result<Value, ApiError>
where
    S: Aggregate,
    S::Entity: Serialize,
{
    serde_json::to_value(S::fold(events).entity())
        .map_err(|e| ApiError::internal(format!("cannot serialize a {} state: {e}", S::ENTITY)))
}

/// Who may read the entity of a stream of `kind` folded from `events` (who answers
/// for it and who watches it); None for kinds no manager answers for (pipelines,
/// projection definitions, products), and for invoices and shipments, which are
/// their deal's (read through the deal's queries, or by the log's readers).
pub(crate) fn readers(kind: EntityKind, events: &[DomainEvent]) -> Option<Vec<uuid::Uuid>> {
    match kind {
        EntityKind::Manager => Some(ManagerState::fold(events).readers()),
        EntityKind::Client => Some(ClientState::fold(events).readers()),
        EntityKind::Lead => Some(LeadState::fold(events).readers()),
        EntityKind::Deal => Some(DealState::fold(events).readers()),
        EntityKind::Interaction => Some(InteractionState::fold(events).readers()),
        EntityKind::Task => Some(TaskState::fold(events).readers()),
        EntityKind::Plan => Some(crm_domain::plan::PlanState::fold(events).readers()),
        EntityKind::Pipeline
        | EntityKind::Projection
        | EntityKind::Export
        | EntityKind::Rule
        | EntityKind::Product
        | EntityKind::Invoice
        | EntityKind::Shipment => None,
    }
}

/// The events of `stream` decoded for the domain.
pub(crate) fn decoded(stored: Vec<RecordedEvent>) -> Result<Vec<DomainEvent>, ApiError> {
    stored
        .into_iter()
        .map(|e| {
            DomainEvent::from_stored(&e.event_type, e.schema_version, e.data).map_err(|err| {
                ApiError::internal(format!(
                    "undecodable event at position {}: {err}",
                    e.position
                ))
            })
        })
        .collect()
}

/// Ok when `actor` may read `stream`: the log's readers read every stream; managers
/// and heads the streams of the entities they reach, as the entities stand now.
pub(crate) async fn authorize_stream(
    state: &AppState,
    actor: &Actor,
    stream: &str,
) -> Result<(), ApiError> {
    let role = actor.require(
        &[
            Role::Manager,
            Role::Head,
            Role::Director,
            Role::Admin,
            Role::Auditor,
        ],
        "reading the log",
    )?;
    if LOG_READERS.contains(&role) {
        return Ok(());
    }
    let reach = reach(state, actor).await?;
    let Some((kind, _)) = EntityKind::parse_stream(stream) else {
        return Err(out_of_reach(&format!("stream {stream}")));
    };
    let whole = state
        .log
        .read_stream_until(stream, StreamBound::Version(i64::MAX))
        .await?;
    let events = decoded(whole)?;
    match readers(kind, &events) {
        // A stream with no events: the read that follows answers 404.
        _ if events.is_empty() => Ok(()),
        Some(managers) if reach.covers(&managers) => Ok(()),
        _ => Err(out_of_reach(&format!("stream {stream}"))),
    }
}

/// The state of a stream of `kind`, folded from its events by that aggregate.
fn fold_state(kind: EntityKind, events: &[DomainEvent]) -> Result<Value, ApiError> {
    match kind {
        EntityKind::Manager => entity_json::<ManagerState>(events),
        EntityKind::Pipeline => entity_json::<PipelineState>(events),
        EntityKind::Client => entity_json::<ClientState>(events),
        EntityKind::Lead => entity_json::<LeadState>(events),
        EntityKind::Deal => entity_json::<DealState>(events),
        EntityKind::Interaction => entity_json::<InteractionState>(events),
        EntityKind::Task => entity_json::<TaskState>(events),
        EntityKind::Projection => {
            entity_json::<crm_domain::custom_projection::CustomProjectionState>(events)
        }
        EntityKind::Export => entity_json::<crm_domain::export::ExportState>(events),
        EntityKind::Rule => entity_json::<crm_domain::rule::RuleState>(events),
        EntityKind::Product => entity_json::<crm_domain::product::ProductState>(events),
        EntityKind::Invoice => entity_json::<crm_domain::invoice::InvoiceState>(events),
        EntityKind::Shipment => entity_json::<crm_domain::shipment::ShipmentState>(events),
        EntityKind::Plan => entity_json::<crm_domain::plan::PlanState>(events),
    }
}

/// An aggregate's state, folded by the domain from its stream: as it stands, or at a
/// `version`, or `as_of` a business time.
#[utoipa::path(
    operation_id = "stream_state", get, path = "/streams/{stream}/state", tag = "log",
    params(("stream" = String, Path, description = "`<kind>-<uuid>`, e.g. deal-<uuid>"), StateQuery),
    responses(
        (status = 200, body = StreamState),
        (status = 400, description = "as_of and version both, a version below 1, a bad time"),
        (status = 404, description = "no such stream, a version beyond its head, or no event by as_of")),
    security(("bearer" = [])))]
pub async fn state(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(stream): ApiPath<String>,
    ApiQuery(query): ApiQuery<StateQuery>,
) -> Result<Json<StreamState>, ApiError> {
    authorize_stream(&state, &actor, &stream).await?;
    query.read.log(&state).await?;
    let bound = cut(query.as_of, query.version)?;
    let (kind, _) = EntityKind::parse_stream(&stream).ok_or_else(|| ApiError::NotFound {
        what: format!("stream {stream} (streams are named <kind>-<uuid>)"),
    })?;
    let mut stored = match bound {
        None => {
            let whole = StreamBound::Version(i64::MAX);
            state.log.read_stream_until(&stream, whole).await?
        }
        Some(bound) => read_cut(&state.log, &stream, bound).await?,
    };
    crm_projections::personal::reveal_current(&state.log, &mut stored).await?;
    let Some(version) = stored.last().map(|e| e.version) else {
        return Err(ApiError::NotFound {
            what: format!(
                "stream {stream} as of {} (no event of it occurred by then)",
                query.as_of.map(|t| t.to_rfc3339()).unwrap_or_default()
            ),
        });
    };
    let events = decoded(stored)?;
    let mut folded = fold_state(kind, &events)?;
    state.hidden.of(&actor).strip_stream(&stream, &mut folded);
    Ok(Json(StreamState {
        state: folded,
        stream,
        version,
    }))
}

/// Events of one stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamEvents {
    events: Vec<EventView>,
}

/// Where to start reading a stream and how much.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// First version to return (default 1).
    from_version: Option<i64>,
    /// The stream cut at this version (from 1, at most its head): events up to it.
    #[param(minimum = 1)]
    version: Option<i64>,
    /// The stream cut at this business time: its events with `occurred_at <= as_of`.
    as_of: Option<DateTime<Utc>>,
    /// At most this many events (default and maximum 10,000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

const MAX_STREAM_READ: usize = 10_000;

/// The events of one stream, in version order; cut at a `version` or `as_of` a time.
#[utoipa::path(
    operation_id = "read_stream",get, path = "/streams/{stream}/events", tag = "log",
    params(("stream" = String, Path, description = "e.g. deal-<uuid>"), StreamQuery),
    responses((status = 200, body = StreamEvents),
        (status = 400, description = "as_of and version both, a version below 1, a bad time"),
        (status = 404, description = "no such stream, or a version beyond its head")),
    security(("bearer" = [])))]
pub async fn stream_events(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(stream): ApiPath<String>,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Json<StreamEvents>, ApiError> {
    authorize_stream(&state, &actor, &stream).await?;
    query.read.log(&state).await?;
    let limit = query.limit.unwrap_or(MAX_STREAM_READ);
    if !(1..=MAX_STREAM_READ).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be 1 to {MAX_STREAM_READ}"),
        ));
    }
    let from = query.from_version.unwrap_or(1);
    let mut events = match cut(query.as_of, query.version)? {
        None => state.log.read_stream(&stream, from, limit).await?,
        Some(bound) => read_cut(&state.log, &stream, bound)
            .await?
            .into_iter()
            .filter(|e| e.version >= from)
            .take(limit)
            .collect(),
    };
    crm_projections::personal::reveal_current(&state.log, &mut events).await?;
    Ok(Json(StreamEvents {
        events: views(state.hidden.of(&actor), events),
    }))
}
