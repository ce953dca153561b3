//! Products: the catalogue's command (issue 18).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_domain::product::{DefineProduct, ProductCommand, ProductState};
use crm_domain::{Aggregate, EntityKind};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::commands::{execute, CommandContext, CommandResponse, Decision};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::created;
use crate::state::AppState;

/// `POST /products`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefineProductBody {
    /// The product's id (creation is then idempotent by id); default: a new one.
    id: Option<Uuid>,
    /// Its name.
    #[schema(max_length = 200)]
    name: String,
    /// Its one main category (revenue is grouped by it).
    #[schema(max_length = 200)]
    category: String,
    /// Its list price, minor units, at most 10^15.
    #[serde(default, deserialize_with = "crate::extract::whole::optional")]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    price: Option<i64>,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Defines a product of the catalogue (directors and admins).
#[utoipa::path(
    operation_id = "define_product", post, path = "/products", tag = "products", request_body = DefineProductBody,
    responses((status = 201, body = CommandResponse), (status = 400), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn define(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<DefineProductBody>,
) -> Result<(StatusCode, Json<CommandResponse>), ApiError> {
    let id = body.id.unwrap_or_else(|| ctx.new_id());
    let response = execute(
        &state.commands,
        &ctx,
        (EntityKind::Product, id),
        body.occurred_at,
        |mut loader| {
            let body = body.clone();
            async move {
                let product: ProductState = loader.load(EntityKind::Product, id).await?;
                let events = product.decide(ProductCommand::Define(DefineProduct {
                    product_id: id,
                    name: body.name,
                    category: body.category,
                    price: body.price,
                }))?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(created(response))
}
