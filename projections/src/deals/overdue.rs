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

/// The condition of an overdue deal (`$1` today, `$2` managers).
const OVERDUE: &str = "status = 'open' AND expected_close_on < $1 \
    AND ($2::uuid[] IS NULL OR manager_id = ANY($2))";

/// Open deals expected to close before `today`, by that date, then id.
pub async fn overdue(
    pool: &PgPool,
    today: NaiveDate,
    managers: Option<&[Uuid]>,
) -> Result<Vec<OverdueDeal>, ProjectionError> {
    overdue_page(pool, today, managers, None, 0).await
}

/// One page of [`overdue`]'s list: `limit` deals (None: all) after the first
/// `offset`, the most overdue first; the page costs what it shows.
pub async fn overdue_page(
    pool: &PgPool,
    today: NaiveDate,
    managers: Option<&[Uuid]>,
    limit: Option<i64>,
    offset: i64,
) -> Result<Vec<OverdueDeal>, ProjectionError> {
    let rows = sqlx::query_as::<_, OverdueDeal>(&format!(
        "SELECT deal_id, title, manager_id, stage_id, amount, expected_close_on, \
                ($1::date - expected_close_on) AS days_overdue \
           FROM projections.deals \
          WHERE {OVERDUE} \
          ORDER BY expected_close_on, deal_id LIMIT $3 OFFSET $4"
    ))
    .bind(today)
    .bind(managers)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// The deals of [`overdue`]'s list counted per manager, by manager id.
pub async fn overdue_counts(
    pool: &PgPool,
    today: NaiveDate,
    managers: Option<&[Uuid]>,
) -> Result<Vec<(Uuid, i64)>, ProjectionError> {
    let rows = sqlx::query_as::<_, (Uuid, i64)>(&format!(
        "SELECT manager_id, count(*) FROM projections.deals WHERE {OVERDUE} \
          GROUP BY manager_id ORDER BY manager_id"
    ))
    .bind(today)
    .bind(managers)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
