//! The team: every registered manager as `GET /managers` lists him.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;

/// A registered manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TeamMember {
    /// The manager's id.
    #[serde(rename = "id")]
    pub manager_id: Uuid,
    /// Full name.
    pub name: String,
    /// Department.
    pub department: String,
    /// `manager`, `head`, `director`, `admin`, `auditor` or `analyst`.
    pub role: String,
    /// Work email, if given.
    pub email: Option<String>,
    /// False once deactivated.
    pub active: bool,
    /// When he was registered (business time).
    pub registered_at: Option<DateTime<Utc>>,
}

/// Which managers a list shows.
#[derive(Debug, Clone, Default)]
pub struct TeamFilter {
    /// Only this department's.
    pub department: Option<String>,
    /// Only those of this role.
    pub role: Option<String>,
    /// Only the active (true) or the deactivated (false).
    pub active: Option<bool>,
}

/// The columns both queries select.
const COLUMNS: &str = "manager_id, name, department, role, email, active, registered_at";

/// Up to `limit` managers matching `filter`, by name (code point order), then id,
/// starting after `(name, id)` of `after`.
pub async fn list_team(
    pool: &PgPool,
    filter: &TeamFilter,
    after: Option<(String, Uuid)>,
    limit: i64,
) -> Result<Vec<TeamMember>, ProjectionError> {
    // No cursor: before every (name, id); names are never empty.
    let (after_name, after_id) = after.unwrap_or_default();
    let sql = format!(
        "SELECT {COLUMNS} FROM projections.kpi_managers \
          WHERE (name COLLATE \"C\", manager_id) > ($1::text COLLATE \"C\", $2::uuid) \
            AND ($3::text IS NULL OR department = $3) AND ($4::text IS NULL OR role = $4) \
            AND ($5::bool IS NULL OR active = $5) \
          ORDER BY name COLLATE \"C\", manager_id LIMIT $6"
    );
    let rows = sqlx::query_as::<_, TeamMember>(&sql)
        .bind(after_name)
        .bind(after_id)
        .bind(&filter.department)
        .bind(&filter.role)
        .bind(filter.active)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(rows)
}

/// The manager `manager_id`; None when he is not registered.
pub async fn team_member(
    pool: &PgPool,
    manager_id: Uuid,
) -> Result<Option<TeamMember>, ProjectionError> {
    let sql = format!("SELECT {COLUMNS} FROM projections.kpi_managers WHERE manager_id = $1");
    let row = sqlx::query_as::<_, TeamMember>(&sql)
        .bind(manager_id)
        .fetch_optional(pool)
        .await?;
    Ok(row)
}
