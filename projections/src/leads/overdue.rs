//! Overdue leads: leads nobody has answered within the SLA.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;

/// A lead nobody has answered in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct WaitingLead {
    /// The lead.
    pub lead_id: Uuid,
    /// Who asked.
    pub name: String,
    /// Where it came from.
    pub source: String,
    /// The manager it is assigned to, if any.
    pub manager_id: Option<Uuid>,
    /// When it came in.
    pub received_at: DateTime<Utc>,
    /// Seconds from `received_at` to now.
    pub waiting_seconds: i64,
}

/// The condition of a waiting lead (`$1` now, `$2` the SLA in minutes, `$3` managers).
const WAITING: &str = "status IN ('new', 'assigned') AND NOT contacted \
    AND received_at < $1 - make_interval(mins => $2::int) \
    AND ($3::uuid[] IS NULL OR manager_id = ANY($3))";

/// Leads neither converted nor rejected, named by no interaction, received more than
/// `sla_minutes` before `now`; oldest first (then id).
pub async fn overdue_leads(
    pool: &PgPool,
    now: DateTime<Utc>,
    sla_minutes: i64,
    managers: Option<&[Uuid]>,
) -> Result<Vec<WaitingLead>, ProjectionError> {
    overdue_leads_page(pool, now, sla_minutes, managers, None, 0).await
}

/// One page of [`overdue_leads`]' list: `limit` leads (None: all) after the first
/// `offset`, the longest waiting first; the page costs what it shows.
pub async fn overdue_leads_page(
    pool: &PgPool,
    now: DateTime<Utc>,
    sla_minutes: i64,
    managers: Option<&[Uuid]>,
    limit: Option<i64>,
    offset: i64,
) -> Result<Vec<WaitingLead>, ProjectionError> {
    let rows = sqlx::query_as::<_, WaitingLead>(&format!(
        "SELECT lead_id, name, source, manager_id, received_at, \
                floor(extract(epoch FROM ($1 - received_at)))::bigint AS waiting_seconds \
           FROM projections.leads \
          WHERE {WAITING} \
          ORDER BY received_at, lead_id LIMIT $4 OFFSET $5"
    ))
    .bind(now)
    .bind(sla_minutes)
    .bind(managers)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// The leads of [`overdue_leads`]' list counted per manager (None: no manager), by
/// manager id.
pub async fn overdue_lead_counts(
    pool: &PgPool,
    now: DateTime<Utc>,
    sla_minutes: i64,
    managers: Option<&[Uuid]>,
) -> Result<Vec<(Option<Uuid>, i64)>, ProjectionError> {
    let rows = sqlx::query_as::<_, (Option<Uuid>, i64)>(&format!(
        "SELECT manager_id, count(*) FROM projections.leads WHERE {WAITING} \
          GROUP BY manager_id ORDER BY manager_id"
    ))
    .bind(now)
    .bind(sla_minutes)
    .bind(managers)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
