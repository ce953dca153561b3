//! The read models' state: status and lag of each, and rebuilds.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use crm_projections::RebuildRequest;
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::{Role, CUSTOM_READERS};
use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::read_model::{projection_error, OnlyMinPosition};
use crate::state::AppState;

/// One read model's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectionView {
    name: String,
    /// `running`, `failed` (retrying with backoff) or `stopped`.
    status: String,
    /// Events of its types not applied yet (at most 10,000 counted; see `lag_capped`).
    lag_events: i64,
    lag_capped: bool,
    /// When failed: the error.
    last_error: Option<String>,
    /// When failed: the position of the event it failed on.
    failed_position: Option<i64>,
    /// True when a runner (in any process) is applying it.
    active: bool,
    version: i32,
    events_applied: i64,
    /// A rebuild beside the live tables under way (null when none): the live tables
    /// keep answering until the rebuilt copy has caught up and is swapped in.
    rebuild: Option<RebuildView>,
    /// `builtin`, or `custom` (defined by an analyst: `POST /projections`).
    kind: &'static str,
    /// Custom projections: `building` (first build, no rows yet), `live`, or
    /// `rebuilding` (a new definition built beside the live rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    /// Custom projections: the generation being built, with `events_applied` of
    /// `events_total`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    building: Option<crm_projections::custom::GenerationStatus>,
    /// Custom projections: the definition.
    #[serde(skip_serializing_if = "Option::is_none")]
    definition: Option<serde_json::Value>,
    /// The events an operator told it to skip or sanitize (`crm projection skip`,
    /// `crm projection sanitize`), oldest first.
    repairs: Vec<RepairView>,
}

/// An event a read model gets past by an operator's decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepairView {
    /// The event's position in the log.
    position: i64,
    /// Its type.
    event_type: String,
    /// `skip` (nothing of it applied) or `sanitize` (applied with its NULs replaced).
    action: &'static str,
    /// Why.
    reason: String,
    /// Who.
    repaired_by: String,
    /// When.
    repaired_at: chrono::DateTime<chrono::Utc>,
    /// The error the read model had failed with on it, if it had.
    error: Option<String>,
}

/// The repairs of checkpoint `name` among `all`.
fn repairs_of(all: &[crm_projections::Repair], name: &str) -> Vec<RepairView> {
    all.iter()
        .filter(|r| r.projection == name)
        .map(|r| RepairView {
            position: r.position,
            event_type: r.event_type.clone(),
            action: r.action.as_str(),
            reason: r.reason.clone(),
            repaired_by: r.repaired_by.clone(),
            repaired_at: r.repaired_at,
            error: r.error.clone(),
        })
        .collect()
}

/// How far a rebuild beside the live tables has come.
#[derive(Debug, Serialize, ToSchema)]
pub struct RebuildView {
    /// Events the rebuilt copy has applied so far.
    events_applied: i64,
    /// When the rebuild was requested.
    started_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Every read model with its status and lag (custom projections only for the roles
/// that read them).
#[utoipa::path(get, path = "/projections", tag = "projections", operation_id = "list_projections",
    responses((status = 200, body = Vec<ProjectionView>)), security(("bearer" = [])))]
pub async fn list(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(OnlyMinPosition { read }): ApiQuery<OnlyMinPosition>,
) -> Result<Json<Vec<ProjectionView>>, ApiError> {
    read.read_model(&state, crm_projections::custom::catalog::NAME)
        .await?;
    let statuses = crm_projections::status(state.log.pool(), &state.log)
        .await
        .map_err(projection_error)?;
    // Custom projections are shown to those who may read them.
    let custom = match actor.role {
        role if CUSTOM_READERS.contains(&role) => {
            crm_projections::custom::custom_status(&state.log, None)
                .await
                .map_err(projection_error)?
        }
        _ => Vec::new(),
    };
    let repairs = crm_projections::repairs::repairs(state.log.pool(), None)
        .await
        .map_err(projection_error)?;
    let mut views: Vec<ProjectionView> = Vec::new();
    for s in &statuses {
        if s.name
            .starts_with(crm_projections::custom::projection::PREFIX)
        {
            continue;
        }
        views.push(ProjectionView {
            name: s.name.clone(),
            status: s.status.clone(),
            lag_events: s.lag_events,
            lag_capped: s.lag_capped,
            last_error: s.last_error.clone(),
            failed_position: s.failed_position,
            active: s.active,
            version: s.version,
            events_applied: s.events_applied,
            rebuild: s.rebuild.as_ref().map(|r| RebuildView {
                events_applied: r.events_applied,
                started_at: r.started_at,
            }),
            kind: "builtin",
            state: None,
            building: None,
            definition: None,
            repairs: repairs_of(&repairs, &s.name),
        });
    }
    for c in custom {
        let serving = c.live.as_ref().or(c.building.as_ref());
        let checkpoint = serving.and_then(|g| {
            let key = crm_projections::custom::projection::checkpoint_name(&c.name, g.generation);
            statuses.iter().find(|s| s.name == key)
        });
        views.push(ProjectionView {
            name: c.name.clone(),
            status: checkpoint.map_or_else(|| "starting".to_owned(), |s| s.status.clone()),
            lag_events: checkpoint.map_or(0, |s| s.lag_events),
            lag_capped: checkpoint.is_some_and(|s| s.lag_capped),
            last_error: checkpoint.and_then(|s| s.last_error.clone()),
            failed_position: checkpoint.and_then(|s| s.failed_position),
            active: checkpoint.is_some_and(|s| s.active),
            version: 1,
            events_applied: serving.map_or(0, |g| g.events_applied),
            rebuild: None,
            kind: "custom",
            state: Some(c.state),
            building: c.building,
            definition: Some(c.definition),
            repairs: checkpoint.map_or_else(Vec::new, |s| repairs_of(&repairs, &s.name)),
        });
    }
    Ok(Json(views))
}

/// The answer to a rebuild request.
#[derive(Debug, Serialize, ToSchema)]
pub struct RebuildAccepted {
    name: String,
    /// Always `rebuilding`.
    status: &'static str,
    /// `beside`: a copy is rebuilt beside the live tables and swapped in when caught
    /// up; `already_running`: such a rebuild was under way and goes on; `in_place`: the
    /// read model has no tables of its own to copy and was emptied to refill.
    mode: &'static str,
}

/// Rebuilds a read model from the whole log beside its live tables, then swaps it in.
#[utoipa::path(post, path = "/projections/{name}/rebuild", tag = "projections", operation_id = "rebuild_projection",
    params(("name" = String, Path)),
    responses((status = 202, body = RebuildAccepted), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn rebuild(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<(StatusCode, Json<RebuildAccepted>), ApiError> {
    actor.require(
        &[Role::Admin, Role::Director, Role::Analyst],
        "rebuilding read models",
    )?;
    let custom;
    let projection: &dyn crm_projections::Projection =
        match state.projections.iter().find(|p| p.name() == name) {
            Some(builtin) => {
                actor.require(
                    &[Role::Admin, Role::Director],
                    "rebuilding a built-in read model",
                )?;
                builtin.as_ref()
            }
            None => {
                custom = crm_projections::custom::live_projection(state.log.pool(), &name)
                    .await
                    .map_err(projection_error)?
                    .ok_or_else(|| ApiError::NotFound {
                        what: format!(
                            "projection {name} (or its first build is not done, or its \
                             definition is refused)"
                        ),
                    })?;
                &custom
            }
        };
    let mode = match crm_projections::rebuild(state.log.pool(), projection)
        .await
        .map_err(projection_error)?
    {
        RebuildRequest::Beside => "beside",
        RebuildRequest::AlreadyRunning => "already_running",
        RebuildRequest::InPlace => "in_place",
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(RebuildAccepted {
            name,
            status: "rebuilding",
            mode,
        }),
    ))
}
