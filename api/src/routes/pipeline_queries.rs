//! Pipelines with their stages, from the `deals` read model: `GET /pipelines` and
//! `GET /pipelines/{id}`. Every role reads them (reports and deals name their
//! stages). The command defining one is in `pipelines.rs`.

use axum::extract::State;
use axum::Json;
use crm_domain::values::Role;
use crm_projections::deals::{list_pipelines, pipeline, PipelineRow, NAME as DEALS};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access::list_limit;
use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::paging::{after_name_id, name_cursor, next_page_by, CursorKind};
use crate::read_model::{projection_error, OnlyMinPosition, ReadYourWrites};
use crate::state::AppState;

/// One stage of a pipeline.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Describes `StageRow` as served; never built itself.
pub struct StageView {
    id: Uuid,
    name: String,
    /// The probability of winning a deal at this stage, 0..1.
    probability: f64,
}

/// A pipeline with its stages in order.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Describes `PipelineRow` as served; never built itself.
pub struct PipelineView {
    id: Uuid,
    name: String,
    stages: Vec<StageView>,
}

/// Where to continue the list of pipelines.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PipelineListQuery {
    /// Page size: default 100, at most 1000.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// From an earlier page's `next_cursor`.
    cursor: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    read: ReadYourWrites,
}

/// A page of pipelines.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelinePage {
    #[schema(value_type = Vec<PipelineView>)]
    items: Vec<PipelineRow>,
    /// Where the next page starts; null at the end.
    next_cursor: Option<String>,
}

/// Only a token of a known role reads pipelines.
fn may_read(actor: &Actor) -> Result<(), ApiError> {
    actor
        .require(&Role::ALL, "reading pipelines")
        .map(|_| ())
        .map_err(ApiError::from)
}

/// Pipelines with their stages, by name, then id, a page at a time.
#[utoipa::path(get, path = "/pipelines", tag = "pipelines", operation_id = "list_pipelines",
    params(PipelineListQuery),
    responses((status = 200, body = PipelinePage), (status = 400), (status = 503)),
    security(("bearer" = [])))]
pub async fn list(
    actor: Actor,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PipelineListQuery>,
) -> Result<Json<PipelinePage>, ApiError> {
    may_read(&actor)?;
    let limit = list_limit(&actor, query.limit)?;
    let key = state.cursor_key().await?;
    let after = after_name_id(key, CursorKind::Pipelines, query.cursor.as_deref())?;
    query.read.read_model(&state, DEALS).await?;
    let mut items = list_pipelines(state.log.pool(), after, limit + 1)
        .await
        .map_err(projection_error)?;
    let next_cursor = next_page_by(&mut items, limit, |p| {
        name_cursor(key, CursorKind::Pipelines, &p.name, p.pipeline_id)
    })
    .transpose()?;
    Ok(Json(PipelinePage { items, next_cursor }))
}

/// A pipeline with its stages in order.
#[utoipa::path(get, path = "/pipelines/{id}", tag = "pipelines", operation_id = "get_pipeline",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PipelineView), (status = 400), (status = 404), (status = 503)),
    security(("bearer" = [])))]
pub async fn get(
    actor: Actor,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<OnlyMinPosition>,
) -> Result<Json<PipelineRow>, ApiError> {
    may_read(&actor)?;
    query.read.read_model(&state, DEALS).await?;
    let found = pipeline(state.log.pool(), id)
        .await
        .map_err(projection_error)?
        .ok_or_else(|| ApiError::NotFound {
            what: format!("pipeline {id}"),
        })?;
    Ok(Json(found))
}
