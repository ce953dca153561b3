//! `task_reminder`: `TaskReminderDue` on an open task's stream `before_minutes`
//! before it is due, or at once (the time of its scheduling or rescheduling) when it
//! is due sooner than that. A reschedule sets a new deadline for the new time (a new
//! reminder even after one fired); completing or cancelling the task drops it.

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use super::{command_id, plus_minutes, Action, Due, DueChange, Planned, Trigger};
use crate::rule::{Rule, RuleSpec, TaskReminder};
use crate::task::{Task, TaskStatus};
use crate::DomainEvent;

/// The deadline a task's (re)scheduling sets, or the drop its closing makes.
pub fn due_changes(rule_id: Uuid, params: &TaskReminder, trigger: &Trigger<'_>) -> Vec<DueChange> {
    let set = |task_id, task_due_at: DateTime<Utc>| {
        let remind_at = plus_minutes(task_due_at, -params.before_minutes)?;
        Some(DueChange::Set(Due {
            rule_id,
            subject_id: task_id,
            due_at: remind_at.max(trigger.occurred_at),
            cause_id: trigger.event_id,
            task_due_at: Some(task_due_at),
        }))
    };
    let drop = |task_id| DueChange::Drop {
        rule_id,
        subject_id: task_id,
        from: DateTime::<Utc>::MIN_UTC,
    };
    let change = match trigger.event {
        DomainEvent::TaskScheduled(e) => set(e.task_id, e.due_at),
        DomainEvent::TaskRescheduled(e) => set(e.task_id, e.to_due_at),
        DomainEvent::TaskCompleted(e) => Some(drop(e.task_id)),
        DomainEvent::TaskCancelled(e) => Some(drop(e.task_id)),
        _ => None,
    };
    change.into_iter().collect()
}

/// The purpose of a reminder's id: `reminder/<the task's due time, RFC 3339, Z>`.
pub fn purpose(task_due_at: DateTime<Utc>) -> String {
    format!(
        "reminder/{}",
        task_due_at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    )
}

/// What a task's deadline fires: the reminder, unless the rule is not an active
/// `task_reminder`, the entry is not its, or the task (`task`, as it stands now) is
/// closed or due at another time than the entry's.
pub fn fire(rule: &Rule, due: &Due, task: Option<&Task>) -> Vec<Planned> {
    let Some(task) = task.filter(|t| t.id == due.subject_id) else {
        return Vec::new();
    };
    if !matches!(rule.spec, RuleSpec::TaskReminder(_))
        || !rule.active
        || due.rule_id != rule.id
        || task.status != TaskStatus::Open
        || due.task_due_at != Some(task.due_at)
    {
        return Vec::new();
    }
    vec![Planned {
        id: command_id(rule.id, due.cause_id, &purpose(task.due_at)),
        rule_id: rule.id,
        causation_id: due.cause_id,
        occurred_at: due.due_at,
        action: Action::RemindTask {
            task_id: task.id,
            due_at: task.due_at,
        },
    }]
}

#[cfg(test)]
mod tests;
