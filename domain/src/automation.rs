//! What the automation rules do, as pure reactions: given a rule, the event that
//! triggers it (with its id and business time) and the plain data it needs, the
//! commands to run ([`Planned`]). Nothing here reads the log or a clock: the runner
//! gathers the context, turns each [`Action`] into the aggregate's command (loading
//! what it names) and runs it through the one command path with metadata
//! `source: automation`, `rule_id` and `causation_id`.
//!
//! **Exactly once.** Every planned command has an id derived from the rule, the
//! triggering event (or the deadline's) and a purpose ([`command_id`]): a retry, a
//! rebuild or a second runner plans the same ids, and the command path's idempotency
//! (the id as the seed of the event ids, the task ids themselves) and expected
//! versions turn the second run into a replay.
//!
//! **Deadlines.** `lead_sla` and `task_reminder` act when a time comes, not on an
//! event: an event sets or drops a [`Due`] entry ([`due_changes`], kept by a read
//! model), and when one comes due the kind's `fire` decides, on the entity's state
//! then, what to run.
//!
//! One module per kind: [`round_robin`] (`lead_round_robin`), [`stage_task`]
//! (`task_on_stage`), [`sla`] (`lead_sla`), [`follow_up`] (`follow_up_after_win`),
//! [`reminder`] (`task_reminder`).

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::rule::{Rule, RuleSpec};
use crate::values::Role;
use crate::{DomainEvent, EntityKind};

pub mod follow_up;
pub mod reminder;
pub mod round_robin;
pub mod sla;
pub mod stage_task;

/// The namespace of the ids automation derives ([`command_id`]).
pub const NAMESPACE: Uuid = Uuid::from_u128(0x6372_6d2d_6175_746f_6d61_7469_6f6e_2121);

/// The id of the command a rule plans for a cause (the triggering event's id, or the
/// event that set a deadline) and a purpose: UUID v5 of
/// `"<rule_id>/<cause_id>/<purpose>"` in [`NAMESPACE`], ids hyphenated lowercase.
pub fn command_id(rule_id: Uuid, cause_id: Uuid, purpose: &str) -> Uuid {
    Uuid::new_v5(
        &NAMESPACE,
        format!("{rule_id}/{cause_id}/{purpose}").as_bytes(),
    )
}

/// An event of the log that may trigger a rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trigger<'a> {
    /// Its `event_id`.
    pub event_id: Uuid,
    /// Its `occurred_at` (business time).
    pub occurred_at: DateTime<Utc>,
    /// The event.
    pub event: &'a DomainEvent,
}

/// A command a rule asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Its deterministic id ([`command_id`]): the seed of its event ids, and the id
    /// of the task it schedules.
    pub id: Uuid,
    /// The rule (metadata `rule_id`).
    pub rule_id: Uuid,
    /// The triggering event, or the event that set the deadline (metadata
    /// `causation_id`).
    pub causation_id: Uuid,
    /// The command's `occurred_at`: the trigger's, or the deadline's time.
    pub occurred_at: DateTime<Utc>,
    /// What to do.
    pub action: Action,
}

/// What a planned command does, as plain data; the runner loads what it names and
/// runs the aggregate's command, which may still refuse it (a manager deactivated
/// since, a task closed since): then nothing is appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `LeadCommand::Assign`.
    AssignLead {
        /// The lead.
        lead_id: Uuid,
        /// The manager.
        manager_id: Uuid,
    },
    /// `TaskCommand::Schedule`, the task's id being the planned command's.
    ScheduleTask(NewTask),
    /// `LeadCommand::BreachSla`.
    BreachLeadSla {
        /// The lead.
        lead_id: Uuid,
        /// The rule's `sla_minutes`.
        minutes: i64,
    },
    /// `TaskCommand::Remind`.
    RemindTask {
        /// The task.
        task_id: Uuid,
        /// The task's due time the reminder is for.
        due_at: DateTime<Utc>,
    },
}

impl Action {
    /// The entity the command is about (whose stream it appends to).
    pub fn target(&self) -> (EntityKind, Uuid) {
        match self {
            Action::AssignLead { lead_id, .. } | Action::BreachLeadSla { lead_id, .. } => {
                (EntityKind::Lead, *lead_id)
            }
            Action::ScheduleTask(task) => (EntityKind::Task, task.task_id),
            Action::RemindTask { task_id, .. } => (EntityKind::Task, *task_id),
        }
    }
}

/// A task to schedule (no co-executors, no observers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    /// The task's id: the planned command's id.
    pub task_id: Uuid,
    /// What to do.
    pub title: String,
    /// Its kind; None for the default (`task`).
    pub kind: Option<String>,
    /// Who must do it.
    pub assignee_id: Uuid,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// The client it is about.
    pub client_id: Option<Uuid>,
    /// The deal it is about.
    pub deal_id: Option<Uuid>,
}

/// A registered manager as the rules see him: what `lead_round_robin` and
/// `lead_sla` choose among. Lists of them are in order of registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The manager.
    pub manager_id: Uuid,
    /// His department.
    pub department: String,
    /// His role.
    pub role: Role,
    /// False once deactivated.
    pub active: bool,
    /// His open leads (neither converted nor rejected) plus open deals, now.
    pub open_work: u64,
}

/// A deadline a rule keeps for an entity: at `due_at`, the kind's `fire` runs. At most
/// one per rule and subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The rule.
    pub rule_id: Uuid,
    /// The lead (`lead_sla`) or task (`task_reminder`).
    pub subject_id: Uuid,
    /// When it fires.
    pub due_at: DateTime<Utc>,
    /// The event that set it: the cause of what it fires.
    pub cause_id: Uuid,
    /// For a reminder, the task's due time it reminds of.
    pub task_due_at: Option<DateTime<Utc>>,
}

/// A change to the deadlines a read model keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DueChange {
    /// Keep this entry, replacing the rule's entry for the same subject.
    Set(Due),
    /// Drop the rule's entry for the subject if it is due at or after `from`; one due
    /// before stays, to fire (its deadline passed before the answer).
    Drop {
        /// The rule.
        rule_id: Uuid,
        /// The lead or task.
        subject_id: Uuid,
        /// Entries due from this time on are dropped.
        from: DateTime<Utc>,
    },
}

impl DueChange {
    /// Applies the change to a list of entries, as a read model would.
    pub fn apply(self, entries: &mut Vec<Due>) {
        match self {
            DueChange::Set(due) => {
                entries.retain(|e| (e.rule_id, e.subject_id) != (due.rule_id, due.subject_id));
                entries.push(due);
            }
            DueChange::Drop {
                rule_id,
                subject_id,
                from,
            } => entries
                .retain(|e| (e.rule_id, e.subject_id) != (rule_id, subject_id) || e.due_at < from),
        }
    }
}

/// Whether an event may make the rule plan a command, so that the runner gathers that
/// kind's context and calls its `react` (deadline kinds react to none: see
/// [`due_changes`]). False for a disabled rule.
pub fn reacts_to(rule: &Rule, event: &DomainEvent) -> bool {
    if !rule.active {
        return false;
    }
    match &rule.spec {
        RuleSpec::LeadRoundRobin(_) => matches!(event, DomainEvent::LeadCaptured(_)),
        RuleSpec::TaskOnStage(p) => stage_task::entered_stage(p, event),
        RuleSpec::FollowUpAfterWin(_) => matches!(event, DomainEvent::DealWon(_)),
        RuleSpec::LeadSla(_) | RuleSpec::TaskReminder(_) => false,
    }
}

/// The deadlines an event sets or drops for a rule (`lead_sla`, `task_reminder`);
/// none for the other kinds and for a disabled rule.
pub fn due_changes(rule: &Rule, trigger: &Trigger<'_>) -> Vec<DueChange> {
    if !rule.active {
        return Vec::new();
    }
    match &rule.spec {
        RuleSpec::LeadSla(p) => sla::due_changes(rule.id, p, trigger),
        RuleSpec::TaskReminder(p) => reminder::due_changes(rule.id, p, trigger),
        _ => Vec::new(),
    }
}

/// `at` plus `minutes` (negative: minus), None out of the calendar's range.
pub(crate) fn plus_minutes(at: DateTime<Utc>, minutes: i64) -> Option<DateTime<Utc>> {
    at.checked_add_signed(TimeDelta::try_minutes(minutes)?)
}

#[cfg(test)]
mod tests;
