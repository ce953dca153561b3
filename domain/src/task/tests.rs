#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::testing::*;

fn schedule() -> ScheduleTask {
    ScheduleTask {
        task_id: TASK,
        title: "Call back".into(),
        kind: None,
        assignee: manager(MANAGER),
        due_at: at(12),
        client: None,
        deal: None,
        co_executors: vec![],
        observers: vec![],
    }
}

fn scheduled() -> DomainEvent {
    DomainEvent::TaskScheduled(TaskScheduled {
        task_id: TASK,
        title: "Call back".into(),
        kind: DEFAULT_KIND.into(),
        assignee_id: MANAGER,
        due_at: at(12),
        client_id: None,
        deal_id: None,
        co_executor_ids: vec![],
        observer_ids: vec![],
    })
}

fn completed() -> DomainEvent {
    DomainEvent::TaskCompleted(TaskCompleted {
        task_id: TASK,
        result: None,
    })
}

fn cancelled() -> DomainEvent {
    DomainEvent::TaskCancelled(TaskCancelled {
        task_id: TASK,
        reason: None,
    })
}

#[test]
fn schedule_with_the_default_kind() {
    let state = given::<TaskState>([])
        .when(TaskCommand::Schedule(schedule()))
        .then(vec![scheduled()]);
    assert_eq!(state.task.unwrap().status, TaskStatus::Open);
}

#[test]
fn schedule_with_every_reference() {
    let command = ScheduleTask {
        kind: Some("meeting".into()),
        client: Some(client(CLIENT)),
        deal: Some(deal(DEAL)),
        co_executors: vec![manager(OTHER_MANAGER)],
        observers: vec![manager(OTHER_MANAGER)],
        ..schedule()
    };
    given::<TaskState>([])
        .when(TaskCommand::Schedule(command))
        .then(vec![DomainEvent::TaskScheduled(TaskScheduled {
            task_id: TASK,
            title: "Call back".into(),
            kind: "meeting".into(),
            assignee_id: MANAGER,
            due_at: at(12),
            client_id: Some(CLIENT),
            deal_id: Some(DEAL),
            co_executor_ids: vec![OTHER_MANAGER],
            observer_ids: vec![OTHER_MANAGER],
        })]);
}

#[test]
fn schedule_twice_is_already_exists() {
    given::<TaskState>([scheduled()])
        .when(TaskCommand::Schedule(schedule()))
        .then_error(codes::ALREADY_EXISTS);
}

#[test]
fn schedule_needs_a_title_and_a_kind_when_given() {
    given::<TaskState>([])
        .when(TaskCommand::Schedule(ScheduleTask {
            title: "".into(),
            ..schedule()
        }))
        .then_error(codes::EMPTY_TITLE);
    given::<TaskState>([])
        .when(TaskCommand::Schedule(ScheduleTask {
            kind: Some(" ".into()),
            ..schedule()
        }))
        .then_error(codes::EMPTY_KIND);
}

#[test]
fn schedule_needs_active_existing_managers() {
    for (command, code) in [
        (
            ScheduleTask {
                assignee: manager(GONE_MANAGER),
                ..schedule()
            },
            codes::MANAGER_INACTIVE,
        ),
        (
            ScheduleTask {
                assignee: manager(NOBODY),
                ..schedule()
            },
            codes::REFERENCE_NOT_FOUND,
        ),
        (
            ScheduleTask {
                co_executors: vec![manager(GONE_MANAGER)],
                ..schedule()
            },
            codes::MANAGER_INACTIVE,
        ),
        (
            ScheduleTask {
                observers: vec![manager(NOBODY)],
                ..schedule()
            },
            codes::REFERENCE_NOT_FOUND,
        ),
    ] {
        given::<TaskState>([])
            .when(TaskCommand::Schedule(command))
            .then_error(code);
    }
}

#[test]
fn schedule_needs_existing_client_and_deal() {
    for command in [
        ScheduleTask {
            client: Some(client(NOBODY)),
            ..schedule()
        },
        ScheduleTask {
            deal: Some(deal(NOBODY)),
            ..schedule()
        },
    ] {
        given::<TaskState>([])
            .when(TaskCommand::Schedule(command))
            .then_error(codes::REFERENCE_NOT_FOUND);
    }
}

#[test]
fn schedule_refuses_a_deal_of_another_client() {
    given::<TaskState>([])
        .when(TaskCommand::Schedule(ScheduleTask {
            client: Some(client(OTHER_CLIENT)),
            deal: Some(deal(DEAL)),
            ..schedule()
        }))
        .then_error(codes::CLIENT_MISMATCH);
}

#[test]
fn reschedule() {
    let state = given::<TaskState>([scheduled()])
        .when(TaskCommand::Reschedule {
            task_id: TASK,
            due_at: at(15),
        })
        .then(vec![DomainEvent::TaskRescheduled(TaskRescheduled {
            task_id: TASK,
            from_due_at: at(12),
            to_due_at: at(15),
        })]);
    assert_eq!(state.task.unwrap().due_at, at(15));
}

#[test]
fn reschedule_to_the_same_time_is_refused() {
    given::<TaskState>([scheduled()])
        .when(TaskCommand::Reschedule {
            task_id: TASK,
            due_at: at(12),
        })
        .then_error(codes::SAME_DUE_AT);
}

#[test]
fn reschedule_of_unknown_task_is_not_found() {
    given::<TaskState>([])
        .when(TaskCommand::Reschedule {
            task_id: TASK,
            due_at: at(15),
        })
        .then_error(codes::NOT_FOUND);
}

#[test]
fn reassign() {
    let state = given::<TaskState>([scheduled()])
        .when(TaskCommand::Reassign {
            task_id: TASK,
            assignee: manager(OTHER_MANAGER),
        })
        .then(vec![DomainEvent::TaskReassigned(TaskReassigned {
            task_id: TASK,
            from_assignee_id: MANAGER,
            to_assignee_id: OTHER_MANAGER,
        })]);
    assert_eq!(state.task.unwrap().assignee_id, OTHER_MANAGER);
}

#[test]
fn reassign_refuses_same_inactive_and_unknown_managers() {
    for (who, code) in [
        (MANAGER, codes::SAME_MANAGER),
        (GONE_MANAGER, codes::MANAGER_INACTIVE),
        (NOBODY, codes::REFERENCE_NOT_FOUND),
    ] {
        given::<TaskState>([scheduled()])
            .when(TaskCommand::Reassign {
                task_id: TASK,
                assignee: manager(who),
            })
            .then_error(code);
    }
}

#[test]
fn complete() {
    let state = given::<TaskState>([scheduled()])
        .when(TaskCommand::Complete {
            task_id: TASK,
            result: Some("agreed".into()),
        })
        .then(vec![DomainEvent::TaskCompleted(TaskCompleted {
            task_id: TASK,
            result: Some("agreed".into()),
        })]);
    assert_eq!(state.task.unwrap().status, TaskStatus::Completed);
}

#[test]
fn cancel() {
    let state = given::<TaskState>([scheduled()])
        .when(TaskCommand::Cancel {
            task_id: TASK,
            reason: None,
        })
        .then(vec![cancelled()]);
    assert_eq!(state.task.unwrap().status, TaskStatus::Cancelled);
}

#[test]
fn a_closed_task_changes_no_more() {
    for closed in [completed(), cancelled()] {
        let commands = [
            TaskCommand::Complete {
                task_id: TASK,
                result: None,
            },
            TaskCommand::Cancel {
                task_id: TASK,
                reason: None,
            },
            TaskCommand::Reschedule {
                task_id: TASK,
                due_at: at(15),
            },
            TaskCommand::Reassign {
                task_id: TASK,
                assignee: manager(OTHER_MANAGER),
            },
        ];
        for command in commands {
            given::<TaskState>([scheduled(), closed.clone()])
                .when(command)
                .then_error(codes::TASK_CLOSED);
        }
    }
}

#[test]
fn complete_or_cancel_unknown_task_is_not_found() {
    given::<TaskState>([])
        .when(TaskCommand::Complete {
            task_id: TASK,
            result: None,
        })
        .then_error(codes::NOT_FOUND);
    given::<TaskState>([])
        .when(TaskCommand::Cancel {
            task_id: TASK,
            reason: None,
        })
        .then_error(codes::NOT_FOUND);
}

#[test]
fn assignee_and_co_executors_answer_for_a_task_and_observers_watch_it() {
    assert!(TaskState::default().responsible().is_empty());
    assert!(TaskState::default().readers().is_empty());
    let shared = DomainEvent::TaskScheduled(TaskScheduled {
        task_id: TASK,
        title: "Call back".into(),
        kind: DEFAULT_KIND.into(),
        assignee_id: MANAGER,
        due_at: at(12),
        client_id: None,
        deal_id: None,
        co_executor_ids: vec![OTHER_MANAGER],
        observer_ids: vec![GONE_MANAGER],
    });
    let state = TaskState::fold([&shared]);
    assert_eq!(state.responsible(), [MANAGER, OTHER_MANAGER]);
    assert_eq!(state.watchers(), [GONE_MANAGER]);
    assert_eq!(state.readers(), [MANAGER, OTHER_MANAGER, GONE_MANAGER]);
    let handed = DomainEvent::TaskReassigned(TaskReassigned {
        task_id: TASK,
        from_assignee_id: MANAGER,
        to_assignee_id: NOBODY,
    });
    let handed = state.evolve(&handed);
    assert_eq!(handed.responsible(), [NOBODY, OTHER_MANAGER]);
    assert_eq!(handed.readers(), [NOBODY, OTHER_MANAGER, GONE_MANAGER]);
}

fn reminded(assignee_id: Uuid, due_at: DateTime<Utc>) -> DomainEvent {
    DomainEvent::TaskReminderDue(TaskReminderDue {
        task_id: TASK,
        assignee_id,
        due_at,
    })
}

fn rescheduled(from: DateTime<Utc>, to: DateTime<Utc>) -> DomainEvent {
    DomainEvent::TaskRescheduled(TaskRescheduled {
        task_id: TASK,
        from_due_at: from,
        to_due_at: to,
    })
}

#[test]
fn a_reminder_goes_to_the_assignee_of_now() {
    let handed = DomainEvent::TaskReassigned(TaskReassigned {
        task_id: TASK,
        from_assignee_id: MANAGER,
        to_assignee_id: OTHER_MANAGER,
    });
    let state = given::<TaskState>([scheduled(), handed])
        .when(TaskCommand::Remind {
            task_id: TASK,
            due_at: at(12),
        })
        .then(vec![reminded(OTHER_MANAGER, at(12))]);
    assert_eq!(state.task.unwrap().status, TaskStatus::Open);
}

#[test]
fn a_reminder_is_for_the_due_time_in_force() {
    given::<TaskState>([scheduled(), rescheduled(at(12), at(16))])
        .when(TaskCommand::Remind {
            task_id: TASK,
            due_at: at(12),
        })
        .then_error(codes::STALE_REMINDER);
    given::<TaskState>([scheduled(), rescheduled(at(12), at(16))])
        .when(TaskCommand::Remind {
            task_id: TASK,
            due_at: at(16),
        })
        .then(vec![reminded(MANAGER, at(16))]);
}

#[test]
fn a_closed_or_unknown_task_gets_no_reminder() {
    for closed in [completed(), cancelled()] {
        given::<TaskState>([scheduled(), closed])
            .when(TaskCommand::Remind {
                task_id: TASK,
                due_at: at(12),
            })
            .then_error(codes::TASK_CLOSED);
    }
    given::<TaskState>([])
        .when(TaskCommand::Remind {
            task_id: TASK,
            due_at: at(12),
        })
        .then_error(codes::NOT_FOUND);
}
