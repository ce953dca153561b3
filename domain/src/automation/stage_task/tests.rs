#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::automation::tests::{event_id, rule, trigger};
use crate::deal::DealState;
use crate::events::{DealOpened, DealReassigned, DealReopened, DealStageChanged, DealWon};
use crate::testing::*;

/// A task "Send the offer" (an email) due 24 hours after a deal reaches STAGE2.
fn on_proposal(due_in_hours: i64) -> Rule {
    rule(RuleSpec::TaskOnStage(TaskOnStage {
        pipeline_id: PIPELINE,
        stage_id: STAGE2,
        title: "Send the offer".into(),
        kind: Some("email".into()),
        due_in_hours,
    }))
}

fn moved(from: uuid::Uuid, to: uuid::Uuid) -> DomainEvent {
    DomainEvent::DealStageChanged(DealStageChanged {
        deal_id: DEAL,
        from_stage_id: from,
        to_stage_id: to,
    })
}

fn opened_at(stage_id: uuid::Uuid) -> DomainEvent {
    DomainEvent::DealOpened(DealOpened {
        stage_id,
        ..match deal_opened(DEAL) {
            DomainEvent::DealOpened(e) => e,
            _ => unreachable!(),
        }
    })
}

fn march(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

/// The task the rule plans for the `n`-th event, for `manager`, due at `due_at`.
fn task(
    n: u128,
    occurred_at: DateTime<Utc>,
    manager: uuid::Uuid,
    due_at: DateTime<Utc>,
) -> Planned {
    let id = command_id(RULE, event_id(n), "task");
    Planned {
        id,
        rule_id: RULE,
        causation_id: event_id(n),
        occurred_at,
        action: Action::ScheduleTask(NewTask {
            task_id: id,
            title: "Send the offer".into(),
            kind: Some("email".into()),
            assignee_id: manager,
            due_at,
            client_id: Some(CLIENT),
            deal_id: Some(DEAL),
        }),
    }
}

/// Given the deal's stream (the trigger its last event, the `n`-th of the log, at
/// `occurred_at`), what the rule plans.
fn when(rule: &Rule, stream: &[DomainEvent], n: u128, occurred_at: DateTime<Utc>) -> Vec<Planned> {
    let deal: DealState = crate::deal::fold(stream);
    let last = stream.last().unwrap();
    react(rule, &trigger(n, occurred_at, last), deal.deal.as_ref())
}

#[test]
fn a_deal_opened_at_the_stage_gets_a_task_for_its_manager_naming_deal_and_client() {
    let rule = on_proposal(24);
    assert_eq!(
        when(&rule, &[opened_at(STAGE2)], 1, march(1, 10)),
        [task(1, march(1, 10), MANAGER, march(2, 10))]
    );
    assert_eq!(when(&rule, &[opened_at(STAGE1)], 1, march(1, 10)), []);
}

#[test]
fn a_deal_that_enters_the_stage_twice_gets_a_task_each_time() {
    let rule = on_proposal(24);
    let mut stream = vec![deal_opened(DEAL), moved(STAGE1, STAGE2)];
    let first = when(&rule, &stream, 2, march(1, 10));
    stream.push(moved(STAGE2, STAGE3));
    assert_eq!(
        when(&rule, &stream, 3, march(2, 10)),
        [],
        "leaving it is no entry"
    );
    stream.push(moved(STAGE3, STAGE2));
    let second = when(&rule, &stream, 4, march(3, 12));
    assert_eq!(first, [task(2, march(1, 10), MANAGER, march(2, 10))]);
    assert_eq!(second, [task(4, march(3, 12), MANAGER, march(4, 12))]);
    assert_ne!(first[0].id, second[0].id);
}

#[test]
fn a_deal_reopened_into_the_stage_gets_a_task() {
    let rule = on_proposal(2);
    let won = DomainEvent::DealWon(DealWon {
        deal_id: DEAL,
        amount: 1,
    });
    let reopened = |stage_id| {
        DomainEvent::DealReopened(DealReopened {
            deal_id: DEAL,
            stage_id,
        })
    };
    let stream = [deal_opened(DEAL), won.clone(), reopened(STAGE2)];
    assert_eq!(
        when(&rule, &stream, 3, march(5, 9)),
        [task(3, march(5, 9), MANAGER, march(5, 11))]
    );
    let elsewhere = [deal_opened(DEAL), won, reopened(STAGE3)];
    assert_eq!(when(&rule, &elsewhere, 3, march(5, 9)), []);
}

#[test]
fn the_task_goes_to_the_deals_manager_of_now_and_may_be_due_at_once() {
    let handed = DomainEvent::DealReassigned(DealReassigned {
        deal_id: DEAL,
        from_manager_id: MANAGER,
        to_manager_id: OTHER_MANAGER,
    });
    // The runner reads the deal as it stands: reassigned after the move.
    let deal = crate::deal::fold(&[deal_opened(DEAL), moved(STAGE1, STAGE2), handed]);
    let entered = moved(STAGE1, STAGE2);
    let planned = react(
        &on_proposal(0),
        &trigger(2, march(1, 10), &entered),
        deal.deal.as_ref(),
    );
    assert_eq!(
        planned,
        [task(2, march(1, 10), OTHER_MANAGER, march(1, 10))]
    );
}

#[test]
fn a_deal_of_another_pipeline_or_another_event_gets_nothing() {
    let rule = on_proposal(24);
    let other_pipeline = DomainEvent::DealOpened(DealOpened {
        pipeline_id: NOBODY,
        ..match deal_opened(DEAL) {
            DomainEvent::DealOpened(e) => e,
            _ => unreachable!(),
        }
    });
    // A stage change names no pipeline: the deal's is checked.
    assert_eq!(
        when(
            &rule,
            &[other_pipeline, moved(STAGE1, STAGE2)],
            2,
            march(1, 10)
        ),
        []
    );
    assert_eq!(when(&rule, &[deal_opened(DEAL)], 1, march(1, 10)), []);
    // Without the deal's state, nothing.
    let entered = moved(STAGE1, STAGE2);
    assert_eq!(react(&rule, &trigger(2, march(1, 10), &entered), None), []);
}

#[test]
fn the_same_trigger_twice_plans_the_same_task() {
    let rule = on_proposal(24);
    let stream = [deal_opened(DEAL), moved(STAGE1, STAGE2)];
    assert_eq!(
        when(&rule, &stream, 2, march(1, 10)),
        when(&rule, &stream, 2, march(1, 10))
    );
}
