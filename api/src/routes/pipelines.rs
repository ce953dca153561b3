//! Commands on pipelines: define one, with its ordered stages.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use crm_domain::pipeline::{PipelineCommand, PipelineState};
use crm_domain::values::Stage;
use crm_domain::{Aggregate, EntityKind};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::commands::{execute, CommandContext, CommandResponse, Decision};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::created;
use crate::state::AppState;

/// One stage of a new pipeline.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageBody {
    /// The stage's id; default: a new one.
    id: Option<Uuid>,
    #[schema(max_length = 200)]
    name: String,
    /// The probability of winning a deal at this stage, 0..1.
    #[schema(minimum = 0, maximum = 1)]
    probability: f64,
}

/// `POST /pipelines`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefinePipeline {
    /// The pipeline's id; default: a new one.
    id: Option<Uuid>,
    #[schema(max_length = 200)]
    name: String,
    /// The stages, in order.
    #[schema(min_items = 1, max_items = 100)]
    stages: Vec<StageBody>,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Defines a pipeline (a funnel for one type of sale) with its ordered stages.
#[utoipa::path(
    operation_id = "define_pipeline",post, path = "/pipelines", tag = "pipelines", request_body = DefinePipeline,
    responses((status = 201, body = CommandResponse), (status = 400), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn define(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<DefinePipeline>,
) -> Result<(StatusCode, Json<CommandResponse>), ApiError> {
    let id = body.id.unwrap_or_else(|| ctx.new_id());
    let stages: Vec<Stage> = body
        .stages
        .iter()
        .map(|s| Stage {
            stage_id: s.id.unwrap_or_else(Uuid::now_v7),
            name: s.name.clone(),
            probability: s.probability,
        })
        .collect();
    let target = (EntityKind::Pipeline, id);
    let response = execute(
        &state.commands,
        &ctx,
        target,
        body.occurred_at,
        |mut loader| {
            let (name, stages) = (body.name.clone(), stages.clone());
            async move {
                let pipeline: PipelineState = loader.load(EntityKind::Pipeline, id).await?;
                let events = pipeline.decide(PipelineCommand::Define {
                    pipeline_id: id,
                    name,
                    stages,
                })?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(created(response))
}
