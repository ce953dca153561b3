//! The team, from the `manager_kpis` read model: `GET /managers` and
//! `GET /managers/{id}`. Every role reads it (names are what reports, tasks and
//! deals show). The commands on managers are in `managers.rs`.

use axum::extract::State;
use axum::Json;
use crm_domain::values::Role;
use crm_projections::managers::{list_team, team_member, TeamFilter, TeamMember, NAME as KPIS};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access::list_limit;
use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::paging::{after_name_id, name_cursor, next_page_by, CursorKind};
use crate::read_model::{projection_error, OnlyMinPosition, ReadYourWrites};
use crate::state::AppState;

/// A registered manager.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Describes `TeamMember` as served; never built itself.
pub struct ManagerView {
    id: Uuid,
    name: String,
    department: String,
    /// `manager`, `head`, `director`, `admin`, `auditor` or `analyst`.
    #[schema(value_type = super::doc_types::RoleDoc, inline)]
    role: String,
    email: Option<String>,
    /// False once deactivated.
    active: bool,
    /// When he was registered (business time).
    registered_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Which managers to list, and where to continue.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ManagerListQuery {
    /// Only this department's.
    department: Option<String>,
    /// Only those of this role.
    #[param(value_type = Option<super::doc_types::RoleDoc>, inline)]
    role: Option<Role>,
    /// Only the active (`true`) or the deactivated (`false`).
    active: Option<bool>,
    /// Page size: default 100, at most 1000.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// From an earlier page's `next_cursor`.
    cursor: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// A page of managers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ManagerPage {
    #[schema(value_type = Vec<ManagerView>)]
    items: Vec<TeamMember>,
    /// Where the next page starts; null at the end.
    next_cursor: Option<String>,
}

/// Only a token of a known role reads the team.
fn may_read(actor: &Actor) -> Result<(), ApiError> {
    actor
        .require(&Role::ALL, "reading the team")
        .map(|_| ())
        .map_err(ApiError::from)
}

/// The team, by name, then id, a page at a time; filtered by department, role and
/// whether active.
#[utoipa::path(get, path = "/managers", tag = "managers", operation_id = "list_managers",
    params(ManagerListQuery),
    responses((status = 200, body = ManagerPage), (status = 400), (status = 503)),
    security(("bearer" = [])))]
pub async fn list(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ManagerListQuery>,
) -> Result<Json<ManagerPage>, ApiError> {
    may_read(&actor)?;
    let limit = list_limit(&actor, query.limit)?;
    let key = state.cursor_key().await?;
    let after = after_name_id(key, CursorKind::Managers, query.cursor.as_deref())?;
    let filter = TeamFilter {
        department: query.department,
        role: query.role.map(|r| r.name().to_owned()),
        active: query.active,
    };
    query.read.read_model(&state, KPIS).await?;
    let mut items = list_team(state.log.pool(), &filter, after, limit + 1)
        .await
        .map_err(projection_error)?;
    let next_cursor = next_page_by(&mut items, limit, |m| {
        name_cursor(key, CursorKind::Managers, &m.name, m.manager_id)
    })
    .transpose()?;
    Ok(Json(ManagerPage { items, next_cursor }))
}

/// A registered manager.
#[utoipa::path(get, path = "/managers/{id}", tag = "managers", operation_id = "get_manager",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ManagerView), (status = 400), (status = 404), (status = 503)),
    security(("bearer" = [])))]
pub async fn get(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<OnlyMinPosition>,
) -> Result<Json<TeamMember>, ApiError> {
    may_read(&actor)?;
    query.read.read_model(&state, KPIS).await?;
    let member = team_member(state.log.pool(), id)
        .await
        .map_err(projection_error)?
        .ok_or_else(|| ApiError::NotFound {
            what: format!("manager {id}"),
        })?;
    Ok(Json(member))
}
