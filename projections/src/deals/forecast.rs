//! The forecast: open deals by the month they are expected to close in, weighted by
//! their stages' probabilities.

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::total::Total;

/// Expected sales of one month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForecastMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// Open deals expected to close in it.
    pub deals: i64,
    /// Their summed amounts (exact: `crate::total`).
    pub amount: Total,
    /// round(Σ amount × probability of the deal's stage).
    pub weighted_amount: Total,
}

/// Open deals with an expected close date, by month of that date, ascending.
pub async fn forecast(
    pool: &PgPool,
    pipeline_id: Option<Uuid>,
    managers: Option<&[Uuid]>,
) -> Result<Vec<ForecastMonth>, ProjectionError> {
    // Summed per month and stage first (one pass over the open deals' close-date
    // index), then weighted per stage: in numeric, Σ amount × p = p × Σ amount exactly,
    // and round() rounds halves away from zero.
    let rows: Vec<(String, i64, Total, Total)> = sqlx::query_as(
        "SELECT to_char(m.month, 'YYYY-MM'), sum(m.deals)::bigint, sum(m.amount)::text, \
                round(sum(m.amount * s.probability::numeric))::text \
           FROM (SELECT date_trunc('month', d.expected_close_on::timestamp) AS month, d.pipeline_id, \
                        d.stage_id, count(*) AS deals, sum(d.amount) AS amount \
                   FROM projections.deals d \
                  WHERE d.status = 'open' AND d.expected_close_on IS NOT NULL \
                    AND ($1::uuid IS NULL OR d.pipeline_id = $1) \
                    AND ($2::uuid[] IS NULL OR d.manager_id = ANY($2)) \
                  GROUP BY 1, 2, 3) m \
           JOIN projections.pipeline_stages s ON s.pipeline_id = m.pipeline_id AND s.stage_id = m.stage_id \
          GROUP BY m.month ORDER BY m.month",
    )
    // Unnamed: planned with the pipeline given or not (a generic plan keeps both).
    .persistent(false)
    .bind(pipeline_id)
    .bind(managers)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(month, deals, amount, weighted_amount)| ForecastMonth {
            month,
            deals,
            amount,
            weighted_amount,
        })
        .collect())
}
