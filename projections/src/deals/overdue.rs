//! Overdue deals: open deals past their expected close date.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;

/// An open deal past its expected close date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OverdueDeal {
    /// The deal.
    pub deal_id: Uuid,
    /// Its title.
    pub title: String,
    /// The manager responsible now.
    pub manager_id: Uuid,
    /// Its current stage.
    pub stage_id: Uuid,
    /// Its current amount.
    pub amount: i64,
    /// The date it was expected to close by.
    pub expected_close_on: NaiveDate,
    /// Days from that date to `today`.
    pub days_overdue: i32,
}

/// Open deals expected to close before `today`, by that date, then id.
pub async fn overdue(
    pool: &PgPool,
    today: NaiveDate,
    managers: Option<&[Uuid]>,
) -> Result<Vec<OverdueDeal>, ProjectionError> {
    let rows = sqlx::query_as::<_, OverdueDeal>(
        "SELECT deal_id, title, manager_id, stage_id, amount, expected_close_on, \
                ($1::date - expected_close_on) AS days_overdue \
           FROM projections.deals \
          WHERE status = 'open' AND expected_close_on < $1 \
            AND ($2::uuid[] IS NULL OR manager_id = ANY($2)) \
          ORDER BY expected_close_on, deal_id",
    )
    .bind(today)
    .bind(managers)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
