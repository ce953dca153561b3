//! Reports computed from the read models, each figure as the contract defines it.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_projections::deals::{funnel as funnel_query, FunnelStage, NAME as DEALS};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::read_model::{projection_error, reflects};
use crate::state::AppState;

/// Which funnel.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FunnelQuery {
    pipeline_id: Uuid,
    /// Only deals whose current manager this is.
    manager_id: Option<Uuid>,
    /// The funnel as it stood then (events with `occurred_at <= as_of`).
    as_of: Option<DateTime<Utc>>,
    /// Answer once the read model reflects this position (read-your-writes).
    min_position: Option<i64>,
}

/// One stage of the funnel.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelStageView {
    stage_id: Uuid,
    name: String,
    /// Open deals at this stage.
    deals: i64,
    /// Their summed current amounts, minor units.
    amount: i64,
}

/// The funnel of open deals.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelView {
    pipeline_id: Uuid,
    /// The time the funnel is as of (null: now, every event counted).
    as_of: Option<DateTime<Utc>>,
    stages: Vec<FunnelStageView>,
    open_deals: i64,
    open_amount: i64,
}

/// Open deals (neither won nor lost) by current stage, in pipeline order, every stage
/// listed; `amount` sums their current amounts; with `as_of`, only events that
/// occurred by then count.
#[utoipa::path(get, path = "/reports/funnel", tag = "reports", operation_id = "funnel_report",
    params(FunnelQuery),
    responses((status = 200, body = FunnelView), (status = 400), (status = 404), (status = 503)),
    security(("bearer" = [])))]
pub async fn funnel(
    _actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<FunnelQuery>,
) -> Result<Json<FunnelView>, ApiError> {
    reflects(&state, DEALS, query.min_position).await?;
    let stages = funnel_query(
        state.log.pool(),
        query.pipeline_id,
        query.manager_id,
        query.as_of,
    )
    .await
    .map_err(projection_error)?
    .ok_or_else(|| ApiError::NotFound {
        what: format!("pipeline {}", query.pipeline_id),
    })?;
    let open_deals = stages.iter().map(|s| s.deals).sum();
    let open_amount = stages.iter().map(|s| s.amount).sum();
    Ok(Json(FunnelView {
        pipeline_id: query.pipeline_id,
        as_of: query.as_of,
        stages: stages
            .into_iter()
            .map(
                |FunnelStage {
                     stage_id,
                     name,
                     deals,
                     amount,
                 }| FunnelStageView {
                    stage_id,
                    name,
                    deals,
                    amount,
                },
            )
            .collect(),
        open_deals,
        open_amount,
    }))
}
