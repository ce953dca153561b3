#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};

use super::*;
use crate::automation::tests::{event_id, hms, rule, trigger};
use crate::events::{TaskCancelled, TaskCompleted, TaskReassigned, TaskRescheduled, TaskScheduled};
use crate::task::TaskState;
use crate::testing::*;

fn reminder_rule() -> Rule {
    rule(RuleSpec::TaskReminder(TaskReminder { before_minutes: 30 }))
}

fn scheduled(due_at: DateTime<Utc>) -> DomainEvent {
    DomainEvent::TaskScheduled(TaskScheduled {
        task_id: TASK,
        title: "Call back".into(),
        kind: "call".into(),
        assignee_id: MANAGER,
        due_at,
        client_id: None,
        deal_id: None,
        co_executor_ids: vec![],
        observer_ids: vec![],
    })
}

fn rescheduled(from: DateTime<Utc>, to: DateTime<Utc>) -> DomainEvent {
    DomainEvent::TaskRescheduled(TaskRescheduled {
        task_id: TASK,
        from_due_at: from,
        to_due_at: to,
    })
}

/// The task's log: each event with its business time, the `n`-th with id
/// `event_id(n)` (from 1).
struct Log(Vec<(DomainEvent, DateTime<Utc>)>);

impl Log {
    /// The deadlines the rule keeps after the whole log.
    fn entries(&self) -> Vec<Due> {
        let mut entries = Vec::new();
        for (n, (event, at)) in self.0.iter().enumerate() {
            let when = trigger(n as u128 + 1, *at, event);
            for change in crate::automation::due_changes(&reminder_rule(), &when) {
                change.apply(&mut entries);
            }
        }
        entries
    }

    /// The task as the log leaves it.
    fn task(&self) -> TaskState {
        crate::task::fold(self.0.iter().map(|(e, _)| e))
    }

    /// What `due` fires on the task as the log leaves it.
    fn fire(&self, due: &Due) -> Vec<Planned> {
        fire(&reminder_rule(), due, self.task().task.as_ref())
    }
}

/// The deadline the `n`-th event sets: remind at `at` of the due time `task_due_at`.
fn due(n: u128, at: DateTime<Utc>, task_due_at: DateTime<Utc>) -> Due {
    Due {
        rule_id: RULE,
        subject_id: TASK,
        due_at: at,
        cause_id: event_id(n),
        task_due_at: Some(task_due_at),
    }
}

/// The reminder the deadline `due` fires.
fn reminder(due: &Due, purpose: &str) -> Planned {
    Planned {
        id: command_id(RULE, due.cause_id, purpose),
        rule_id: RULE,
        causation_id: due.cause_id,
        occurred_at: due.due_at,
        action: Action::RemindTask {
            task_id: TASK,
            due_at: due.task_due_at.unwrap(),
        },
    }
}

#[test]
fn a_task_is_reminded_before_minutes_before_it_is_due() {
    let log = Log(vec![(scheduled(hms(12, 0, 0)), hms(9, 0, 0))]);
    let expected = due(1, hms(11, 30, 0), hms(12, 0, 0));
    assert_eq!(log.entries(), std::slice::from_ref(&expected));
    assert_eq!(
        log.fire(&expected),
        [reminder(&expected, "reminder/2026-03-01T12:00:00Z")]
    );
}

#[test]
fn a_task_due_sooner_than_before_minutes_is_reminded_at_once() {
    // Scheduled at 11:50 for 12:00: at 11:50, not at 11:30.
    let log = Log(vec![(scheduled(hms(12, 0, 0)), hms(11, 50, 0))]);
    assert_eq!(log.entries(), [due(1, hms(11, 50, 0), hms(12, 0, 0))]);
    // Overdue already when scheduled (an import): at once too.
    let log = Log(vec![(scheduled(hms(8, 0, 0)), hms(9, 0, 0))]);
    assert_eq!(log.entries(), [due(1, hms(9, 0, 0), hms(8, 0, 0))]);
}

#[test]
fn a_task_rescheduled_after_its_reminder_fired_is_reminded_again_for_the_new_time() {
    let mut log = Log(vec![(scheduled(hms(12, 0, 0)), hms(9, 0, 0))]);
    let first_due = due(1, hms(11, 30, 0), hms(12, 0, 0));
    let first = log.fire(&first_due);
    // Fired at 11:30; at 11:45 the task moves to 16:00.
    log.0
        .push((rescheduled(hms(12, 0, 0), hms(16, 0, 0)), hms(11, 45, 0)));
    let second_due = due(2, hms(15, 30, 0), hms(16, 0, 0));
    assert_eq!(log.entries(), std::slice::from_ref(&second_due));
    let second = log.fire(&second_due);
    assert_eq!(
        second,
        [reminder(&second_due, "reminder/2026-03-01T16:00:00Z")]
    );
    assert_ne!(first[0].id, second[0].id);
    // The old deadline, were it fired late, reminds of a time the task no longer has.
    assert_eq!(log.fire(&first_due), []);
}

#[test]
fn a_task_completed_or_cancelled_before_its_reminder_gets_none() {
    let completed = DomainEvent::TaskCompleted(TaskCompleted {
        task_id: TASK,
        result: None,
    });
    let cancelled = DomainEvent::TaskCancelled(TaskCancelled {
        task_id: TASK,
        reason: None,
    });
    for closed in [completed, cancelled] {
        let log = Log(vec![
            (scheduled(hms(12, 0, 0)), hms(9, 0, 0)),
            (closed, hms(10, 0, 0)),
        ]);
        assert_eq!(log.entries(), []);
        // Even if the deadline fires before the runner saw the closing.
        assert_eq!(log.fire(&due(1, hms(11, 30, 0), hms(12, 0, 0))), []);
    }
}

#[test]
fn a_reassigned_task_is_still_reminded_and_the_same_deadline_twice_plans_the_same() {
    let handed = DomainEvent::TaskReassigned(TaskReassigned {
        task_id: TASK,
        from_assignee_id: MANAGER,
        to_assignee_id: OTHER_MANAGER,
    });
    let log = Log(vec![
        (scheduled(hms(12, 0, 0)), hms(9, 0, 0)),
        (handed, hms(10, 0, 0)),
    ]);
    // A reassignment moves no deadline.
    let entry = due(1, hms(11, 30, 0), hms(12, 0, 0));
    assert_eq!(log.entries(), std::slice::from_ref(&entry));
    assert_eq!(log.fire(&entry), log.fire(&entry));
    // The aggregate names the assignee of now.
    let Action::RemindTask { task_id, due_at } = log.fire(&entry)[0].action else {
        panic!("not a reminder");
    };
    let command = crate::task::TaskCommand::Remind { task_id, due_at };
    assert_eq!(
        crate::task::decide(&log.task(), command).unwrap(),
        [DomainEvent::TaskReminderDue(
            crate::events::TaskReminderDue {
                task_id: TASK,
                assignee_id: OTHER_MANAGER,
                due_at: hms(12, 0, 0),
            }
        )]
    );
}

#[test]
fn a_disabled_rule_or_anothers_deadline_fires_nothing() {
    let log = Log(vec![(scheduled(hms(12, 0, 0)), hms(9, 0, 0))]);
    let entry = due(1, hms(11, 30, 0), hms(12, 0, 0));
    let disabled = Rule {
        active: false,
        ..reminder_rule()
    };
    assert_eq!(fire(&disabled, &entry, log.task().task.as_ref()), []);
    let foreign = Due {
        rule_id: NOBODY,
        ..entry.clone()
    };
    assert_eq!(log.fire(&foreign), []);
    assert_eq!(fire(&reminder_rule(), &entry, None), []);
}
