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

/// Which overdue tasks: those of some assignees, those involving some managers (as
/// assignee, co-executor or observer); None: no limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct OverdueTasksFilter<'a> {
    /// Only tasks assigned to one of these.
    pub assignees: Option<&'a [Uuid]>,
    /// Only tasks one of these is assignee, co-executor or observer of.
    pub involving: Option<&'a [Uuid]>,
}

/// The condition of an overdue task (`$1` now, `$2` assignees, `$3` involving).
const OVERDUE: &str = "status = 'open' AND due_at < $1 \
    AND ($2::uuid[] IS NULL OR assignee_id = ANY($2)) \
    AND ($3::uuid[] IS NULL OR assignee_id = ANY($3) OR co_executor_ids && $3 \
         OR observer_ids && $3)";

/// Open tasks due before `now` (of `assignee` if given; involving one of `involving`,
/// as assignee, co-executor or observer, if given), by `due_at`, then id.
pub async fn overdue_tasks(
    pool: &PgPool,
    now: DateTime<Utc>,
    assignee: Option<Uuid>,
    involving: Option<&[Uuid]>,
) -> Result<Vec<OverdueTask>, ProjectionError> {
    let assignees = assignee.map(|a| [a]);
    let filter = OverdueTasksFilter {
        assignees: assignees.as_ref().map(|a| &a[..]),
        involving,
    };
    overdue_tasks_page(pool, now, &filter, None, 0).await
}

/// One page of [`overdue_tasks`]' list under `filter`: `limit` tasks (None: all) after
/// the first `offset`, the most overdue first; the page costs what it shows.
pub async fn overdue_tasks_page(
    pool: &PgPool,
    now: DateTime<Utc>,
    filter: &OverdueTasksFilter<'_>,
    limit: Option<i64>,
    offset: i64,
) -> Result<Vec<OverdueTask>, ProjectionError> {
    let rows = sqlx::query_as::<_, OverdueTask>(&format!(
        "SELECT task_id, title, assignee_id, due_at, \
                floor(extract(epoch FROM ($1 - due_at)))::bigint AS overdue_seconds, client_id, deal_id \
           FROM projections.tasks \
          WHERE {OVERDUE} \
          ORDER BY due_at, task_id LIMIT $4 OFFSET $5"
    ))
    .bind(now)
    .bind(filter.assignees)
    .bind(filter.involving)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// The tasks of [`overdue_tasks_page`]'s list counted per assignee, by assignee id.
pub async fn overdue_task_counts(
    pool: &PgPool,
    now: DateTime<Utc>,
    filter: &OverdueTasksFilter<'_>,
) -> Result<Vec<(Uuid, i64)>, ProjectionError> {
    let rows = sqlx::query_as::<_, (Uuid, i64)>(&format!(
        "SELECT assignee_id, count(*) FROM projections.tasks WHERE {OVERDUE} \
          GROUP BY assignee_id ORDER BY assignee_id"
    ))
    .bind(now)
    .bind(filter.assignees)
    .bind(filter.involving)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
