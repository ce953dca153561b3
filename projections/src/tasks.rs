//! The `tasks` read model: every task as it stands; the task list and the overdue
//! tasks report read it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_domain::DomainEvent;
use crm_eventlog::RecordedEvent;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::projection::Projection;

/// The projection's name.
pub const NAME: &str = "tasks";

/// Keeps `projections.tasks`.
pub struct Tasks;

#[async_trait]
impl Projection for Tasks {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["tasks"]
    }

    fn event_types(&self) -> Option<Vec<String>> {
        let types = [
            "TaskScheduled",
            "TaskRescheduled",
            "TaskReassigned",
            "TaskCompleted",
            "TaskCancelled",
        ];
        Some(types.iter().map(|t| (*t).to_owned()).collect())
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for stored in events {
            let event = DomainEvent::from_stored(
                &stored.event_type,
                stored.schema_version,
                stored.data.clone(),
            )
            .map_err(|e| {
                ProjectionError::failed(format!("event at position {}: {e}", stored.position))
            })?;
            let query = match &event {
                DomainEvent::TaskScheduled(e) => sqlx::query(
                    "INSERT INTO tasks (task_id, title, kind, assignee_id, due_at, client_id, deal_id, \
                     co_executor_ids, observer_ids, status, scheduled_at, version) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10, $11)",
                )
                .bind(e.task_id)
                .bind(&e.title)
                .bind(&e.kind)
                .bind(e.assignee_id)
                .bind(e.due_at)
                .bind(e.client_id)
                .bind(e.deal_id)
                .bind(&e.co_executor_ids)
                .bind(&e.observer_ids)
                .bind(stored.occurred_at)
                .bind(stored.version),
                DomainEvent::TaskRescheduled(e) => {
                    sqlx::query("UPDATE tasks SET due_at = $2, version = $3 WHERE task_id = $1")
                        .bind(e.task_id)
                        .bind(e.to_due_at)
                        .bind(stored.version)
                }
                DomainEvent::TaskReassigned(e) => {
                    sqlx::query("UPDATE tasks SET assignee_id = $2, version = $3 WHERE task_id = $1")
                        .bind(e.task_id)
                        .bind(e.to_assignee_id)
                        .bind(stored.version)
                }
                DomainEvent::TaskCompleted(e) => sqlx::query(
                    "UPDATE tasks SET status = 'completed', closed_at = $2, completed_late = $2 > due_at, \
                     version = $3 WHERE task_id = $1",
                )
                .bind(e.task_id)
                .bind(stored.occurred_at)
                .bind(stored.version),
                DomainEvent::TaskCancelled(e) => sqlx::query(
                    "UPDATE tasks SET status = 'cancelled', closed_at = $2, version = $3 WHERE task_id = $1",
                )
                .bind(e.task_id)
                .bind(stored.occurred_at)
                .bind(stored.version),
                _ => continue,
            };
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        sqlx::query("TRUNCATE tasks").execute(&mut **tx).await?;
        Ok(())
    }
}

/// A task as the read model holds it.
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
    /// The client it is about.
    pub client_id: Option<Uuid>,
    /// The deal it is about.
    pub deal_id: Option<Uuid>,
    /// `open`, `completed` or `cancelled`.
    pub status: String,
    /// Its stream's version.
    pub version: i64,
}

/// Up to `limit` tasks, of `assignee` and with `status` if given, with ids after
/// `after`, by id.
pub async fn list_tasks(
    pool: &PgPool,
    assignee: Option<Uuid>,
    status: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<TaskRow>, ProjectionError> {
    let rows = sqlx::query_as::<_, TaskRow>(
        "SELECT task_id, title, kind, assignee_id, due_at, client_id, deal_id, status, version \
           FROM projections.tasks \
          WHERE ($1::uuid IS NULL OR assignee_id = $1) AND ($2::text IS NULL OR status = $2) \
            AND ($3::uuid IS NULL OR task_id > $3) \
          ORDER BY task_id LIMIT $4",
    )
    .bind(assignee)
    .bind(status)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

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

/// Open tasks due before `now` (of `assignee` if given), by `due_at`, then id.
pub async fn overdue_tasks(
    pool: &PgPool,
    now: DateTime<Utc>,
    assignee: Option<Uuid>,
) -> Result<Vec<OverdueTask>, ProjectionError> {
    let rows = sqlx::query_as::<_, OverdueTask>(
        "SELECT task_id, title, assignee_id, due_at, \
                floor(extract(epoch FROM ($1 - due_at)))::bigint AS overdue_seconds, client_id, deal_id \
           FROM projections.tasks \
          WHERE status = 'open' AND due_at < $1 AND ($2::uuid IS NULL OR assignee_id = $2) \
          ORDER BY due_at, task_id",
    )
    .bind(now)
    .bind(assignee)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
