//! The leads report: leads received in a period by manager, status or source, from
//! the rollups for whole days and months (every manager's, or a reach's managers')
//! and from the leads themselves at the edges.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::calendar::{month_of, next_month, whole};
use crate::error::ProjectionError;

/// What leads are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadsBy {
    /// The manager assigned now.
    Manager,
    /// `new`, `assigned`, `converted` or `rejected` now.
    Status,
    /// Where they came from.
    Source,
}

/// Leads of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LeadGroup {
    /// The group's key (null: no manager).
    pub key: Option<String>,
    /// Leads received in the period.
    pub leads: i64,
}

/// Leads received in `[from, to)` by `by`, most leads first, then key; only those
/// assigned now to one of `managers` if given.
pub async fn leads_by(
    pool: &PgPool,
    by: LeadsBy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    managers: Option<&[Uuid]>,
) -> Result<Vec<LeadGroup>, ProjectionError> {
    let (key, dim) = match by {
        LeadsBy::Manager => ("manager_id::text", "manager"),
        LeadsBy::Status => ("status", "status"),
        LeadsBy::Source => ("source", "source"),
    };
    // The rollup rows of the period's whole months and days: every manager's together
    // (`lead_counts` keeps "no manager" as ''), or, for a few managers, theirs
    // (`lead_counts_by_manager`, whose status rows count each lead once).
    let (counts, dim, counted) = match (managers, by) {
        (None, LeadsBy::Manager) => ("lead_counts", dim, "nullif(c.key, '')"),
        (None, _) => ("lead_counts", dim, "c.key"),
        (Some(_), LeadsBy::Manager) => ("lead_counts_by_manager", "status", "c.manager_id::text"),
        (Some(_), _) => ("lead_counts_by_manager", dim, "c.key"),
    };
    // The reach, in the rollup's rows and the leads' alike ($8, bound only then).
    let reach = if managers.is_some() {
        "AND manager_id = ANY($8)"
    } else {
        ""
    };
    let (day_start, day_end) = whole(from, to, |d| d, |d| d.succ_opt());
    let (month_start, month_end) = whole(from, to, month_of, next_month);
    // Whole days outside the whole months: before and after them.
    let days = if month_start < month_end {
        [day_start, month_start, month_end, day_end]
    } else {
        [day_start, day_end, day_end, day_end]
    };
    // The whole months and days from the rollup, the partial days at the edges from
    // the leads themselves.
    let sql = format!(
        "SELECT key, sum(n)::bigint AS leads FROM ( \
             SELECT {counted} AS key, c.leads AS n FROM projections.{counts} c \
              WHERE c.span = 'month' AND c.dim = $5 AND c.bucket >= $7[1] AND c.bucket < $7[2] {reach} \
             UNION ALL \
             SELECT {counted}, c.leads FROM projections.{counts} c \
              WHERE c.span = 'day' AND c.dim = $5 AND c.bucket >= $6[1] AND c.bucket < $6[2] {reach} \
             UNION ALL \
             SELECT {counted}, c.leads FROM projections.{counts} c \
              WHERE c.span = 'day' AND c.dim = $5 AND c.bucket >= $6[3] AND c.bucket < $6[4] {reach} \
             UNION ALL \
             SELECT {key}, 1 FROM projections.leads \
              WHERE received_at >= $1 AND received_at < $3 {reach} \
             UNION ALL \
             SELECT {key}, 1 FROM projections.leads \
              WHERE received_at >= $4 AND received_at < $2 {reach} \
         ) parts GROUP BY key HAVING sum(n) > 0 ORDER BY sum(n) DESC, key NULLS LAST"
    );
    // Unnamed: planned for these bounds each time (a generic plan guesses them).
    let query = sqlx::query_as::<_, LeadGroup>(&sql)
        .persistent(false)
        .bind(from)
        .bind(to)
        .bind(day_start)
        .bind(day_end)
        .bind(dim)
        .bind(days.map(|d| d.date_naive()))
        .bind([month_start, month_end].map(|d| d.date_naive()));
    // $8 is in the statement only with a reach.
    let query = match managers {
        Some(managers) => query.bind(managers),
        None => query,
    };
    let rows = query.fetch_all(pool).await?;
    Ok(rows)
}
