//! The `tasks` read model: every task as it stands; the task list and card and the
//! overdue tasks report read it.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_domain::DomainEvent;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::batch::{decode, touched_rows, uuid_array_literal};
use crate::error::ProjectionError;
use crate::event::FeedEvent;
use crate::projection::Projection;

mod list;
mod overdue;
mod parts;
mod people;

use parts::{write_parts, Parts};

pub use crate::entity_status::TaskStatus;
pub use list::{list_tasks, task, TaskRow};
pub use overdue::{
    overdue_task_counts, overdue_tasks, overdue_tasks_page, OverdueTask, OverdueTasksFilter,
};
pub use people::{task_people, TaskPeople};

/// The projection's name.
pub const NAME: &str = "tasks";

/// Keeps `projections.tasks` and the open tasks' parts per manager, `task_parts`.
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
    status: TaskStatus,
    scheduled_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    completed_late: Option<bool>,
    result: Option<String>,
    scheduled_by: Option<Uuid>,
    version: i64,
}

/// Who scheduled a task: the actor of its TaskScheduled (event metadata) when that is
/// a manager (his id); None for a role's token (`role:<role>`) or the automation.
fn scheduler(stored: &crm_eventlog::RecordedEvent) -> Option<Uuid> {
    stored
        .metadata
        .actor
        .as_deref()
        .and_then(|actor| Uuid::parse_str(actor).ok())
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
        // 2: a completed task's result; 3: who scheduled it.
        3
    }

    fn tables(&self) -> Vec<&str> {
        vec!["tasks", "task_parts"]
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
                    scheduled_by, version \
               FROM tasks WHERE task_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(|t| (t.task_id, t))
        .collect();
        // The parts the stored tasks give in `task_parts`, before this batch.
        let before: HashMap<Uuid, Parts> =
            tasks.values().map(|t| (t.task_id, Parts::of(t))).collect();
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
                        status: TaskStatus::Open,
                        scheduled_at: stored.occurred_at,
                        closed_at: None,
                        completed_late: None,
                        result: None,
                        scheduled_by: scheduler(stored),
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
                    task.status = TaskStatus::Completed;
                    task.result = e.result.clone();
                    task.closed_at = Some(stored.occurred_at);
                    task.completed_late = Some(stored.occurred_at > task.due_at);
                }
                DomainEvent::TaskCancelled(_) => {
                    task.status = TaskStatus::Cancelled;
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
                    result, version, scheduled_by) \
             SELECT t.task_id, t.title, t.kind, t.assignee_id, t.due_at, t.client_id, t.deal_id, \
                    t.co::uuid[], t.obs::uuid[], t.status, t.scheduled_at, t.closed_at, t.late, \
                    t.result, t.version, t.scheduled_by \
               FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::timestamptz[], $6::uuid[], \
                           $7::uuid[], $8::text[], $9::text[], $10::text[], $11::timestamptz[], \
                           $12::timestamptz[], $13::bool[], $14::text[], $15::int8[], $16::uuid[]) \
                 AS t(task_id, title, kind, assignee_id, due_at, client_id, deal_id, co, obs, status, \
                      scheduled_at, closed_at, late, result, version, scheduled_by) \
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
        .bind(rows.iter().map(|t| t.scheduled_by).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        write_parts(tx, &before, &rows).await
    }

    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        sqlx::query("TRUNCATE tasks, task_parts")
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}
