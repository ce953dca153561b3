//! Loss reasons: the deals lost in a period, by the reason given.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::total::Total;

/// Deals lost for one reason in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LossReason {
    /// The reason given.
    pub reason: String,
    /// DealLost events (a deal lost, reopened and lost again counts twice).
    pub deals: i64,
    /// The deals' amounts as they stood at the loss (exact: `crate::total`).
    pub amount: Total,
}

/// DealLost events that occurred in `[from, to)`, by reason, most deals first, then
/// reason; optionally of one pipeline, or of the manager responsible at the loss.
pub async fn loss_reasons(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    pipeline_id: Option<Uuid>,
    managers: Option<&[Uuid]>,
) -> Result<Vec<LossReason>, ProjectionError> {
    let rows = sqlx::query_as::<_, LossReason>(
        "SELECT reason, count(*) AS deals, sum(amount)::text AS amount FROM projections.deal_losses \
          WHERE occurred_at >= $1 AND occurred_at < $2 \
            AND ($3::uuid IS NULL OR pipeline_id = $3) AND ($4::uuid[] IS NULL OR manager_id = ANY($4)) \
          GROUP BY reason ORDER BY count(*) DESC, reason",
    )
    // Unnamed: planned for these bounds each time (a generic plan guesses a narrow period).
    .persistent(false)
    .bind(from)
    .bind(to)
    .bind(pipeline_id)
    .bind(managers)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
