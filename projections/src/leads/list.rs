//! Leads as `GET /leads` and `GET /leads/{id}` show them, each with its manager's
//! name (from the manager KPIs read model).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::entity_status::LeadStatus;
use crate::error::ProjectionError;

/// A lead as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LeadRow {
    /// The lead's id.
    #[serde(rename = "id")]
    pub lead_id: Uuid,
    /// The person's name (`[erased]` once erased).
    pub name: String,
    /// Phone as given.
    pub phone: Option<String>,
    /// Email as given.
    pub email: Option<String>,
    /// Where it came from.
    pub source: String,
    /// The channel it came through.
    pub channel: Option<String>,
    /// New, assigned, converted or rejected.
    pub status: LeadStatus,
    /// The manager responsible now.
    pub manager_id: Option<Uuid>,
    /// His name.
    pub manager_name: Option<String>,
    /// The client it came from or was converted into.
    pub client_id: Option<Uuid>,
    /// The deal it was converted into.
    pub deal_id: Option<Uuid>,
    /// When it came in.
    pub received_at: DateTime<Utc>,
    /// Why it was rejected.
    pub rejected_reason: Option<String>,
    /// Its stream's version.
    pub version: i64,
}

/// Which of a lead's personal values `q` looks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Searched {
    /// The name.
    pub name: bool,
    /// The phone.
    pub phone: bool,
    /// The email.
    pub email: bool,
}

/// Which leads a list shows.
#[derive(Debug, Clone)]
pub struct LeadFilter {
    /// Only those in this status.
    pub status: Option<LeadStatus>,
    /// Only those from this source.
    pub source: Option<String>,
    /// Only these managers' (None: every lead, unassigned ones included).
    pub managers: Option<Vec<Uuid>>,
    /// Only those whose searched values contain this, ignoring case.
    pub q: Option<String>,
    /// Where `q` looks.
    pub searched: Searched,
}

/// The lead columns with the manager's name, from `l` and `m`.
const FROM: &str = "SELECT l.lead_id, l.name, l.phone, l.email, l.source, l.channel, l.status, \
            l.manager_id, m.name AS manager_name, l.client_id, l.deal_id, l.received_at, \
            l.rejected_reason, l.version \
       FROM projections.leads l \
       LEFT JOIN projections.kpi_managers m ON m.manager_id = l.manager_id";

/// Up to `limit` leads matching `filter`, newest first (by `received_at`, then id,
/// both descending), starting after the lead `(received_at, id)` of `before`.
pub async fn list_leads(
    pool: &PgPool,
    filter: &LeadFilter,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<LeadRow>, ProjectionError> {
    let q = filter.q.as_deref().map(str::to_lowercase);
    let sql = format!(
        "{FROM} \
          WHERE ($1::text IS NULL OR l.status = $1) AND ($2::text IS NULL OR l.source = $2) \
            AND ($3::uuid[] IS NULL OR l.manager_id = ANY($3)) \
            AND ($4::text IS NULL OR ($5 AND strpos(l.name_folded, $4) > 0) \
                 OR ($6 AND strpos(l.phone, $4) > 0) OR ($7 AND strpos(l.email_folded, $4) > 0)) \
            AND ($8::timestamptz IS NULL OR (l.received_at, l.lead_id) < ($8, $9::uuid)) \
          ORDER BY l.received_at DESC, l.lead_id DESC LIMIT $10"
    );
    let rows = sqlx::query_as::<_, LeadRow>(&sql)
        .bind(filter.status)
        .bind(&filter.source)
        .bind(filter.managers.as_deref())
        .bind(q)
        .bind(filter.searched.name)
        .bind(filter.searched.phone)
        .bind(filter.searched.email)
        .bind(before.map(|(at, _)| at))
        .bind(before.map(|(_, id)| id))
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(rows)
}

/// The lead `lead_id`; None when there is none.
pub async fn lead(pool: &PgPool, lead_id: Uuid) -> Result<Option<LeadRow>, ProjectionError> {
    let sql = format!("{FROM} WHERE l.lead_id = $1");
    let row = sqlx::query_as::<_, LeadRow>(&sql)
        .bind(lead_id)
        .fetch_optional(pool)
        .await?;
    Ok(row)
}
