//! Interactions, from the `interactions` read model (managers' names from
//! `manager_kpis`, clients' from `clients`): `GET /interactions` and
//! `GET /interactions/{id}`, those of managers within the reader's reach. The
//! command logging one is in `interactions.rs`.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_projections::interactions::{
    interaction, list_interactions, InteractionFilter, InteractionRow, NAME as INTERACTIONS,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access::{entity_reach, list_limit, within_reach};
use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::hidden::Hidden;
use crate::paging::{before_time_id, next_page_by, time_cursor};
use crate::read_model::{projection_error, OnlyMinPosition, ReadYourWrites};
use crate::state::AppState;

/// The read models an interaction answer draws from.
pub(super) const MODELS: &[&str] = &[
    INTERACTIONS,
    crm_projections::managers::NAME,
    crm_projections::clients::NAME,
];

/// An interaction.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Describes `InteractionRow` as served; never built itself.
pub struct InteractionView {
    id: Uuid,
    #[schema(value_type = super::doc_types::InteractionKindDoc, inline)]
    kind: String,
    #[schema(value_type = super::doc_types::DirectionDoc, inline)]
    direction: String,
    /// The manager on our side.
    manager_id: Uuid,
    /// His name.
    manager_name: Option<String>,
    client_id: Option<Uuid>,
    /// The client's name: absent when hidden from the token's role, null when the
    /// client is outside the token's reach.
    client_name: Option<String>,
    deal_id: Option<Uuid>,
    lead_id: Option<Uuid>,
    /// When it happened (business time).
    occurred_at: DateTime<Utc>,
    duration_s: Option<i64>,
    outcome: Option<String>,
    goal: Option<String>,
    notes: Option<String>,
}

/// An interaction as `hidden` lets it be seen.
fn shown(hidden: &Hidden, row: InteractionRow) -> Value {
    let mut value = serde_json::to_value(row).unwrap_or(Value::Null);
    hidden.strip_client_name(&mut value);
    value
}

/// Which interactions to list, and where to continue.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InteractionListQuery {
    /// Only those with this client.
    client_id: Option<Uuid>,
    /// Only those about this deal.
    deal_id: Option<Uuid>,
    /// Only those answering this lead.
    lead_id: Option<Uuid>,
    /// Only this manager's (403 outside the token's reach).
    manager_id: Option<Uuid>,
    /// Page size: default 100, at most 1000.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// From an earlier page's `next_cursor`.
    cursor: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// A page of interactions.
#[derive(Debug, Serialize, ToSchema)]
pub struct InteractionPage {
    /// The interactions (without the fields hidden from the token's role).
    #[schema(value_type = Vec<InteractionView>)]
    items: Vec<Value>,
    /// Where the next page starts; null at the end.
    next_cursor: Option<String>,
}

/// Interactions, newest first (by `occurred_at`, then id), a page at a time; of a
/// client, deal, lead or manager if given.
#[utoipa::path(get, path = "/interactions", tag = "interactions", operation_id = "list_interactions",
    params(InteractionListQuery),
    responses((status = 200, body = InteractionPage), (status = 400), (status = 403), (status = 503)),
    security(("bearer" = [])))]
pub async fn list(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<InteractionListQuery>,
) -> Result<Json<InteractionPage>, ApiError> {
    let reach = entity_reach(&state, &actor).await?;
    let managers = reach.narrow(query.manager_id)?;
    let limit = list_limit(&actor, query.limit)?;
    let before = before_time_id(query.cursor.as_deref())?;
    let filter = InteractionFilter {
        client_id: query.client_id,
        deal_id: query.deal_id,
        lead_id: query.lead_id,
        managers,
        reach: reach.managers().map(<[Uuid]>::to_vec),
    };
    query.read.read_models(&state, MODELS).await?;
    let mut rows = list_interactions(state.log.pool(), &filter, before, limit + 1)
        .await
        .map_err(projection_error)?;
    let next_cursor = next_page_by(&mut rows, limit, |i| {
        time_cursor(i.occurred_at, i.interaction_id)
    });
    let hidden = state.hidden.of(&actor);
    Ok(Json(InteractionPage {
        items: rows.into_iter().map(|i| shown(hidden, i)).collect(),
        next_cursor,
    }))
}

/// An interaction.
#[utoipa::path(get, path = "/interactions/{id}", tag = "interactions", operation_id = "get_interaction",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = InteractionView), (status = 400), (status = 403), (status = 404), (status = 503)),
    security(("bearer" = [])))]
pub async fn get(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<OnlyMinPosition>,
) -> Result<Json<Value>, ApiError> {
    let reach = entity_reach(&state, &actor).await?;
    query.read.read_models(&state, MODELS).await?;
    let row = interaction(state.log.pool(), id, reach.managers())
        .await
        .map_err(projection_error)?;
    let row = within_reach(&reach, &format!("interaction {id}"), row, |i| {
        vec![i.manager_id]
    })?;
    Ok(Json(shown(state.hidden.of(&actor), row)))
}
