//! Who is in the open tasks: per manager, the open tasks he scheduled, is assignee
//! of, co-executor of and observer of (`GET /reports/tasks/people`).

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;

/// One manager's part in the open tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TaskPeople {
    /// The manager.
    pub manager_id: Uuid,
    /// His name.
    pub name: String,
    /// Open tasks he scheduled (the actor of their TaskScheduled).
    pub assigned: i64,
    /// Open tasks he is the assignee of.
    pub doing: i64,
    /// Open tasks he is a co-executor of.
    pub helping: i64,
    /// Open tasks he is an observer of.
    pub observing: i64,
}

/// Every registered manager (those of `managers` if given) with his part in the open
/// tasks (neither completed nor cancelled), by name (code point order), then id. The
/// names come from the manager KPIs read model, the counts from `task_parts`.
pub async fn task_people(
    pool: &PgPool,
    managers: Option<&[Uuid]>,
) -> Result<Vec<TaskPeople>, ProjectionError> {
    let rows = sqlx::query_as::<_, TaskPeople>(
        "SELECT m.manager_id, m.name, \
                coalesce(sum(p.tasks) FILTER (WHERE p.part = 'a'), 0)::int8 AS assigned, \
                coalesce(sum(p.tasks) FILTER (WHERE p.part = 'd'), 0)::int8 AS doing, \
                coalesce(sum(p.tasks) FILTER (WHERE p.part = 'h'), 0)::int8 AS helping, \
                coalesce(sum(p.tasks) FILTER (WHERE p.part = 'o'), 0)::int8 AS observing \
           FROM projections.kpi_managers m \
           LEFT JOIN projections.task_parts p ON p.manager_id = m.manager_id \
          WHERE $1::uuid[] IS NULL OR m.manager_id = ANY($1) \
          GROUP BY m.manager_id, m.name \
          ORDER BY m.name COLLATE \"C\", m.manager_id",
    )
    .bind(managers)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
