//! Commands on managers: register, deactivate.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_domain::manager::{ManagerCommand, ManagerState};
use crm_domain::values::Role;
use crm_domain::{Aggregate, EntityKind};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::command::{
    created, execute, CommandContext, CommandResponse, Decision, OnlyBusinessTime,
};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiJsonOrEmpty, ApiPath};
use crate::state::AppState;

/// `POST /managers`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterManager {
    /// The new manager's id (creation is then idempotent by id); default: a new one.
    id: Option<Uuid>,
    name: String,
    department: String,
    /// `manager`, `head`, `director`, `admin`, `auditor` or `analyst`.
    #[schema(value_type = String)]
    role: Role,
    email: Option<String>,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Registers a manager.
#[utoipa::path(post, path = "/managers", tag = "managers", request_body = RegisterManager,
    responses((status = 201, body = CommandResponse), (status = 400), (status = 401), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn register(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<RegisterManager>,
) -> Result<(StatusCode, Json<CommandResponse>), ApiError> {
    let id = body.id.unwrap_or_else(|| ctx.new_id());
    let response = execute(&state, &ctx, body.occurred_at, |mut loader| {
        let body = body.clone();
        async move {
            let manager: ManagerState = loader.load(EntityKind::Manager, id).await?;
            let events = manager.decide(ManagerCommand::Register {
                manager_id: id,
                name: body.name,
                email: body.email,
                department: body.department,
                role: body.role,
            })?;
            Ok(Decision::new(loader, EntityKind::Manager, id, events))
        }
    })
    .await?;
    Ok(created(response))
}

/// Deactivates a manager: he can no longer be assigned anything.
#[utoipa::path(post, path = "/managers/{id}/deactivate", tag = "managers", request_body = Option<OnlyBusinessTime>,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn deactivate(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<OnlyBusinessTime>,
) -> Result<Json<CommandResponse>, ApiError> {
    let response = execute(&state, &ctx, body.occurred_at, |mut loader| async move {
        let manager: ManagerState = loader.load(EntityKind::Manager, id).await?;
        let events = manager.decide(ManagerCommand::Deactivate { manager_id: id })?;
        Ok(Decision::new(loader, EntityKind::Manager, id, events))
    })
    .await?;
    Ok(Json(response))
}
