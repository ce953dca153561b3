//! Client queries from the `clients` read model: the card, the list of cards, the
//! timeline, the likely duplicates. (The commands on clients are in `clients.rs`.)

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_projections::clients::{
    client_card, client_card_as_of, client_manager, client_timeline, duplicate_clients,
    list_clients, ClientCard, ClientFilter, DuplicateMatches, Segment, SegmentClock,
    NAME as CLIENTS,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access::{entity_reach, list_limit, out_of_reach};
use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::hidden::Hidden;
use crate::paging::{after_name_id, after_position, name_cursor, next_page_by, CursorKind};
use crate::read_model::{projection_error, ReadYourWrites};
use crate::state::AppState;

use super::doc_types::SegmentDoc;

/// The churn window when the query gives none, in days.
pub const DEFAULT_CHURN_DAYS: i64 = 180;
/// The longest churn window accepted, in days (100 years).
pub const MAX_CHURN_DAYS: i64 = 36_500;

/// The segments' clock from the query: `now` (default `default_now`, else the
/// server's clock) and `churn_days` (default 180, 1 to 36 500).
fn segment_clock(
    now: Option<DateTime<Utc>>,
    default_now: Option<DateTime<Utc>>,
    churn_days: Option<i64>,
) -> Result<SegmentClock, ApiError> {
    let churn_days = churn_days.unwrap_or(DEFAULT_CHURN_DAYS);
    if !(1..=MAX_CHURN_DAYS).contains(&churn_days) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("churn_days must be 1 to {MAX_CHURN_DAYS}"),
        ));
    }
    Ok(SegmentClock {
        now: now.or(default_now).unwrap_or_else(Utc::now),
        churn_days,
    })
}

/// A client's deals by their current outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct DealCounts {
    /// The client's deals open now.
    open: i64,
    /// The client's deals won now.
    won: i64,
    /// The client's deals lost now.
    lost: i64,
    /// Sum of the amounts recorded by the last DealWon of each deal now won; minor units
    /// (exact to 2^64 − 1, which a larger sum reads: docs/reports.md).
    won_amount: u64,
}

/// A client's card.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientCardView {
    /// The client.
    id: Uuid,
    /// Company or person name, as registered or last updated.
    name: String,
    /// `company` or `person`.
    kind: String,
    /// Company size.
    size: Option<String>,
    /// Industry.
    industry: Option<String>,
    /// Region.
    region: Option<String>,
    /// Where the client came from.
    source: Option<String>,
    /// The manager responsible now (at `as_of` on a card as of a time).
    manager_id: Uuid,
    /// `inquiry` (no DealWon by `now`), `active` (a DealWon within `churn_days` before
    /// `now`, or an open deal and a win before) or `churned` (every other client that
    /// has won).
    segment: String,
    /// `[{name, phone?, email?}]`.
    #[schema(value_type = Vec<Object>)]
    contacts: Value,
    /// The client's deals by their current outcome.
    deals: DealCounts,
    /// InteractionLogged events whose `client_id` is the client.
    interactions: i64,
    /// The latest `occurred_at` of those interactions; null when none.
    last_interaction_at: Option<DateTime<Utc>>,
    /// The latest DealWon of the client's deals (reopened since or not); null when none.
    last_won_at: Option<DateTime<Utc>>,
    /// The ClientRegistered's `occurred_at`.
    registered_at: DateTime<Utc>,
    /// The client stream's version.
    version: i64,
    /// When the client's personal data was erased (its name and contacts then read
    /// `[erased]`); null unless erased.
    erased_at: Option<DateTime<Utc>>,
    /// When the client is merged into another (ClientMerged, not undone): the client
    /// its deals, interactions, tasks and leads count for now (the end of its chain of
    /// merges); null unless merged. A survivor's figures count those of the clients
    /// merged into it.
    merged_into_client_id: Option<Uuid>,
}

impl From<ClientCard> for ClientCardView {
    fn from(c: ClientCard) -> Self {
        ClientCardView {
            id: c.client_id,
            name: c.name,
            kind: c.kind,
            size: c.size,
            industry: c.industry,
            region: c.region,
            source: c.source,
            manager_id: c.manager_id,
            segment: c.segment,
            contacts: c.contacts,
            deals: DealCounts {
                open: c.open_deals,
                won: c.won_deals,
                lost: c.lost_deals,
                // Cards are built through a serde_json::Value (hidden fields).
                won_amount: c.won_amount.saturated(),
            },
            interactions: c.interactions,
            last_interaction_at: c.last_interaction_at,
            last_won_at: c.last_won_at,
            registered_at: c.registered_at,
            version: c.version,
            erased_at: c.erased_at,
            merged_into_client_id: c.merged_into_client_id,
        }
    }
}

/// Which state of the card to show, and how to judge its segment.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CardQuery {
    /// The card as it stood at this business time (events with `occurred_at <= as_of`),
    /// folded from the log; 404 when the client had not registered by then.
    as_of: Option<DateTime<Utc>>,
    /// The moment segments are judged at; default: `as_of`, else the server's clock.
    /// Wins after it do not count.
    now: Option<DateTime<Utc>>,
    /// A win within this many days before `now` keeps a client active; default 180.
    #[param(minimum = 1, maximum = 36500)]
    churn_days: Option<i64>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

fn unknown_client(id: Uuid) -> ApiError {
    ApiError::NotFound {
        what: format!("client {id}"),
    }
}

/// The client card: its fields, segment, contacts, deals by outcome, interactions;
/// as it stands, or `as_of` a past business time.
#[utoipa::path(get, path = "/clients/{id}", tag = "clients", operation_id = "get_client",
    params(("id" = Uuid, Path), CardQuery),
    responses((status = 200, body = ClientCardView), (status = 400), (status = 404), (status = 503)),
    security(("bearer" = [])))]
pub async fn card(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<CardQuery>,
) -> Result<Json<Value>, ApiError> {
    let reach = entity_reach(&state, &actor).await?;
    let clock = segment_clock(query.now, query.as_of, query.churn_days)?;
    query.read.read_model(&state, CLIENTS).await?;
    let card = match query.as_of {
        None => client_card(state.log.pool(), id, clock).await,
        Some(as_of) => client_card_as_of(&state.log, id, as_of, clock).await,
    }
    .map_err(projection_error)?
    .ok_or_else(|| match query.as_of {
        None => unknown_client(id),
        Some(as_of) => ApiError::NotFound {
            what: format!("client {id} as of {}", as_of.to_rfc3339()),
        },
    })?;
    if !reach.covers_manager(card.manager_id) {
        return Err(out_of_reach(&format!("client {id}")));
    }
    Ok(Json(shown(state.hidden.of(&actor), card)))
}

/// Which cards to list, and where to continue.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ClientListQuery {
    /// `inquiry`, `active` or `churned` (at `now` and `churn_days`).
    #[param(value_type = Option<SegmentDoc>, inline)]
    segment: Option<Segment>,
    manager_id: Option<Uuid>,
    region: Option<String>,
    industry: Option<String>,
    source: Option<String>,
    /// Only clients whose name contains this, ignoring case.
    q: Option<String>,
    /// The moment segments are judged at; default: the server's clock.
    now: Option<DateTime<Utc>>,
    /// A win within this many days before `now` keeps a client active; default 180.
    #[param(minimum = 1, maximum = 36500)]
    churn_days: Option<i64>,
    /// Page size: default 100, at most 1000.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// From an earlier page's `next_cursor`.
    cursor: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// A card as `hidden` lets it be seen.
fn shown(hidden: &Hidden, card: ClientCard) -> Value {
    let mut value = serde_json::to_value(ClientCardView::from(card)).unwrap_or(Value::Null);
    hidden.strip_client(&mut value);
    value
}

/// A page of client cards.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientPage {
    /// The cards (without the fields hidden from the token's role).
    #[schema(value_type = Vec<ClientCardView>)]
    items: Vec<Value>,
    /// Where the next page starts; null at the end.
    next_cursor: Option<String>,
}

/// Client cards matching the filters, by name, then id, a page at a time.
#[utoipa::path(get, path = "/clients", tag = "clients", operation_id = "list_clients",
    params(ClientListQuery),
    responses((status = 200, body = ClientPage), (status = 400), (status = 503)),
    security(("bearer" = [])))]
pub async fn list(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ClientListQuery>,
) -> Result<Json<ClientPage>, ApiError> {
    let reach = entity_reach(&state, &actor).await?;
    let managers = reach.narrow(query.manager_id)?;
    let hidden = state.hidden.of(&actor);
    for (field, given) in [
        ("region", query.region.is_some()),
        ("industry", query.industry.is_some()),
        ("source", query.source.is_some()),
        ("name", query.q.is_some()),
        ("segment", query.segment.is_some()),
    ] {
        if given && hidden.hides_client(field) {
            return Err(ApiError::Forbidden {
                code: "hidden_field",
                detail: format!(
                    "client field {field} is hidden from this token's role: it cannot filter by it"
                ),
            });
        }
    }
    let clock = segment_clock(query.now, None, query.churn_days)?;
    let limit = list_limit(&actor, query.limit)?;
    let key = state.cursor_key().await?;
    let after = after_name_id(key, CursorKind::Clients, query.cursor.as_deref())?;
    query.read.read_model(&state, CLIENTS).await?;
    let filter = ClientFilter {
        segment: query.segment,
        managers,
        region: query.region,
        industry: query.industry,
        source: query.source,
        q: query.q,
    };
    let mut cards = list_clients(state.log.pool(), &filter, clock, after, limit + 1)
        .await
        .map_err(projection_error)?;
    let next_cursor = next_page_by(&mut cards, limit, |c| {
        name_cursor(key, CursorKind::Clients, &c.name, c.client_id)
    })
    .transpose()?;
    Ok(Json(ClientPage {
        items: cards.into_iter().map(|c| shown(hidden, c)).collect(),
        next_cursor,
    }))
}

/// Where a timeline page starts, and how long it is.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// Only the events that occurred at or before this business time.
    as_of: Option<DateTime<Utc>>,
    /// Page size: default 100, at most 1000.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// From an earlier page's `next_cursor`.
    cursor: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// One event of a client's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineItem {
    /// The event's global position.
    position: i64,
    /// Its stream, e.g. `deal-<uuid>`.
    stream: String,
    /// The event's type, e.g. `DealWon`.
    #[serde(rename = "type")]
    event_type: String,
    /// Its business time.
    occurred_at: DateTime<Utc>,
    /// Who caused it (the event's metadata): a manager id or `role:<role>`.
    actor: Option<String>,
    /// The event's payload.
    #[schema(value_type = Object)]
    data: Value,
}

/// A page of a client's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelinePage {
    items: Vec<TimelineItem>,
    /// Where the next page starts; null at the end.
    next_cursor: Option<String>,
}

/// Every event about the client, its leads, deals, interactions and tasks, in log
/// order, a page at a time; with `as_of`, those that occurred by then.
#[utoipa::path(get, path = "/clients/{id}/timeline", tag = "clients",
    operation_id = "client_timeline", params(("id" = Uuid, Path), TimelineQuery),
    responses((status = 200, body = TimelinePage), (status = 400), (status = 404), (status = 503)),
    security(("bearer" = [])))]
pub async fn timeline(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<TimelineQuery>,
) -> Result<Json<TimelinePage>, ApiError> {
    let reach = entity_reach(&state, &actor).await?;
    let limit = list_limit(&actor, query.limit)?;
    let after = after_position(query.cursor.as_deref())?;
    query.read.read_model(&state, CLIENTS).await?;
    let manager = client_manager(state.log.pool(), id)
        .await
        .map_err(projection_error)?
        .ok_or_else(|| unknown_client(id))?;
    if !reach.covers_manager(manager) {
        return Err(out_of_reach(&format!("client {id}")));
    }
    let read = usize::try_from(limit + 1).unwrap_or(1001);
    let mut events = client_timeline(&state.log, id, after, query.as_of, read)
        .await
        .map_err(projection_error)?
        .ok_or_else(|| unknown_client(id))?;
    let next_cursor = next_page_by(&mut events, limit, |e| e.position.to_string());
    let hidden = state.hidden.of(&actor);
    let items = events
        .into_iter()
        .map(|mut e| {
            hidden.strip_stream(&e.stream, &mut e.data);
            e
        })
        .map(|e| TimelineItem {
            position: e.position,
            stream: e.stream,
            event_type: e.event_type,
            occurred_at: e.occurred_at,
            actor: e.metadata.actor,
            data: e.data,
        })
        .collect();
    Ok(Json(TimelinePage { items, next_cursor }))
}

/// Read-your-writes only.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DuplicatesQuery {
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// Clients sharing one normalised value.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Describes `crm_projections::clients::DuplicateGroup` as served.
pub struct DuplicateGroupView {
    /// What they share: `phone` (a contact's, digits only, the last 10), `email` (a
    /// contact's, lowercased) or `name` (the client's, lowercased, spaces trimmed and
    /// each run of them made one).
    #[serde(rename = "match")]
    #[schema(rename = "match")]
    matched: String,
    /// The shared value, normalised.
    value: String,
    /// The clients, by id.
    client_ids: Vec<Uuid>,
}

/// The groups of likely duplicate clients.
#[derive(Debug, Serialize, ToSchema)]
pub struct DuplicatesView {
    /// By match (`phone`, `email`, `name`), then value.
    #[schema(value_type = Vec<DuplicateGroupView>)]
    groups: Vec<crm_projections::clients::DuplicateGroup>,
}

/// Likely duplicate clients: two or more sharing a phone, an email or a name.
///
/// Clients in reach sharing a contact's normalised phone (digits only, the last 10),
/// a contact's email (lowercased) or their name (lowercased, spaces folded). Merged
/// clients are not listed; erased clients match nothing (their values are gone);
/// values hidden from the token's role match nothing. Read model `clients`.
#[utoipa::path(get, path = "/clients/duplicates", tag = "clients", operation_id = "client_duplicates",
    params(DuplicatesQuery),
    responses((status = 200, body = DuplicatesView), (status = 400), (status = 403), (status = 503)),
    security(("bearer" = [])))]
pub async fn duplicates(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<DuplicatesQuery>,
) -> Result<Json<DuplicatesView>, ApiError> {
    let reach = entity_reach(&state, &actor).await?;
    query.read.read_model(&state, CLIENTS).await?;
    let hidden = state.hidden.of(&actor);
    let contact = |field: &str| {
        !hidden.hides_client("contacts") && !hidden.hides_client(&format!("contacts.{field}"))
    };
    let matches = DuplicateMatches {
        phone: contact("phone"),
        email: contact("email"),
        name: !hidden.hides_client("name"),
    };
    let groups = duplicate_clients(state.log.pool(), reach.managers(), matches)
        .await
        .map_err(projection_error)?;
    Ok(Json(DuplicatesView { groups }))
}
