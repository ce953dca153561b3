//! The `tasks` read model: every task as it stands; the task list and card and the
//! overdue tasks report read it.

use std::sync::Arc;

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_domain::DomainEvent;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::batch::{decode, touched_rows, uuid_array_literal};
use crate::error::ProjectionError;
use crate::event::FeedEvent;
use crate::projection::Projection;

/// The projection's name.
pub const NAME: &str = "tasks";

/// Keeps `projections.tasks`.
pub struct Tasks;

/// A task's row, as loaded and written back by a batch.
#[derive(sqlx::FromRow)]
struct StoredTask {
    task_id: Uuid,
    title: String,
    kind: String,
    assignee_id: Uuid,
    due_at: DateTime<Utc>,
    client_id: Option<Uuid>,
    deal_id: Option<Uuid>,
    co_executor_ids: Vec<Uuid>,
    observer_ids: Vec<Uuid>,
    status: String,
    scheduled_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    completed_late: Option<bool>,
    result: Option<String>,
    version: i64,
}

/// The task an event is about, if it is a task event.
fn task_of(event: &DomainEvent) -> Option<Uuid> {
    match event {
        DomainEvent::TaskScheduled(e) => Some(e.task_id),
        DomainEvent::TaskRescheduled(e) => Some(e.task_id),
        DomainEvent::TaskReassigned(e) => Some(e.task_id),
        DomainEvent::TaskCompleted(e) => Some(e.task_id),
        DomainEvent::TaskCancelled(e) => Some(e.task_id),
        _ => None,
    }
}

#[async_trait]
impl Projection for Tasks {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> i32 {
        // 2: a completed task's result.
        2
    }

    fn tables(&self) -> Vec<&str> {
        vec!["tasks"]
    }

    fn event_types(&self) -> Option<Vec<String>> {
        crate::batch::types(&[
            "TaskScheduled",
            "TaskRescheduled",
            "TaskReassigned",
            "TaskCompleted",
            "TaskCancelled",
        ])
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError> {
        let events = decode(events)?;
        let ids: Vec<Uuid> = events.iter().filter_map(|(_, e)| task_of(e)).collect();
        let mut tasks: HashMap<Uuid, StoredTask> = sqlx::query_as::<_, StoredTask>(
            "SELECT task_id, title, kind, assignee_id, due_at, client_id, deal_id, \
                    co_executor_ids, observer_ids, status, scheduled_at, closed_at, completed_late, result, \
                    version \
               FROM tasks WHERE task_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(|t| (t.task_id, t))
        .collect();
        let mut touched = Vec::new();
        for (stored, event) in &events {
            if let DomainEvent::TaskScheduled(e) = event {
                tasks.insert(
                    e.task_id,
                    StoredTask {
                        task_id: e.task_id,
                        title: e.title.clone(),
                        kind: e.kind.clone(),
                        assignee_id: e.assignee_id,
                        due_at: e.due_at,
                        client_id: e.client_id,
                        deal_id: e.deal_id,
                        co_executor_ids: e.co_executor_ids.clone(),
                        observer_ids: e.observer_ids.clone(),
                        status: "open".to_owned(),
                        scheduled_at: stored.occurred_at,
                        closed_at: None,
                        completed_late: None,
                        result: None,
                        version: stored.version,
                    },
                );
                touched.push(e.task_id);
                continue;
            }
            let Some(task) = task_of(event).and_then(|id| tasks.get_mut(&id)) else {
                continue;
            };
            match event {
                DomainEvent::TaskRescheduled(e) => task.due_at = e.to_due_at,
                DomainEvent::TaskReassigned(e) => task.assignee_id = e.to_assignee_id,
                DomainEvent::TaskCompleted(e) => {
                    task.status = "completed".to_owned();
                    task.result = e.result.clone();
                    task.closed_at = Some(stored.occurred_at);
                    task.completed_late = Some(stored.occurred_at > task.due_at);
                }
                DomainEvent::TaskCancelled(_) => {
                    task.status = "cancelled".to_owned();
                    task.closed_at = Some(stored.occurred_at);
                }
                _ => continue,
            }
            task.version = stored.version;
            touched.push(task.task_id);
        }
        let rows = touched_rows(touched, &tasks);
        if rows.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO tasks (task_id, title, kind, assignee_id, due_at, client_id, deal_id, \
                    co_executor_ids, observer_ids, status, scheduled_at, closed_at, completed_late, \
                    result, version) \
             SELECT t.task_id, t.title, t.kind, t.assignee_id, t.due_at, t.client_id, t.deal_id, \
                    t.co::uuid[], t.obs::uuid[], t.status, t.scheduled_at, t.closed_at, t.late, \
                    t.result, t.version \
               FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::timestamptz[], $6::uuid[], \
                           $7::uuid[], $8::text[], $9::text[], $10::text[], $11::timestamptz[], \
                           $12::timestamptz[], $13::bool[], $14::text[], $15::int8[]) \
                 AS t(task_id, title, kind, assignee_id, due_at, client_id, deal_id, co, obs, status, \
                      scheduled_at, closed_at, late, result, version) \
             ON CONFLICT (task_id) DO UPDATE SET assignee_id = EXCLUDED.assignee_id, \
                    due_at = EXCLUDED.due_at, status = EXCLUDED.status, closed_at = EXCLUDED.closed_at, \
                    completed_late = EXCLUDED.completed_late, result = EXCLUDED.result, \
                    version = EXCLUDED.version",
        )
        .bind(rows.iter().map(|t| t.task_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| t.title.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| t.kind.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| t.assignee_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| t.due_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| t.client_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| t.deal_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| uuid_array_literal(&t.co_executor_ids)).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| uuid_array_literal(&t.observer_ids)).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| t.status.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| t.scheduled_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| t.closed_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| t.completed_late).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| t.result.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| t.version).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        sqlx::query("TRUNCATE tasks").execute(&mut **tx).await?;
        Ok(())
    }
}

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
    /// `open`, `completed` or `cancelled`.
    pub status: String,
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
    status: Option<&str>,
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
    let rows = sqlx::query_as::<_, TaskRow>(&sql)
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
