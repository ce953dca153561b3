//! The funnel: a pipeline's open deals by current stage, now or as they stood at a
//! business time.

use chrono::{DateTime, Utc};
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

/// The funnel as of `$3`: each deal's fields are, per field, the value its latest (by
/// version) change at or before `$3` set, and a deal counts once its first change
/// (version 1) occurred by then. A deal none of whose changes occurred after `$3`
/// stands then as it stands now, so only the deals changed since (`later`, from one
/// range of the changes' time index, which also tells whether their version 1 is
/// among those changes) are folded from `deal_changes`, and of those only the ones
/// opened by then; the others are read as they are now.
const FUNNEL_AS_OF: &str = "WITH later AS MATERIALIZED ( \
         SELECT c.deal_id, bool_or(c.version = 1) AS opened_after FROM projections.deal_changes c \
          WHERE c.pipeline_id = $1 AND c.occurred_at > $3 GROUP BY c.deal_id), \
     past AS ( \
         SELECT l.deal_id, f.stage_id, f.amount, f.manager_id, f.status \
           FROM later l CROSS JOIN LATERAL ( \
             SELECT (array_agg(x.stage_id ORDER BY x.version DESC) FILTER (WHERE x.stage_id IS NOT NULL))[1] AS stage_id, \
                    (array_agg(x.amount ORDER BY x.version DESC) FILTER (WHERE x.amount IS NOT NULL))[1] AS amount, \
                    (array_agg(x.manager_id ORDER BY x.version DESC) FILTER (WHERE x.manager_id IS NOT NULL))[1] AS manager_id, \
                    (array_agg(x.status ORDER BY x.version DESC) FILTER (WHERE x.status IS NOT NULL))[1] AS status \
               FROM projections.deal_changes x \
              WHERE x.deal_id = l.deal_id AND x.occurred_at <= $3 \
             HAVING bool_or(x.version = 1)) f \
          WHERE NOT l.opened_after), \
     unchanged AS ( \
         SELECT d.deal_id, d.stage_id, d.amount, d.manager_id, d.status FROM projections.deals d \
          WHERE d.pipeline_id = $1 AND d.status = 'open' \
            AND d.deal_id NOT IN (SELECT l.deal_id FROM later l)), \
     deals AS (SELECT * FROM unchanged UNION ALL SELECT * FROM past) \
     SELECT s.stage_id, s.name, count(d.deal_id), coalesce(sum(d.amount), 0)::text \
       FROM projections.pipeline_stages s \
       LEFT JOIN deals d ON d.stage_id = s.stage_id AND d.status = 'open' \
                        AND ($2::uuid[] IS NULL OR d.manager_id = ANY($2)) \
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
            // Planned for this time each time (how many deals changed since depends on
            // it), and without JIT: compiling costs more than this statement runs.
            let mut tx = pool.begin().await?;
            sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
            let rows = sqlx::query_as(FUNNEL_AS_OF)
                .persistent(false)
                .bind(pipeline_id)
                .bind(managers)
                .bind(as_of)
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
