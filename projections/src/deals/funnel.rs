//! The funnel: a pipeline's open deals by current stage, now or as they stood at a
//! business time.

use chrono::{DateTime, Datelike, NaiveTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::total::Total;

/// One stage of a funnel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunnelStage {
    /// The stage.
    pub stage_id: Uuid,
    /// Its name.
    pub name: String,
    /// Open deals at it.
    pub deals: i64,
    /// Their summed current amounts (exact: `crate::total`).
    pub amount: Total,
}

/// The funnel now: open deals of `$1` (of the current manager `$2`, if given) by
/// current stage, every stage listed, in pipeline order.
const FUNNEL_NOW: &str = "SELECT s.stage_id, s.name, count(d.deal_id), coalesce(sum(d.amount), 0)::text \
       FROM projections.pipeline_stages s \
       LEFT JOIN projections.deals d ON d.pipeline_id = s.pipeline_id AND d.stage_id = s.stage_id \
                                    AND d.status = 'open' AND ($2::uuid[] IS NULL OR d.manager_id = ANY($2)) \
      WHERE s.pipeline_id = $1 \
      GROUP BY s.stage_id, s.name, s.idx ORDER BY s.idx";

/// The funnel as of `$3` (`$4` the first day of its UTC month, `$5` its UTC day and
/// `$6` that day's start), from `deals::rollup`: the regular deals' moves summed per
/// month before `$4`, per day from `$4` to before `$5`, and one by one from `$6` to
/// `$3` (all managers' sums, or those of the managers `$2`); and each irregular deal
/// of the pipeline folded as before: per field, the value its latest (by version)
/// change at or before `$3` set, counted once its first change (version 1) occurred
/// by then. What it reads grows with the stages, managers and calendar, not with the
/// deals of the history.
const FUNNEL_AS_OF: &str = "WITH counted AS ( \
         SELECT r.stage_id, r.deals, r.amount FROM projections.funnel_rollup r \
          WHERE r.pipeline_id = $1 \
            AND r.manager_id = ANY(coalesce($2::uuid[], ARRAY['00000000-0000-0000-0000-000000000000'::uuid])) \
            AND r.span = 'month' AND r.bucket < $4 \
         UNION ALL \
         SELECT r.stage_id, r.deals, r.amount FROM projections.funnel_rollup r \
          WHERE r.pipeline_id = $1 \
            AND r.manager_id = ANY(coalesce($2::uuid[], ARRAY['00000000-0000-0000-0000-000000000000'::uuid])) \
            AND r.span = 'day' AND r.bucket >= $4 AND r.bucket < $5 \
         UNION ALL \
         SELECT m.stage_id, m.deals::bigint, m.amount::numeric FROM projections.funnel_moves m \
          WHERE m.pipeline_id = $1 AND m.occurred_at >= $6 AND m.occurred_at <= $3 \
            AND ($2::uuid[] IS NULL OR m.manager_id = ANY($2)) \
         UNION ALL \
         SELECT f.stage_id, 1::bigint, f.amount::numeric \
           FROM projections.deals d CROSS JOIN LATERAL ( \
             SELECT (array_agg(x.stage_id ORDER BY x.version DESC) FILTER (WHERE x.stage_id IS NOT NULL))[1] AS stage_id, \
                    (array_agg(x.amount ORDER BY x.version DESC) FILTER (WHERE x.amount IS NOT NULL))[1] AS amount, \
                    (array_agg(x.manager_id ORDER BY x.version DESC) FILTER (WHERE x.manager_id IS NOT NULL))[1] AS manager_id, \
                    (array_agg(x.status ORDER BY x.version DESC) FILTER (WHERE x.status IS NOT NULL))[1] AS status \
               FROM projections.deal_changes x \
              WHERE x.deal_id = d.deal_id AND x.occurred_at <= $3 \
             HAVING bool_or(x.version = 1)) f \
          WHERE d.pipeline_id = $1 AND d.irregular AND f.status = 'open' \
            AND ($2::uuid[] IS NULL OR f.manager_id = ANY($2))) \
     SELECT s.stage_id, s.name, coalesce(sum(c.deals), 0)::bigint, coalesce(sum(c.amount), 0)::text \
       FROM projections.pipeline_stages s \
       LEFT JOIN counted c ON c.stage_id = s.stage_id \
      WHERE s.pipeline_id = $1 \
      GROUP BY s.stage_id, s.name, s.idx ORDER BY s.idx";

/// Open deals of `pipeline_id` by current stage, in pipeline order, every stage
/// listed; with `as_of`, counting only events that occurred at or before it. None
/// when the pipeline is unknown.
pub async fn funnel(
    pool: &PgPool,
    pipeline_id: Uuid,
    managers: Option<&[Uuid]>,
    as_of: Option<DateTime<Utc>>,
) -> Result<Option<Vec<FunnelStage>>, ProjectionError> {
    let known: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM projections.pipelines WHERE pipeline_id = $1)",
    )
    .bind(pipeline_id)
    .fetch_one(pool)
    .await?;
    if !known {
        return Ok(None);
    }
    let rows: Vec<(Uuid, String, i64, Total)> = match as_of {
        None => {
            sqlx::query_as(FUNNEL_NOW)
                .bind(pipeline_id)
                .bind(managers)
                .fetch_all(pool)
                .await?
        }
        Some(as_of) => {
            let day = as_of.date_naive();
            let month = day.with_day(1).unwrap_or(day);
            let day_start = day.and_time(NaiveTime::MIN).and_utc();
            // Planned for these bounds each time, and without JIT: compiling costs
            // more than this statement runs.
            let mut tx = pool.begin().await?;
            sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
            let rows = sqlx::query_as(FUNNEL_AS_OF)
                .persistent(false)
                .bind(pipeline_id)
                .bind(managers)
                .bind(as_of)
                .bind(month)
                .bind(day)
                .bind(day_start)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            rows
        }
    };
    Ok(Some(
        rows.into_iter()
            .map(|(stage_id, name, deals, amount)| FunnelStage {
                stage_id,
                name,
                deals,
                amount,
            })
            .collect(),
    ))
}
