//! Leads, from the `leads` read model (their managers' names from `manager_kpis`):
//! `GET /leads` and `GET /leads/{id}`, within the reader's reach, without the fields
//! hidden from his role. The commands on leads are in `leads.rs`.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_projections::leads::{lead, list_leads, LeadFilter, LeadRow, Searched, NAME as LEADS};
use crm_projections::managers::NAME as KPIS;
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

/// The read models a lead answer draws from.
pub(super) const MODELS: &[&str] = &[LEADS, KPIS];

/// A lead as it stands.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Describes `LeadRow` as served; never built itself.
pub struct LeadView {
    id: Uuid,
    /// The person's name (`[erased]` once erased).
    name: String,
    phone: Option<String>,
    email: Option<String>,
    source: String,
    channel: Option<String>,
    /// `new`, `assigned`, `converted` or `rejected`.
    #[schema(value_type = super::doc_types::LeadStatusDoc, inline)]
    status: String,
    /// The manager responsible now.
    manager_id: Option<Uuid>,
    /// His name.
    manager_name: Option<String>,
    /// The client it came from or was converted into.
    client_id: Option<Uuid>,
    /// The deal it was converted into.
    deal_id: Option<Uuid>,
    received_at: DateTime<Utc>,
    rejected_reason: Option<String>,
    /// The lead stream's version.
    version: i64,
}

/// Which leads to list, and where to continue.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LeadListQuery {
    /// Only those in this status now.
    #[param(value_type = Option<super::doc_types::LeadStatusDoc>, inline)]
    status: Option<String>,
    /// Only those from this source.
    source: Option<String>,
    /// Only this manager's (403 outside the token's reach).
    manager_id: Option<Uuid>,
    /// Only those whose name, phone or email contains this, ignoring case (of those
    /// the token's role may see).
    q: Option<String>,
    /// Page size: default 100, at most 1000.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// From an earlier page's `next_cursor`.
    cursor: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// A page of leads.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeadPage {
    /// The leads (without the fields hidden from the token's role).
    #[schema(value_type = Vec<LeadView>)]
    items: Vec<Value>,
    /// Where the next page starts; null at the end.
    next_cursor: Option<String>,
}

/// A lead as `hidden` lets it be seen.
fn shown(hidden: &Hidden, row: LeadRow) -> Value {
    let mut value = serde_json::to_value(row).unwrap_or(Value::Null);
    hidden.strip_lead(&mut value);
    value
}

/// The 403 for filtering by a lead field hidden from the token's role.
fn hidden_filter(field: &str) -> ApiError {
    ApiError::Forbidden {
        code: "hidden_field",
        detail: format!(
            "lead field {field} is hidden from this token's role: it cannot filter by it"
        ),
    }
}

/// Leads, newest first (by `received_at`, then id), a page at a time; filtered by
/// status, source, manager and `q`.
#[utoipa::path(get, path = "/leads", tag = "leads", operation_id = "list_leads",
    params(LeadListQuery),
    responses((status = 200, body = LeadPage), (status = 400), (status = 403), (status = 503)),
    security(("bearer" = [])))]
pub async fn list(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LeadListQuery>,
) -> Result<Json<LeadPage>, ApiError> {
    let managers = entity_reach(&state, &actor)
        .await?
        .narrow(query.manager_id)?;
    let status = crate::extract::status_filter(query.status.as_deref())?;
    let hidden = state.hidden.of(&actor);
    let searched = Searched {
        name: !hidden.hides_lead("name"),
        phone: !hidden.hides_lead("phone"),
        email: !hidden.hides_lead("email"),
    };
    if query.q.is_some() && !(searched.name || searched.phone || searched.email) {
        return Err(hidden_filter("name"));
    }
    for (field, given) in [
        ("source", query.source.is_some()),
        ("manager_id", query.manager_id.is_some()),
    ] {
        if given && hidden.hides_lead(field) {
            return Err(hidden_filter(field));
        }
    }
    let limit = list_limit(&actor, query.limit)?;
    let before = before_time_id(query.cursor.as_deref())?;
    let filter = LeadFilter {
        status,
        source: query.source,
        managers,
        q: query.q,
        searched,
    };
    query.read.read_models(&state, MODELS).await?;
    let mut rows = list_leads(state.log.pool(), &filter, before, limit + 1)
        .await
        .map_err(projection_error)?;
    let next_cursor = next_page_by(&mut rows, limit, |l| time_cursor(l.received_at, l.lead_id));
    Ok(Json(LeadPage {
        items: rows.into_iter().map(|l| shown(hidden, l)).collect(),
        next_cursor,
    }))
}

/// A lead as it stands.
#[utoipa::path(get, path = "/leads/{id}", tag = "leads", operation_id = "get_lead",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = LeadView), (status = 400), (status = 403), (status = 404), (status = 503)),
    security(("bearer" = [])))]
pub async fn get(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<OnlyMinPosition>,
) -> Result<Json<Value>, ApiError> {
    let reach = entity_reach(&state, &actor).await?;
    query.read.read_models(&state, MODELS).await?;
    let row = lead(state.log.pool(), id).await.map_err(projection_error)?;
    let row = within_reach(&reach, &format!("lead {id}"), row, |l| {
        l.manager_id.into_iter().collect()
    })?;
    Ok(Json(shown(state.hidden.of(&actor), row)))
}
