//! Shipments of a deal (issue 18).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::shipment::{SendShipment, ShipmentCommand, ShipmentState};
use crm_domain::{Aggregate, EntityKind};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::commands::{execute, CommandContext, CommandResponse, Decision};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::routes::created;
use crate::state::AppState;

/// `POST /deals/{id}/shipments`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentBody {
    /// The shipment's id (creation is then idempotent by id); default: a new one.
    id: Option<Uuid>,
    /// The day it left.
    shipped_on: NaiveDate,
    /// A note (carrier, waybill…).
    #[schema(max_length = 10000)]
    note: Option<String>,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Records a shipment for a deal (the deal's reach governs it).
#[utoipa::path(
    operation_id = "send_shipment", post, path = "/deals/{id}/shipments", tag = "deals", request_body = ShipmentBody,
    params(("id" = Uuid, Path)),
    responses((status = 201, body = CommandResponse), (status = 400), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn send(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(deal_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ShipmentBody>,
) -> Result<(StatusCode, Json<CommandResponse>), ApiError> {
    let id = body.id.unwrap_or_else(|| ctx.new_id());
    let response = execute(
        &state.commands,
        &ctx,
        (EntityKind::Shipment, id),
        body.occurred_at,
        |mut loader| {
            let body = body.clone();
            async move {
                let shipment: ShipmentState = loader.load(EntityKind::Shipment, id).await?;
                let deal = loader.reference(EntityKind::Deal, deal_id).await?;
                let events = shipment.decide(ShipmentCommand::Send(SendShipment {
                    shipment_id: id,
                    deal,
                    shipped_on: body.shipped_on,
                    note: body.note,
                }))?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(created(response))
}
