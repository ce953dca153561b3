//! Pipelines as `GET /pipelines` shows them: each with its stages in order.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;

/// One stage of a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct StageRow {
    /// The stage's id.
    #[serde(rename = "id")]
    pub stage_id: Uuid,
    /// Its name.
    pub name: String,
    /// The probability of winning a deal at this stage, 0..1.
    pub probability: f64,
}

/// A pipeline with its ordered stages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineRow {
    /// The pipeline's id.
    #[serde(rename = "id")]
    pub pipeline_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its stages in order.
    pub stages: Vec<StageRow>,
}

/// Up to `limit` pipelines by name (code point order), then id, starting after
/// `(name, id)` of `after`, each with its stages.
pub async fn list_pipelines(
    pool: &PgPool,
    after: Option<(String, Uuid)>,
    limit: i64,
) -> Result<Vec<PipelineRow>, ProjectionError> {
    // No cursor: before every (name, id); names are never empty.
    let (after_name, after_id) = after.unwrap_or_default();
    let pipelines: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT pipeline_id, name FROM projections.pipelines \
          WHERE (name COLLATE \"C\", pipeline_id) > ($1::text COLLATE \"C\", $2::uuid) \
          ORDER BY name COLLATE \"C\", pipeline_id LIMIT $3",
    )
    .bind(after_name)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    with_stages(pool, pipelines).await
}

/// The pipeline `pipeline_id` with its stages; None when it is not defined.
pub async fn pipeline(
    pool: &PgPool,
    pipeline_id: Uuid,
) -> Result<Option<PipelineRow>, ProjectionError> {
    let found: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT pipeline_id, name FROM projections.pipelines WHERE pipeline_id = $1",
    )
    .bind(pipeline_id)
    .fetch_optional(pool)
    .await?;
    Ok(with_stages(pool, found.into_iter().collect())
        .await?
        .into_iter()
        .next())
}

/// The pipelines `(id, name)`, in the same order, each with its stages.
async fn with_stages(
    pool: &PgPool,
    pipelines: Vec<(Uuid, String)>,
) -> Result<Vec<PipelineRow>, ProjectionError> {
    if pipelines.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = pipelines.iter().map(|(id, _)| *id).collect();
    let stages: Vec<(Uuid, Uuid, String, f64)> = sqlx::query_as(
        "SELECT pipeline_id, stage_id, name, probability FROM projections.pipeline_stages \
          WHERE pipeline_id = ANY($1) ORDER BY pipeline_id, idx",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let mut by_pipeline: HashMap<Uuid, Vec<StageRow>> = HashMap::new();
    for (pipeline_id, stage_id, name, probability) in stages {
        by_pipeline.entry(pipeline_id).or_default().push(StageRow {
            stage_id,
            name,
            probability,
        });
    }
    Ok(pipelines
        .into_iter()
        .map(|(pipeline_id, name)| PipelineRow {
            pipeline_id,
            name,
            stages: by_pipeline.remove(&pipeline_id).unwrap_or_default(),
        })
        .collect())
}
