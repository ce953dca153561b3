//! Tasks as `GET /tasks` and `GET /tasks/{id}` show them, each with its client's name
//! and its deal's title (from the clients and deals read models too).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::entity_status::TaskStatus;
use crate::error::ProjectionError;

/// A task as the read model holds it, with its client's name and deal's title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TaskRow {
    /// The task's id.
    #[serde(rename = "id")]
    pub task_id: Uuid,
    /// Its title.
    pub title: String,
    /// Its kind.
    pub kind: String,
    /// Who must do it.
    pub assignee_id: Uuid,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// Open, completed or cancelled.
    pub status: TaskStatus,
    /// The client it is about.
    pub client_id: Option<Uuid>,
    /// That client's name (null when the client is outside the reader's reach).
    pub client_name: Option<String>,
    /// The deal it is about.
    pub deal_id: Option<Uuid>,
    /// That deal's title (null when the deal is outside the reader's reach).
    pub deal_title: Option<String>,
    /// Managers who help.
    pub co_executor_ids: Vec<Uuid>,
    /// Managers who watch.
    pub observer_ids: Vec<Uuid>,
    /// When it was completed (business time); null unless completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// What came of it.
    pub result: Option<String>,
    /// Its stream's version.
    pub version: i64,
}

/// The task columns with the names, from `t`, its client's card `c` and deal `dl`;
/// parameter `$1` is the reader's reach (`uuid[]`, NULL: everyone).
fn task_select() -> String {
    format!(
        "SELECT t.task_id, t.title, t.kind, t.assignee_id, t.due_at, t.status, t.client_id, \
                {client_name}, t.deal_id, {deal_title}, t.co_executor_ids, t.observer_ids, \
                CASE WHEN t.status = 'completed' THEN t.closed_at END AS completed_at, t.result, \
                t.version \
           FROM projections.tasks t \
           LEFT JOIN projections.client_cards c ON c.client_id = t.client_id \
           LEFT JOIN projections.deals dl ON dl.deal_id = t.deal_id",
        client_name = crate::names::client_name("$1"),
        deal_title = crate::names::deal_title("$1"),
    )
}

/// Up to `limit` tasks, of `assignee` and with `status` if given, involving one of
/// `involving` (as assignee, co-executor or observer) if given, with ids after
/// `after`, by id. The names shown are those `involving` reaches.
pub async fn list_tasks(
    pool: &PgPool,
    assignee: Option<Uuid>,
    involving: Option<&[Uuid]>,
    status: Option<TaskStatus>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<TaskRow>, ProjectionError> {
    let sql = format!(
        "{select} \
          WHERE ($2::uuid IS NULL OR t.assignee_id = $2) AND ($3::text IS NULL OR t.status = $3) \
            AND ($4::uuid IS NULL OR t.task_id > $4) \
            AND ($1::uuid[] IS NULL OR t.assignee_id = ANY($1) OR t.co_executor_ids && $1 \
                 OR t.observer_ids && $1) \
          ORDER BY t.task_id LIMIT $5",
        select = task_select(),
    );
    // Unnamed: planned for these filters each time. A prepared statement's generic
    // plan, chosen after five runs, cannot use the assignee index through
    // `$2 IS NULL OR …`: it walks every task in id order (20 ms at 1M events).
    let rows = sqlx::query_as::<_, TaskRow>(&sql)
        .persistent(false)
        .bind(involving)
        .bind(assignee)
        .bind(status)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(rows)
}

/// The task `task_id` with the names a reader reaching `reach` (None: everyone) may
/// see; None when there is none.
pub async fn task(
    pool: &PgPool,
    task_id: Uuid,
    reach: Option<&[Uuid]>,
) -> Result<Option<TaskRow>, ProjectionError> {
    let sql = format!("{} WHERE t.task_id = $2", task_select());
    let row = sqlx::query_as::<_, TaskRow>(&sql)
        .bind(reach)
        .bind(task_id)
        .fetch_optional(pool)
        .await?;
    Ok(row)
}
