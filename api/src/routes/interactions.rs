//! Commands on interactions: log a call, email, meeting or message.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_domain::interaction::{InteractionCommand, InteractionState, LogInteraction};
use crm_domain::values::{Direction, InteractionKind};
use crm_domain::{Aggregate, EntityKind};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::commands::{execute, CommandContext, CommandResponse, Decision};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::created;
use crate::state::AppState;

/// `POST /interactions`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogInteractionBody {
    /// The new interaction's id (creation is then idempotent by id); default: a new one.
    id: Option<Uuid>,
    /// `call`, `email`, `meeting` or `message`.
    #[schema(value_type = super::doc_types::InteractionKindDoc, inline)]
    kind: InteractionKind,
    /// `inbound` or `outbound`.
    #[schema(value_type = super::doc_types::DirectionDoc, inline)]
    direction: Direction,
    /// The manager on our side: must exist and be active.
    manager_id: Uuid,
    /// The client it was with: must exist.
    client_id: Option<Uuid>,
    /// The deal it was about: must exist, and be the client's when both are given.
    deal_id: Option<Uuid>,
    /// The lead it answered: must exist.
    lead_id: Option<Uuid>,
    /// Duration in seconds, not negative, at most 7 days: 604800
    /// (`duration_too_long`).
    #[serde(default, deserialize_with = "crate::extract::whole::optional")]
    #[schema(minimum = 0, maximum = 604_800)]
    duration_s: Option<i64>,
    /// How it went.
    #[schema(max_length = 200)]
    outcome: Option<String>,
    /// What it was for.
    #[schema(max_length = 200)]
    goal: Option<String>,
    #[schema(max_length = 10000)]
    notes: Option<String>,
    /// Whether the interaction reached its goal (a call with a goal reached, say).
    goal_reached: Option<bool>,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Logs an interaction.
#[utoipa::path(post, path = "/interactions", operation_id = "log_interaction", tag = "interactions", request_body = LogInteractionBody,
    responses((status = 201, body = CommandResponse), (status = 400), (status = 401), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn log(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<LogInteractionBody>,
) -> Result<(StatusCode, Json<CommandResponse>), ApiError> {
    let id = body.id.unwrap_or_else(|| ctx.new_id());
    let target = (EntityKind::Interaction, id);
    let response = execute(
        &state.commands,
        &ctx,
        target,
        body.occurred_at,
        |mut loader| {
            let body = body.clone();
            async move {
                // Everything the command names, read in one query.
                let mut named = vec![(EntityKind::Manager, body.manager_id)];
                named.extend(body.client_id.map(|c| (EntityKind::Client, c)));
                named.extend(body.deal_id.map(|d| (EntityKind::Deal, d)));
                named.extend(body.lead_id.map(|l| (EntityKind::Lead, l)));
                if body.id.is_some() {
                    named.push((EntityKind::Interaction, id));
                }
                loader.prefetch(&named).await?;
                let interaction: InteractionState = if body.id.is_some() {
                    loader.load(EntityKind::Interaction, id).await?
                } else {
                    loader.fresh(EntityKind::Interaction, id)
                };
                let manager = loader
                    .reference(EntityKind::Manager, body.manager_id)
                    .await?;
                let client = loader
                    .optional_reference(EntityKind::Client, body.client_id)
                    .await?;
                let deal = loader
                    .optional_reference(EntityKind::Deal, body.deal_id)
                    .await?;
                let lead = loader
                    .optional_reference(EntityKind::Lead, body.lead_id)
                    .await?;
                let events = interaction.decide(InteractionCommand::Log(LogInteraction {
                    interaction_id: id,
                    kind: body.kind,
                    direction: body.direction,
                    manager,
                    client,
                    deal,
                    lead,
                    duration_s: body.duration_s,
                    outcome: body.outcome,
                    goal: body.goal,
                    notes: body.notes,
                    goal_reached: body.goal_reached,
                }))?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(created(response))
}
