//! Conversion: how far a cohort of deals (a pipeline's, opened in a period) got
//! through the pipeline's stages, and their outcomes now.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::entity_status::DealStatus;
use crate::error::ProjectionError;

/// How far one stage of a cohort got.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReachedStage {
    /// The stage.
    pub stage_id: Uuid,
    /// Its name.
    pub name: String,
    /// Cohort deals whose highest stage ever is this one or later.
    pub reached: i64,
}

/// A cohort's reach and outcomes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversion {
    /// Deals of the pipeline opened in the period.
    pub cohort: i64,
    /// Every stage, in pipeline order.
    pub stages: Vec<ReachedStage>,
    /// Cohort deals won now.
    pub won: i64,
    /// Cohort deals lost now.
    pub lost: i64,
    /// Cohort deals open now.
    pub open: i64,
}

/// The pipeline's deals opened in `[from, to)` (by the manager at opening, if
/// given): how many reached each stage, and their outcomes now. None when the
/// pipeline is unknown.
pub async fn conversion(
    pool: &PgPool,
    pipeline_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    managers: Option<&[Uuid]>,
) -> Result<Option<Conversion>, ProjectionError> {
    let stages: Vec<(Uuid, String, i32)> = sqlx::query_as(
        "SELECT stage_id, name, idx FROM projections.pipeline_stages WHERE pipeline_id = $1 ORDER BY idx",
    )
    .bind(pipeline_id)
    .fetch_all(pool)
    .await?;
    if stages.is_empty() {
        return Ok(None);
    }
    // The cohort counted by highest stage reached and outcome, in one pass over the
    // pipeline's opening-time index (which holds both); a stage is reached by the
    // deals whose highest stage is it or a later one.
    let counts: Vec<(i32, DealStatus, i64)> = sqlx::query_as(
        "SELECT max_stage_idx, status, count(*) FROM projections.deals \
          WHERE pipeline_id = $1 AND opened_at >= $2 AND opened_at < $3 \
            AND ($4::uuid[] IS NULL OR opened_manager_id = ANY($4)) \
          GROUP BY 1, 2",
    )
    .persistent(false)
    .bind(pipeline_id)
    .bind(from)
    .bind(to)
    .bind(managers)
    .fetch_all(pool)
    .await?;
    let outcome = |status: DealStatus| -> i64 {
        counts
            .iter()
            .filter(|(_, s, _)| *s == status)
            .map(|(_, _, n)| n)
            .sum()
    };
    let (won, lost, open) = (
        outcome(DealStatus::Won),
        outcome(DealStatus::Lost),
        outcome(DealStatus::Open),
    );
    let cohort = counts.iter().map(|(_, _, n)| n).sum();
    let stages = stages
        .into_iter()
        .map(|(stage_id, name, idx)| ReachedStage {
            stage_id,
            name,
            reached: counts
                .iter()
                .filter(|(reached, _, _)| *reached >= idx)
                .map(|(_, _, n)| n)
                .sum(),
        })
        .collect();
    Ok(Some(Conversion {
        cohort,
        stages,
        won,
        lost,
        open,
    }))
}
