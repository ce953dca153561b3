//! The team, from the `manager_kpis` read model: `GET /managers` and
//! `GET /managers/{id}`. Every role reads it (names are what reports, tasks and
//! deals show). And a manager's day (`GET /managers/{id}/day`), read within reach.
//! The commands on managers are in `managers.rs`.

use axum::extract::State;
use axum::Json;
use crm_domain::values::Role;
use crm_projections::managers::{list_team, team_member, TeamFilter, TeamMember, NAME as KPIS};
use serde::{Deserialize, Serialize};
use serde_json::Value;
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

/// The read models a manager's day reads.
pub(super) const DAY_MODELS: &[&str] = &[
    crm_projections::leads::NAME,
    crm_projections::clients::NAME,
    crm_projections::deals::NAME,
    crm_projections::tasks::NAME,
    crm_projections::interactions::NAME,
    KPIS,
];

/// Which day.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DayQuery {
    /// The day (UTC); default: today by the server's clock.
    date: Option<chrono::NaiveDate>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// A lead of his that no interaction names yet.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Describes `crm_projections::day::Prospect` as served.
pub struct ProspectView {
    lead_id: Uuid,
    /// The lead's name (`[erased]` once erased).
    name: String,
    /// When it came in.
    received_at: chrono::DateTime<chrono::Utc>,
}

/// A client of his with open deals.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Describes `crm_projections::day::DayClient` as served.
pub struct DayClientView {
    client_id: Uuid,
    /// The client's name (`[erased]` once erased).
    name: String,
    /// Its open deals (neither won nor lost), with those of the clients merged into it.
    open_deals: i64,
    /// Their current amounts, summed; minor units (exact at any size).
    open_amount: i128,
}

/// A call task of his due on the day or the day before, with no call to its client
/// logged since it was scheduled.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Describes `crm_projections::day::Tail` as served.
pub struct TailView {
    task_id: Uuid,
    title: String,
    /// The client the task names; null when none.
    client_id: Option<Uuid>,
    /// When it is due (after reschedules).
    due_at: chrono::DateTime<chrono::Utc>,
}

/// A manager's day.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayView {
    /// The day.
    date: chrono::NaiveDate,
    /// His leads neither converted nor rejected that no interaction names yet, oldest
    /// first (then by id); without the lead fields hidden from the token's role.
    #[schema(value_type = Vec<ProspectView>)]
    prospects: Vec<Value>,
    /// His clients with open deals, largest open amount first (then by id); a merged
    /// client's deals count for its survivor, and it is not listed.
    #[schema(value_type = Vec<DayClientView>)]
    clients: Vec<Value>,
    /// His open tasks of kind `call` due on `date` or the day before (UTC) with no
    /// call to their client (or a client merged with it) logged since the task was
    /// scheduled; by due time, then id.
    #[schema(value_type = Vec<TailView>)]
    tails: Vec<crm_projections::day::Tail>,
}

/// A manager's day: his prospects, his clients with open deals, his call tails.
///
/// A manager reads his own day, a head his department's managers', directors and
/// admins anyone's (403 otherwise; 404 for an unknown manager). Read models `leads`,
/// `clients`, `deals`, `tasks`, `interactions` and `manager_kpis`.
#[utoipa::path(get, path = "/managers/{id}/day", tag = "managers", operation_id = "manager_day",
    params(("id" = Uuid, Path), DayQuery),
    responses((status = 200, body = DayView), (status = 400), (status = 403), (status = 404), (status = 503)),
    security(("bearer" = [])))]
pub async fn day(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<DayQuery>,
) -> Result<Json<DayView>, ApiError> {
    actor.require(crate::access::ACTORS, "reading a manager's day")?;
    let reach = crate::access::reach(&state, &actor).await?;
    query.read.read_models(&state, DAY_MODELS).await?;
    team_member(state.log.pool(), id)
        .await
        .map_err(projection_error)?
        .ok_or_else(|| ApiError::NotFound {
            what: format!("manager {id}"),
        })?;
    if !reach.covers_manager(id) {
        return Err(crate::access::out_of_reach(&format!("manager {id}'s day")));
    }
    let date = query
        .date
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let day = crm_projections::day::manager_day(state.log.pool(), id, date)
        .await
        .map_err(projection_error)?;
    let hidden = state.hidden.of(&actor);
    let prospects = day
        .prospects
        .into_iter()
        .map(|p| {
            let mut value = serde_json::to_value(p).unwrap_or(Value::Null);
            hidden.strip_lead(&mut value);
            value
        })
        .collect();
    let clients = day
        .clients
        .into_iter()
        .map(|c| {
            let mut value = serde_json::to_value(c).unwrap_or(Value::Null);
            if hidden.hides_client("name") {
                if let Value::Object(map) = &mut value {
                    map.remove("name");
                }
            }
            value
        })
        .collect();
    Ok(Json(DayView {
        date: day.date,
        prospects,
        clients,
        tails: day.tails,
    }))
}
