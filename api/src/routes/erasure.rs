//! Erasing personal data (issue 6): `POST /clients/{id}/erase` and
//! `POST /leads/{id}/erase`, for admin and director tokens.
//!
//! The erasure event is appended and the subject's key destroyed in one transaction
//! (`crate::commands::append`): from then on the subject's personal values in the log
//! read `[erased]` everywhere, while the log stays as it was written. Erasing a client
//! also erases the leads linked to it (captured for it or converted into it: as the
//! `clients` read model knows them, plus those of the events of the log it has not
//! applied yet, so that a read model behind or failed neither blocks an erasure nor
//! makes it miss a lead). Erasing again is a no-op answered 200 (nothing appended,
//! `position` 0).
//!
//! The answer comes only once every read model the server knows reflects the
//! erasure (their rows replaced the values by `[erased]`), so no answer given after
//! it shows them. A read model that does not get there within the wait (failed or
//! stopped) makes it a 503 `erasure_pending`: the erasure is recorded and the keys
//! destroyed all the same, which the problem says (with the erasure's `position`).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_domain::client::{ClientCommand, ClientState};
use crm_domain::lead::{LeadCommand, LeadState};
use crm_domain::{Aggregate, EntityKind};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Role;
use crate::commands::{execute, CommandContext, CommandResponse, Decision};
use crate::error::ApiError;
use crate::extract::{ApiJsonOrEmpty, ApiPath};
use crate::read_model::{every_read_model, projection_error, Lagging};
use crate::state::AppState;

/// The body of an erasure (it may be left out).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseBody {
    /// Why (recorded in the erasure event; keep personal data out of it).
    reason: Option<String>,
    /// Business time of the erasure; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Only admin and director tokens erase personal data.
fn may_erase(ctx: &CommandContext) -> Result<(), ApiError> {
    ctx.actor
        .require(&[Role::Admin, Role::Director], "erasing personal data")
        .map(|_| ())
        .map_err(ApiError::from)
}

/// Erases a client's personal data (name, contacts) and that of its leads: appends
/// `ClientErased` (and a `LeadErased` per lead) and destroys their keys.
#[utoipa::path(post, path = "/clients/{id}/erase", operation_id = "erase_client", tag = "clients",
    request_body = Option<EraseBody>,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse, description = "erased (or erased already: nothing appended)"),
        (status = 400), (status = 401), (status = 403, description = "not an admin or director token"),
        (status = 404), (status = 409),
        (status = 503, description = "`erasure_pending`: recorded and the keys destroyed, but a read model has not applied it within the wait (failed or stopped)")),
    security(("bearer" = [])))]
pub async fn erase_client(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<EraseBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    may_erase(&ctx)?;
    // The client's leads: those the clients read model linked, and those linked by
    // events it has not applied (it may be behind, or stopped on an event it cannot
    // store): no wait on it, so a failed read model blocks no erasure.
    let leads = crm_projections::clients::linked_leads(&state.log, id)
        .await
        .map_err(projection_error)?;
    let reason = body.reason;
    let target = (EntityKind::Client, id);
    let response = execute(
        &state.commands,
        &ctx,
        target,
        body.occurred_at,
        |mut loader| {
            let (leads, reason) = (leads.clone(), reason.clone());
            async move {
                let client: ClientState = loader.load(EntityKind::Client, id).await?;
                let mut events = client.decide(ClientCommand::Erase {
                    client_id: id,
                    reason: reason.clone(),
                })?;
                for lead_id in leads {
                    let lead: LeadState = loader.load(EntityKind::Lead, lead_id).await?;
                    if lead.lead.is_some() {
                        events.extend(lead.decide(LeadCommand::Erase {
                            lead_id,
                            reason: reason.clone(),
                        })?);
                    }
                }
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    erased_everywhere(&state, response).await
}

/// The erasure's answer, once every read model reflects it (see the module's doc).
/// Erased already (nothing appended), it waits for the log as it stands: the earlier
/// erasure is in it.
async fn erased_everywhere(
    state: &AppState,
    response: CommandResponse,
) -> Result<Json<CommandResponse>, ApiError> {
    let position = match response.position {
        0 => state.log.last_position().await?.unwrap_or(0),
        appended => appended,
    };
    if position == 0 {
        return Ok(Json(response));
    }
    match every_read_model(state, position, state.min_position_wait).await {
        Ok(()) => Ok(Json(response)),
        Err(Lagging::Behind(names)) => Err(ApiError::ErasurePending { position, names }),
        Err(Lagging::Error(err)) => Err(err),
    }
}

/// Erases a lead's personal data (name, phone, email): appends `LeadErased` and
/// destroys its key.
#[utoipa::path(post, path = "/leads/{id}/erase", operation_id = "erase_lead", tag = "leads",
    request_body = Option<EraseBody>,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse, description = "erased (or erased already: nothing appended)"),
        (status = 400), (status = 401), (status = 403, description = "not an admin or director token"),
        (status = 404), (status = 409),
        (status = 503, description = "`erasure_pending`: recorded and the key destroyed, but a read model has not applied it within the wait (failed or stopped)")),
    security(("bearer" = [])))]
pub async fn erase_lead(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<EraseBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    may_erase(&ctx)?;
    let reason = body.reason;
    let target = (EntityKind::Lead, id);
    let response = execute(
        &state.commands,
        &ctx,
        target,
        body.occurred_at,
        |mut loader| {
            let reason = reason.clone();
            async move {
                let lead: LeadState = loader.load(EntityKind::Lead, id).await?;
                let events = lead.decide(LeadCommand::Erase {
                    lead_id: id,
                    reason,
                })?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    erased_everywhere(&state, response).await
}
