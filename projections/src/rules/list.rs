//! Rules as `GET /automation/rules` lists them: in the order they were defined.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;

/// An automation rule as defined, and whether it still acts.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct RuleRow {
    /// The rule's id.
    #[serde(rename = "id")]
    pub rule_id: Uuid,
    /// Its name.
    pub name: String,
    /// `lead_round_robin`, `task_on_stage`, `lead_sla`, `follow_up_after_win` or
    /// `task_reminder`.
    pub kind: String,
    /// The kind's params, as defined.
    pub params: Json<serde_json::Value>,
    /// False once disabled.
    pub enabled: bool,
    /// When it was defined (business time).
    pub defined_at: DateTime<Utc>,
    /// The manager who defined it, when the definer was one.
    pub defined_by: Option<Uuid>,
    /// When it was disabled (business time); null while enabled.
    pub disabled_at: Option<DateTime<Utc>>,
    /// The log position of its definition.
    pub position: i64,
}

/// Up to `limit` rules in the order they were defined, starting after the one
/// defined at log position `after` (0: from the first); only the enabled ones, or
/// only the disabled ones, when `enabled` says so.
pub async fn list_rules(
    pool: &PgPool,
    enabled: Option<bool>,
    after: i64,
    limit: i64,
) -> Result<Vec<RuleRow>, ProjectionError> {
    let rows = sqlx::query_as::<_, RuleRow>(
        "SELECT rule_id, name, kind, params, enabled, defined_at, defined_by, disabled_at, \
                position \
           FROM projections.rules \
          WHERE position > $1 AND ($2::boolean IS NULL OR enabled = $2) \
          ORDER BY position LIMIT $3",
    )
    .bind(after)
    .bind(enabled)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
