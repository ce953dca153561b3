//! Overdue tasks: open tasks past their due time.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;

/// An open task past its due time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OverdueTask {
    /// The task.
    pub task_id: Uuid,
    /// Its title.
    pub title: String,
    /// Who must do it.
    pub assignee_id: Uuid,
    /// When it was due.
    pub due_at: DateTime<Utc>,
    /// Seconds from `due_at` to now.
    pub overdue_seconds: i64,
    /// The client it is about.
    pub client_id: Option<Uuid>,
    /// The deal it is about.
    pub deal_id: Option<Uuid>,
}

/// Open tasks due before `now` (of `assignee` if given; involving one of `involving`,
/// as assignee, co-executor or observer, if given), by `due_at`, then id.
pub async fn overdue_tasks(
    pool: &PgPool,
    now: DateTime<Utc>,
    assignee: Option<Uuid>,
    involving: Option<&[Uuid]>,
) -> Result<Vec<OverdueTask>, ProjectionError> {
    let rows = sqlx::query_as::<_, OverdueTask>(
        "SELECT task_id, title, assignee_id, due_at, \
                floor(extract(epoch FROM ($1 - due_at)))::bigint AS overdue_seconds, client_id, deal_id \
           FROM projections.tasks \
          WHERE status = 'open' AND due_at < $1 AND ($2::uuid IS NULL OR assignee_id = $2) \
            AND ($3::uuid[] IS NULL OR assignee_id = ANY($3) OR co_executor_ids && $3 \
                 OR observer_ids && $3) \
          ORDER BY due_at, task_id",
    )
    .bind(now)
    .bind(assignee)
    .bind(involving)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
