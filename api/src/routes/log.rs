//! The log, read directly: the global feed, its export and hash-chain verification.
//! (One stream's events are in `streams.rs`.)

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use crm_eventlog::{BadEvent, Cursor, FeedFilter, RecordedEvent, SealBreak, SealHead};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::access::{EXPORTERS, LOG_READERS};
use crate::auth::Actor;
use crate::commands::CommandContext;
use crate::error::ApiError;
use crate::event_view::EventView;
use crate::export::{export, record_export, ExportFilter, Format};
use crate::extract::ApiQuery;
use crate::hidden::Hidden;
use crate::paging::CursorKind;
use crate::read_model::{OnlyMinPosition, ReadYourWrites};
use crate::state::AppState;

/// The events as shown, without the `hidden` fields.
pub(super) fn views(hidden: &Hidden, events: Vec<RecordedEvent>) -> Vec<EventView> {
    events
        .into_iter()
        .map(|mut e| {
            hidden.strip_stream(&e.stream, &mut e.data);
            EventView::from(e)
        })
        .collect()
}

/// A page of the global feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedView {
    events: Vec<EventView>,
    /// Where to continue; at the end of the log, the cursor to poll with next.
    next_cursor: String,
}

/// Where to read the feed from.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// An opaque cursor from an earlier page (default: the beginning).
    cursor: Option<String>,
    /// Page size (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Only these event types, comma-separated.
    types: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// The whole log in the order projectors see it: every committed event exactly once,
/// each stream in version order.
#[utoipa::path(
    operation_id = "read_feed",get, path = "/events", tag = "log", params(FeedQuery),
    responses((status = 200, body = FeedView), (status = 400, description = "bad cursor")),
    security(("bearer" = [])))]
pub async fn feed(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<FeedQuery>,
) -> Result<Json<FeedView>, ApiError> {
    actor.require(LOG_READERS, "reading the whole log")?;
    // Sealed: a feed place holds a transaction id, which no answer shows.
    let key = state.cursor_key().await?;
    let cursor = match key.opened(CursorKind::Feed, query.cursor.as_deref())? {
        None => Cursor::start(),
        Some(text) => text
            .parse()
            .map_err(|_| ApiError::bad_request("invalid_cursor", "not a cursor of the feed"))?,
    };
    let limit = usize::try_from(crate::paging::page_limit(query.limit)?).unwrap_or(100);
    let filter = match query.types.as_deref() {
        Some(types) if !types.trim().is_empty() => {
            FeedFilter::types(types.split(',').map(str::trim).filter(|t| !t.is_empty()))
        }
        _ => FeedFilter::default(),
    };
    query.read.feed(&state).await?;
    let mut page = state.log.read_feed(cursor, limit, &filter).await?;
    crm_projections::personal::reveal_current(&state.log, &mut page.events).await?;
    Ok(Json(FeedView {
        events: views(state.hidden.of(&actor), page.events),
        next_cursor: key.seal(CursorKind::Feed, &page.next.to_string())?,
    }))
}

/// The result of checking every hash chain and every seal.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyView {
    ok: bool,
    streams_checked: u64,
    events_checked: u64,
    seals_checked: u64,
    /// Events in the sealed part of the feed, each checked against its seal.
    events_sealed: u64,
    /// Events after the last seal, checked by their stream's chain only.
    unsealed_events: u64,
    /// The earliest bad event in feed order: `kind` (`altered`, `deleted`, `inserted`,
    /// `reordered`), `position`, `event_id`, `stream`, `version`, `expected_version`,
    /// `found_by` (`seal` or `chain`).
    #[schema(value_type = Option<Object>)]
    first_bad: Option<BadEvent>,
    /// The first seal that is missing or altered: `seq`, `detail`.
    #[schema(value_type = Option<Object>)]
    bad_seal: Option<SealBreak>,
    /// The newest seal (`seq`, `hash`): kept elsewhere, it makes the seals evident too.
    #[schema(value_type = Option<Object>)]
    last_seal: Option<SealHead>,
}

/// Checks every stream's hash chain and every seal over the stored events, and names
/// the earliest event altered, deleted, inserted or reordered behind the log's back.
#[utoipa::path(
    operation_id = "verify_log",get, path = "/audit/verify", tag = "log",
    responses((status = 200, body = VerifyView)), security(("bearer" = [])))]
pub async fn verify(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(OnlyMinPosition { read }): ApiQuery<OnlyMinPosition>,
) -> Result<Json<VerifyView>, ApiError> {
    actor.require(LOG_READERS, "auditing the log")?;
    read.feed(&state).await?;
    let started_at = Utc::now();
    let report = state.log.verify().await?;
    // Kept for the audit page; the answer does not wait on the keeping.
    if let Err(err) = state
        .log
        .record_verification(started_at, &report, crm_eventlog::Trigger::Api)
        .await
    {
        tracing::warn!(error = %err, "cannot keep the verification's result");
    }
    Ok(Json(VerifyView {
        ok: report.is_intact(),
        streams_checked: report.streams,
        events_checked: report.events,
        seals_checked: report.seals,
        events_sealed: report.events_sealed,
        unsealed_events: report.unsealed_events,
        first_bad: report.first_bad,
        bad_seal: report.bad_seal,
        last_seal: report.last_seal,
    }))
}

/// What to export.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `ndjson` (default) or `csv`.
    #[param(value_type = Option<super::doc_types::ExportFormatDoc>, inline)]
    format: Option<String>,
    /// Only these event types, comma-separated.
    types: Option<String>,
    /// Only the streams of this kind (`deal`, `client`, `lead`, `task`, `manager`, …).
    stream_kind: Option<String>,
    /// Only events that occurred at or after this time (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Only events that occurred before this time (RFC 3339).
    to: Option<DateTime<Utc>>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// The log as a stream of NDJSON lines (events as `GET /events` shows them) or CSV
/// rows, in feed order, up to the end of the feed when the export reaches it; for
/// admin and auditor tokens.
#[utoipa::path(
    operation_id = "export_events", get, path = "/export/events", tag = "log", params(ExportQuery),
    responses(
        (status = 200, description = "the events", content(
            (String = "application/x-ndjson"), (String = "text/csv"))),
        (status = 400, description = "bad format or filter"),
        (status = 403, description = "not an admin or auditor token")),
    security(("bearer" = [])))]
pub async fn export_events(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    actor.require(EXPORTERS, "exporting the log")?;
    let format = match query.format.as_deref() {
        None => Format::Ndjson,
        Some(text) => Format::parse(text).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_format",
                format!("format must be ndjson or csv, not {text:?}"),
            )
        })?,
    };
    if let (Some(from), Some(to)) = (query.from, query.to) {
        if from >= to {
            return Err(ApiError::bad_request(
                "invalid_period",
                "from must be before to",
            ));
        }
    }
    let types = query.types.as_deref().map(|t| {
        t.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    });
    let filter = ExportFilter {
        types: types.filter(|t| !t.is_empty()),
        stream_kind: query.stream_kind.filter(|k| !k.is_empty()),
        from: query.from,
        to: query.to,
    };
    query.read.feed(&state).await?;
    let ctx = CommandContext::new(actor.clone(), crm_eventlog::Source::Api);
    record_export(&state.commands, &ctx, format, &filter, "api").await?;
    let hidden = state.hidden.of(&actor).clone();
    let body = export(state.log.clone(), format, filter, hidden);
    Ok((
        [(header::CONTENT_TYPE, format.content_type())],
        Body::from_stream(body),
    )
        .into_response())
}
