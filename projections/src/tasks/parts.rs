//! `task_parts`: per manager, the open tasks he scheduled, is assignee of, co-executor
//! of and observer of, counted; moved as a batch moves its tasks.

use std::collections::{BTreeSet, HashMap};

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::{StoredTask, TaskStatus};
use crate::error::ProjectionError;

/// The parts a task gives: (manager, part), each once; none once it is closed.
#[derive(Clone, PartialEq, Eq, Default)]
pub(super) struct Parts(BTreeSet<(Uuid, u8)>);

impl Parts {
    /// The parts `task` gives now: `a` its scheduler, `d` its assignee, `h` its
    /// co-executors, `o` its observers.
    pub(super) fn of(task: &StoredTask) -> Self {
        let mut parts = BTreeSet::new();
        if task.status == TaskStatus::Open {
            if let Some(by) = task.scheduled_by {
                parts.insert((by, b'a'));
            }
            parts.insert((task.assignee_id, b'd'));
            parts.extend(task.co_executor_ids.iter().map(|m| (*m, b'h')));
            parts.extend(task.observer_ids.iter().map(|m| (*m, b'o')));
        }
        Parts(parts)
    }
}

/// Moves the batch's tasks in `task_parts`: out of the parts they gave before it
/// (`before`, the stored tasks), into the parts they give now; rows left at zero go.
pub(super) async fn write_parts(
    tx: &mut Transaction<'_, Postgres>,
    before: &HashMap<Uuid, Parts>,
    rows: &[&StoredTask],
) -> Result<(), ProjectionError> {
    let mut deltas: HashMap<(Uuid, u8), i64> = HashMap::new();
    let empty = Parts::default();
    for task in rows {
        let (old, now) = (before.get(&task.task_id).unwrap_or(&empty), Parts::of(task));
        for part in old.0.difference(&now.0) {
            *deltas.entry(*part).or_default() -= 1;
        }
        for part in now.0.difference(&old.0) {
            *deltas.entry(*part).or_default() += 1;
        }
    }
    deltas.retain(|_, n| *n != 0);
    if deltas.is_empty() {
        return Ok(());
    }
    let mut deltas: Vec<_> = deltas.into_iter().collect();
    deltas.sort_unstable();
    let managers: Vec<Uuid> = deltas.iter().map(|((m, _), _)| *m).collect();
    let parts: Vec<i8> = deltas.iter().map(|((_, p), _)| *p as i8).collect();
    let moved: Vec<i64> = deltas.iter().map(|(_, n)| *n).collect();
    // The rows a move left at zero go (so a rebuild gives the same rows): the upsert
    // returns them, and only a batch that left some runs the delete.
    let zero: Vec<(Uuid, i8)> = sqlx::query_as(
        "WITH moved AS ( \
           INSERT INTO task_parts (manager_id, part, tasks) \
           SELECT * FROM UNNEST($1::uuid[], $2::\"char\"[], $3::int8[]) \
           ON CONFLICT (manager_id, part) DO UPDATE SET tasks = task_parts.tasks + EXCLUDED.tasks \
           RETURNING manager_id, part, tasks) \
         SELECT manager_id, part FROM moved WHERE tasks = 0",
    )
    .bind(&managers)
    .bind(&parts)
    .bind(&moved)
    .fetch_all(&mut **tx)
    .await?;
    if !zero.is_empty() {
        sqlx::query(
            "DELETE FROM task_parts t \
              USING UNNEST($1::uuid[], $2::\"char\"[]) AS z(manager_id, part) \
              WHERE t.manager_id = z.manager_id AND t.part = z.part AND t.tasks = 0",
        )
        .bind(zero.iter().map(|z| z.0).collect::<Vec<_>>())
        .bind(zero.iter().map(|z| z.1).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
