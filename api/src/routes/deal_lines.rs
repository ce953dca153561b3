//! A deal's lines: products with a quantity and a unit price (issue 18).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_domain::deal::{DealCommand, DealState, NewLine};
use crm_domain::{Aggregate, EntityKind};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::commands::{execute, CommandContext, CommandResponse, Decision};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiJsonOrEmpty, ApiPath};
use crate::routes::created;
use crate::state::AppState;

/// `POST /deals/{id}/lines`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddLineBody {
    /// The line's id, unique within the deal (the same line again is a retry);
    /// default: a new one.
    line_id: Option<Uuid>,
    /// A product of the catalogue.
    product_id: Uuid,
    /// How many, a positive whole number.
    #[serde(deserialize_with = "crate::extract::whole::required")]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    quantity: i64,
    /// The unit price, minor units; quantity × price at most 10^15
    /// (`amount_too_large`).
    #[serde(deserialize_with = "crate::extract::whole::required")]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    price: i64,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Adds a line to an open deal; the answer's `id` is the line's.
#[utoipa::path(
    operation_id = "add_deal_line", post, path = "/deals/{id}/lines", tag = "deals", request_body = AddLineBody,
    params(("id" = Uuid, Path)),
    responses((status = 201, body = CommandResponse), (status = 400), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn add(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AddLineBody>,
) -> Result<(StatusCode, Json<CommandResponse>), ApiError> {
    let line_id = body.line_id.unwrap_or_else(|| ctx.new_id());
    let response = execute(
        &state.commands,
        &ctx,
        (EntityKind::Deal, id),
        body.occurred_at,
        |mut loader| {
            let body = body.clone();
            async move {
                let deal: DealState = loader.load(EntityKind::Deal, id).await?;
                let product = loader
                    .reference(EntityKind::Product, body.product_id)
                    .await?;
                let events = deal.decide(DealCommand::AddLine {
                    deal_id: id,
                    line: NewLine {
                        line_id,
                        product,
                        quantity: body.quantity,
                        price: body.price,
                    },
                })?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(created(CommandResponse {
        id: line_id,
        ..response
    }))
}

/// `POST /deals/{id}/lines/{line_id}/remove`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveLineBody {
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Takes a line off an open deal; the answer's `id` is the line's.
#[utoipa::path(
    operation_id = "remove_deal_line", post, path = "/deals/{id}/lines/{line_id}/remove", tag = "deals",
    request_body = Option<RemoveLineBody>,
    params(("id" = Uuid, Path), ("line_id" = Uuid, Path)),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath((id, line_id)): ApiPath<(Uuid, Uuid)>,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<RemoveLineBody>,
) -> Result<Json<CommandResponse>, ApiError> {
    let response = execute(
        &state.commands,
        &ctx,
        (EntityKind::Deal, id),
        body.occurred_at,
        |mut loader| async move {
            let deal: DealState = loader.load(EntityKind::Deal, id).await?;
            let events = deal.decide(DealCommand::RemoveLine {
                deal_id: id,
                line_id,
            })?;
            Ok(Decision::new(loader, events))
        },
    )
    .await?;
    Ok(Json(CommandResponse {
        id: line_id,
        ..response
    }))
}
