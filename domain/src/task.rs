//! The task aggregate (`task-<uuid>`): scheduled for a manager, rescheduled,
//! reassigned, then completed or cancelled, at most once.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::aggregate::{absent, own, target, Aggregate, HasId, Ref};
use crate::client::ClientState;
use crate::deal::DealState;
use crate::events::{
    TaskCancelled, TaskCompleted, TaskReassigned, TaskReminderDue, TaskRescheduled, TaskScheduled,
};
use crate::manager::ManagerState;
use crate::rules::{active_manager, at_most, items, long, non_empty, short, MAX_NAME_CHARS};
use crate::{codes, DomainError, DomainEvent};

/// The kind a task gets when the command gives none.
pub const DEFAULT_KIND: &str = "task";

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// To do.
    Open,
    /// Done; final.
    Completed,
    /// Called off; final.
    Cancelled,
}

/// A scheduled task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    /// Id.
    pub id: Uuid,
    /// What to do.
    pub title: String,
    /// Kind.
    pub kind: String,
    /// Who must do it.
    pub assignee_id: Uuid,
    /// When it is due (the due time in force).
    pub due_at: DateTime<Utc>,
    /// The client it is about.
    pub client_id: Option<Uuid>,
    /// The deal it is about.
    pub deal_id: Option<Uuid>,
    /// Helpers.
    pub co_executor_ids: Vec<Uuid>,
    /// Watchers.
    pub observer_ids: Vec<Uuid>,
    /// Its status.
    pub status: TaskStatus,
}

impl Task {
    /// Refuses a completed or cancelled task.
    pub fn require_open(&self) -> Result<(), DomainError> {
        match self.status {
            TaskStatus::Open => Ok(()),
            status => Err(DomainError::rule(
                codes::TASK_CLOSED,
                format!(
                    "task {} is already {}",
                    self.id,
                    if status == TaskStatus::Completed {
                        "completed"
                    } else {
                        "cancelled"
                    }
                ),
            )),
        }
    }
}

impl HasId for Task {
    fn id(&self) -> Uuid {
        self.id
    }
}

/// A task's state; the default is "not scheduled".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TaskState {
    /// Events folded from the stream.
    pub version: i64,
    /// The task, once scheduled.
    pub task: Option<Task>,
}

/// `POST /tasks`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleTask {
    /// The new task's id.
    pub task_id: Uuid,
    /// What to do, not blank.
    pub title: String,
    /// Kind, not blank when given; default [`DEFAULT_KIND`].
    pub kind: Option<String>,
    /// Who must do it: must exist and be active.
    pub assignee: Ref<ManagerState>,
    /// When it is due (a past time is allowed, for imports).
    pub due_at: DateTime<Utc>,
    /// The client it is about: must exist.
    pub client: Option<Ref<ClientState>>,
    /// The deal it is about: must exist, and be the client's when both are given.
    pub deal: Option<Ref<DealState>>,
    /// Helpers: each must exist and be active.
    pub co_executors: Vec<Ref<ManagerState>>,
    /// Watchers: each must exist and be active.
    pub observers: Vec<Ref<ManagerState>>,
}

/// What can be asked of a task. A completed or cancelled task refuses everything
/// (`task_closed`).
// A command lives for one call and is moved once: boxing its create variant
// would only add noise for callers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum TaskCommand {
    /// `POST /tasks`.
    Schedule(ScheduleTask),
    /// `POST /tasks/{id}/reschedule`: refused with `same_due_at` for the current time.
    Reschedule {
        /// The task.
        task_id: Uuid,
        /// The new due time.
        due_at: DateTime<Utc>,
    },
    /// `POST /tasks/{id}/assign`: refused with `same_manager` for the current assignee.
    Reassign {
        /// The task.
        task_id: Uuid,
        /// The new assignee: must exist and be active.
        assignee: Ref<ManagerState>,
    },
    /// `POST /tasks/{id}/complete`.
    Complete {
        /// The task.
        task_id: Uuid,
        /// What came of it.
        result: Option<String>,
    },
    /// `POST /tasks/{id}/cancel`.
    Cancel {
        /// The task.
        task_id: Uuid,
        /// Why.
        reason: Option<String>,
    },
    /// A `task_reminder` rule's time came (see [`crate::automation::reminder`]):
    /// `TaskReminderDue` for the assignee; `stale_reminder` when the task is due at
    /// another time now.
    Remind {
        /// The task.
        task_id: Uuid,
        /// The due time the reminder is for: the task's.
        due_at: DateTime<Utc>,
    },
}

/// Applies one event to a task's state.
pub fn evolve(mut state: TaskState, event: &DomainEvent) -> TaskState {
    if apply(&mut state, event) {
        state.version += 1;
    }
    state
}

fn apply(state: &mut TaskState, event: &DomainEvent) -> bool {
    use DomainEvent as E;
    if let E::TaskScheduled(e) = event {
        if state.task.is_some() {
            return false;
        }
        state.task = Some(Task {
            id: e.task_id,
            title: e.title.clone(),
            kind: e.kind.clone(),
            assignee_id: e.assignee_id,
            due_at: e.due_at,
            client_id: e.client_id,
            deal_id: e.deal_id,
            co_executor_ids: e.co_executor_ids.clone(),
            observer_ids: e.observer_ids.clone(),
            status: TaskStatus::Open,
        });
        return true;
    }
    let (kind, id) = event.entity();
    if kind != crate::EntityKind::Task {
        return false;
    }
    let Some(task) = own(&mut state.task, id) else {
        return false;
    };
    match event {
        E::TaskRescheduled(e) => task.due_at = e.to_due_at,
        E::TaskReassigned(e) => task.assignee_id = e.to_assignee_id,
        E::TaskCompleted(_) => task.status = TaskStatus::Completed,
        E::TaskCancelled(_) => task.status = TaskStatus::Cancelled,
        E::TaskReminderDue(_) => {}
        _ => return false,
    }
    true
}

/// Folds a task's stream.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a DomainEvent>) -> TaskState {
    TaskState::fold(events)
}

/// Decides a task command.
pub fn decide(state: &TaskState, command: TaskCommand) -> Result<Vec<DomainEvent>, DomainError> {
    match command {
        TaskCommand::Schedule(c) => schedule(state, c),
        TaskCommand::Reschedule { task_id, due_at } => {
            let task = target(state, task_id)?;
            task.require_open()?;
            if due_at == task.due_at {
                return Err(DomainError::rule(
                    codes::SAME_DUE_AT,
                    format!("task {task_id} is already due at {due_at}"),
                ));
            }
            Ok(vec![DomainEvent::TaskRescheduled(TaskRescheduled {
                task_id,
                from_due_at: task.due_at,
                to_due_at: due_at,
            })])
        }
        TaskCommand::Reassign { task_id, assignee } => {
            let task = target(state, task_id)?;
            task.require_open()?;
            let assignee = active_manager(&assignee)?;
            if assignee.id == task.assignee_id {
                return Err(DomainError::rule(
                    codes::SAME_MANAGER,
                    format!("manager {} is already the task's assignee", assignee.id),
                ));
            }
            Ok(vec![DomainEvent::TaskReassigned(TaskReassigned {
                task_id,
                from_assignee_id: task.assignee_id,
                to_assignee_id: assignee.id,
            })])
        }
        TaskCommand::Complete { task_id, result } => {
            target(state, task_id)?.require_open()?;
            long(result.as_deref(), "result")?;
            Ok(vec![DomainEvent::TaskCompleted(TaskCompleted {
                task_id,
                result,
            })])
        }
        TaskCommand::Cancel { task_id, reason } => {
            target(state, task_id)?.require_open()?;
            short(reason.as_deref(), "reason")?;
            Ok(vec![DomainEvent::TaskCancelled(TaskCancelled {
                task_id,
                reason,
            })])
        }
        TaskCommand::Remind { task_id, due_at } => {
            let task = target(state, task_id)?;
            task.require_open()?;
            if due_at != task.due_at {
                return Err(DomainError::rule(
                    codes::STALE_REMINDER,
                    format!("task {task_id} is due at {}, not {due_at}", task.due_at),
                ));
            }
            Ok(vec![DomainEvent::TaskReminderDue(TaskReminderDue {
                task_id,
                assignee_id: task.assignee_id,
                due_at,
            })])
        }
    }
}

fn schedule(state: &TaskState, c: ScheduleTask) -> Result<Vec<DomainEvent>, DomainError> {
    absent(state)?;
    non_empty(&c.title, codes::EMPTY_TITLE, "task title")?;
    at_most(&c.title, MAX_NAME_CHARS, "task title")?;
    short(c.kind.as_deref(), "task kind")?;
    items(c.co_executors.len(), "co_executor_ids")?;
    items(c.observers.len(), "observer_ids")?;
    let kind = match c.kind {
        Some(kind) => {
            non_empty(&kind, codes::EMPTY_KIND, "task kind")?;
            kind
        }
        None => DEFAULT_KIND.to_owned(),
    };
    let assignee_id = active_manager(&c.assignee)?.id;
    let (client_id, deal_id) = crate::rules::client_and_deal(c.client.as_ref(), c.deal.as_ref())?;
    let co_executor_ids = c
        .co_executors
        .iter()
        .map(|m| active_manager(m).map(|m| m.id))
        .collect::<Result<Vec<_>, _>>()?;
    let observer_ids = c
        .observers
        .iter()
        .map(|m| active_manager(m).map(|m| m.id))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(vec![DomainEvent::TaskScheduled(TaskScheduled {
        task_id: c.task_id,
        title: c.title,
        kind,
        assignee_id,
        due_at: c.due_at,
        client_id,
        deal_id,
        co_executor_ids,
        observer_ids,
    })])
}

impl Aggregate for TaskState {
    const ENTITY: &'static str = "task";
    type Entity = Task;
    type Command = TaskCommand;

    fn entity(&self) -> Option<&Task> {
        self.task.as_ref()
    }
    fn id(&self) -> Option<Uuid> {
        self.task.as_ref().map(|t| t.id)
    }
    /// The assignee does the task and co-executors help: either may act on it.
    fn responsible(&self) -> Vec<Uuid> {
        self.task
            .iter()
            .flat_map(|t| std::iter::once(t.assignee_id).chain(t.co_executor_ids.iter().copied()))
            .collect()
    }
    /// Observers watch the task: they read it, they do not change it.
    fn watchers(&self) -> Vec<Uuid> {
        self.task
            .iter()
            .flat_map(|t| t.observer_ids.iter().copied())
            .collect()
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn evolve(self, event: &DomainEvent) -> Self {
        evolve(self, event)
    }
    fn decide(&self, command: TaskCommand) -> Result<Vec<DomainEvent>, DomainError> {
        decide(self, command)
    }
}

#[cfg(test)]
mod tests;
