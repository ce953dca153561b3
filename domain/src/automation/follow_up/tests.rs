#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::automation::tests::{event_id, rule, trigger};
use crate::events::{DealLost, DealReassigned, DealReopened, DealWon};
use crate::testing::*;

fn follow_up(after_days: i64) -> Rule {
    rule(RuleSpec::FollowUpAfterWin(crate::rule::FollowUpAfterWin {
        after_days,
        title: "Ask how the pallets arrived".into(),
    }))
}

fn won() -> DomainEvent {
    DomainEvent::DealWon(DealWon {
        deal_id: DEAL,
        amount: 100_000,
    })
}

fn time(month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, hour, 0, 0).unwrap()
}

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
            title: "Ask how the pallets arrived".into(),
            kind: None,
            assignee_id: manager,
            due_at,
            client_id: Some(CLIENT),
            deal_id: Some(DEAL),
        }),
    }
}

fn when(rule: &Rule, stream: &[DomainEvent], n: u128, occurred_at: DateTime<Utc>) -> Vec<Planned> {
    let deal = crate::deal::fold(stream);
    react(
        rule,
        &trigger(n, occurred_at, stream.last().unwrap()),
        deal.deal.as_ref(),
    )
}

#[test]
fn a_won_deal_gets_a_task_for_its_manager_after_days_naming_client_and_deal() {
    // Won on 26 March at 15:00: seven days later is 2 April at 15:00.
    assert_eq!(
        when(
            &follow_up(7),
            &[deal_opened(DEAL), won()],
            2,
            time(3, 26, 15)
        ),
        [task(2, time(3, 26, 15), MANAGER, time(4, 2, 15))]
    );
    // Across the end of a leap-less February: 27 Feb + 3 days is 2 March.
    assert_eq!(
        when(
            &follow_up(3),
            &[deal_opened(DEAL), won()],
            2,
            time(2, 27, 9)
        ),
        [task(2, time(2, 27, 9), MANAGER, time(3, 2, 9))]
    );
}

#[test]
fn the_follow_up_goes_to_the_deals_manager_of_now() {
    let handed = DomainEvent::DealReassigned(DealReassigned {
        deal_id: DEAL,
        from_manager_id: MANAGER,
        to_manager_id: OTHER_MANAGER,
    });
    let deal = crate::deal::fold(&[deal_opened(DEAL), won(), handed]);
    let won = won();
    assert_eq!(
        react(
            &follow_up(1),
            &trigger(2, time(3, 1, 9), &won),
            deal.deal.as_ref()
        ),
        [task(2, time(3, 1, 9), OTHER_MANAGER, time(3, 2, 9))]
    );
}

#[test]
fn a_deal_won_twice_gets_two_follow_ups_and_a_lost_one_none() {
    let reopened = DomainEvent::DealReopened(DealReopened {
        deal_id: DEAL,
        stage_id: STAGE3,
    });
    let mut stream = vec![deal_opened(DEAL), won()];
    let first = when(&follow_up(1), &stream, 2, time(3, 1, 9));
    stream.extend([reopened, won()]);
    let second = when(&follow_up(1), &stream, 4, time(3, 5, 9));
    assert_eq!(second, [task(4, time(3, 5, 9), MANAGER, time(3, 6, 9))]);
    assert_ne!(first[0].id, second[0].id);
    let lost = DomainEvent::DealLost(DealLost {
        deal_id: DEAL,
        reason: "price".into(),
        comment: None,
    });
    assert_eq!(
        when(&follow_up(1), &[deal_opened(DEAL), lost], 2, time(3, 1, 9)),
        []
    );
}

#[test]
fn the_same_win_twice_plans_the_same_task() {
    let stream = [deal_opened(DEAL), won()];
    assert_eq!(
        when(&follow_up(7), &stream, 2, time(3, 1, 9)),
        when(&follow_up(7), &stream, 2, time(3, 1, 9))
    );
}
