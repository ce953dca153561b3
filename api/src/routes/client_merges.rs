//! Merging a duplicate client into another, and undoing it (issue 18).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_domain::client::{ClientCommand, ClientState};
use crm_domain::{Aggregate, EntityKind};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::commands::{execute, CommandContext, CommandResponse, Decision};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiJsonOrEmpty, ApiPath};
use crate::state::AppState;

/// `POST /clients/{id}/merge`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The survivor: must exist, not be this client, not be merged itself.
    into_client_id: Uuid,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Merges a duplicate client into another: its deals, interactions, tasks and leads
/// count for the survivor until unmerged.
#[utoipa::path(
    operation_id = "merge_client", post, path = "/clients/{id}/merge", tag = "clients", request_body = MergeBody,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn merge(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<MergeBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    let response = execute(
        &state.commands,
        &ctx,
        (EntityKind::Client, id),
        body.occurred_at,
        |mut loader| {
            let into_id = body.into_client_id;
            async move {
                let client: ClientState = loader.load(EntityKind::Client, id).await?;
                let into = loader.reference(EntityKind::Client, into_id).await?;
                let events = client.decide(ClientCommand::Merge {
                    client_id: id,
                    into,
                })?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(Json(response))
}

/// `POST /clients/{id}/unmerge`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnmergeBody {
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Undoes a client's merge: everything counts as before it.
#[utoipa::path(
    operation_id = "unmerge_client", post, path = "/clients/{id}/unmerge", tag = "clients",
    request_body = Option<UnmergeBody>,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn unmerge(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<UnmergeBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    let response = execute(
        &state.commands,
        &ctx,
        (EntityKind::Client, id),
        body.occurred_at,
        |mut loader| async move {
            let client: ClientState = loader.load(EntityKind::Client, id).await?;
            let events = client.decide(ClientCommand::Unmerge { client_id: id })?;
            Ok(Decision::new(loader, events))
        },
    )
    .await?;
    Ok(Json(response))
}
