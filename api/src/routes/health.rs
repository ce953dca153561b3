//! Liveness and readiness.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::read_model::OnlyMinPosition;
use crate::state::AppState;

/// The server's health.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the server can serve requests, else `unavailable`.
    status: &'static str,
    /// `ok` when PostgreSQL answers, else `unavailable`.
    database: &'static str,
}

/// Readiness: 200 when PostgreSQL answers, 503 while it does not; with
/// `min_position`, once every read model also reflects that position (a 503
/// `projection_lagging` problem after the wait). `min_position` takes a bearer token
/// of any role (401 without one): a position that names no event is a 400, so the
/// answer tells how long the log is, which is not for anyone on the network.
#[utoipa::path(
    operation_id = "health",get, path = "/health", tag = "health",
    responses((status = 200, body = Health), (status = 401, description = "`min_position` without a valid bearer token"), (status = 503, body = Health)))]
pub async fn health(
    State(state): State<AppState>,
    ApiQuery(OnlyMinPosition { read }): ApiQuery<OnlyMinPosition>,
    mut parts: Parts,
) -> Result<(StatusCode, Json<Health>), ApiError> {
    if read.min_position.is_some() {
        Actor::from_request_parts(&mut parts, &state).await?;
    }
    let up = sqlx::query("SELECT 1")
        .execute(state.log.pool())
        .await
        .is_ok();
    if !up {
        return Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable",
                database: "unavailable",
            }),
        ));
    }
    read.every_read_model(&state).await?;
    Ok((
        StatusCode::OK,
        Json(Health {
            status: "ok",
            database: "ok",
        }),
    ))
}

/// Liveness: 200 while the process serves HTTP, whatever the database.
#[utoipa::path(
    operation_id = "liveness",get, path = "/health/live", tag = "health", responses((status = 200, body = Health)))]
pub async fn live() -> Json<Health> {
    Json(Health {
        status: "ok",
        database: "unknown",
    })
}
