#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Fixtures shared by the kinds' tests, and the tests of what all kinds share: the
//! ids, which events wake a rule, the deadlines' list.

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use super::*;
use crate::events::{DealLost, DealWon};
use crate::rule::{FollowUpAfterWin, LeadRoundRobin, LeadSla, Strategy, TaskOnStage};
use crate::testing::*;

/// A head of the `Sales` department.
pub(crate) const HEAD: Uuid = id(4);
/// The manager who defines the rules (role admin, department `Board`).
pub(crate) const DEFINER: Uuid = id(5);

/// An active rule of `spec`, defined by [`DEFINER`].
pub(crate) fn rule(spec: RuleSpec) -> Rule {
    Rule {
        id: RULE,
        name: "Rule".into(),
        spec,
        defined_by: Some(DEFINER),
        active: true,
    }
}

/// The id of the `n`-th event of a case's log.
pub(crate) fn event_id(n: u128) -> Uuid {
    id(0xE000 + n)
}

/// The `n`-th event of the log, `event`, at `occurred_at`.
pub(crate) fn trigger(n: u128, occurred_at: DateTime<Utc>, event: &DomainEvent) -> Trigger<'_> {
    Trigger {
        event_id: event_id(n),
        occurred_at,
        event,
    }
}

/// 2026-03-01 at `h:m:s` UTC.
pub(crate) fn hms(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, h, m, s).unwrap()
}

/// A registered manager of `department`.
pub(crate) fn member(
    manager_id: Uuid,
    department: &str,
    role: Role,
    active: bool,
    open_work: u64,
) -> Member {
    Member {
        manager_id,
        department: department.into(),
        role,
        active,
        open_work,
    }
}

#[test]
fn a_command_id_is_uuid_v5_of_rule_cause_and_purpose() {
    // Computed apart (Python's uuid.uuid5 over the same namespace and name).
    assert_eq!(
        command_id(RULE, event_id(1), "assign").to_string(),
        "2a67a031-3853-5f02-a01d-e06b3b272eda"
    );
    assert_eq!(
        command_id(RULE, event_id(1), "reminder/2026-03-01T12:00:00Z").to_string(),
        "c18538b5-0681-57e0-8a5e-50cf097a248c"
    );
    assert_eq!(
        NAMESPACE.to_string(),
        "63726d2d-6175-746f-6d61-74696f6e2121"
    );
    // Another rule, cause or purpose: another id.
    let ids = [
        command_id(RULE, event_id(1), "task"),
        command_id(NOBODY, event_id(1), "task"),
        command_id(RULE, event_id(2), "task"),
        command_id(RULE, event_id(1), "sla_task"),
    ];
    for (i, a) in ids.iter().enumerate() {
        for b in &ids[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn each_kind_wakes_on_its_own_events_and_a_disabled_rule_on_none() {
    let won = DomainEvent::DealWon(DealWon {
        deal_id: DEAL,
        amount: 1,
    });
    let lost = DomainEvent::DealLost(DealLost {
        deal_id: DEAL,
        reason: "price".into(),
        comment: None,
    });
    let round_robin = rule(RuleSpec::LeadRoundRobin(LeadRoundRobin {
        department: "Sales".into(),
        strategy: Strategy::RoundRobin,
    }));
    let follow_up = rule(RuleSpec::FollowUpAfterWin(FollowUpAfterWin {
        after_days: 3,
        title: "Ask".into(),
    }));
    let on_stage = rule(RuleSpec::TaskOnStage(TaskOnStage {
        pipeline_id: PIPELINE,
        stage_id: STAGE1,
        title: "Call".into(),
        kind: None,
        due_in_hours: 1,
    }));
    let sla = rule(RuleSpec::LeadSla(LeadSla { sla_minutes: 30 }));
    assert!(reacts_to(&round_robin, &lead_captured(LEAD)));
    assert!(!reacts_to(&round_robin, &lead_assigned(LEAD, MANAGER)));
    assert!(reacts_to(&follow_up, &won));
    assert!(!reacts_to(&follow_up, &lost));
    assert!(reacts_to(&on_stage, &deal_opened(DEAL)));
    assert!(!reacts_to(&on_stage, &won));
    // Deadline kinds act through their deadlines, not on events.
    assert!(!reacts_to(&sla, &lead_captured(LEAD)));
    let disabled = Rule {
        active: false,
        ..follow_up
    };
    assert!(!reacts_to(&disabled, &won));
    let captured = lead_captured(LEAD);
    let when = trigger(1, at(9), &captured);
    assert_eq!(due_changes(&sla, &when).len(), 1);
    let sla_disabled = Rule {
        active: false,
        ..sla
    };
    assert_eq!(due_changes(&sla_disabled, &when), []);
    assert_eq!(due_changes(&round_robin, &when), []);
}

#[test]
fn a_deadline_replaces_the_rules_last_for_its_subject_and_drops_from_a_time() {
    let due = |rule_id, subject_id, hour| Due {
        rule_id,
        subject_id,
        due_at: at(hour),
        cause_id: event_id(u128::from(hour)),
        task_due_at: None,
    };
    let mut entries = vec![
        due(RULE, LEAD, 10),
        due(NOBODY, LEAD, 10),
        due(RULE, TASK, 10),
    ];
    DueChange::Set(due(RULE, LEAD, 11)).apply(&mut entries);
    assert_eq!(
        entries,
        [
            due(NOBODY, LEAD, 10),
            due(RULE, TASK, 10),
            due(RULE, LEAD, 11)
        ]
    );
    // An answer at 11:00 drops what was due from 11:00 on, of that rule only.
    let drop = |subject_id, hour| DueChange::Drop {
        rule_id: RULE,
        subject_id,
        from: at(hour),
    };
    drop(LEAD, 12).apply(&mut entries);
    assert_eq!(entries.len(), 3, "due at 11, before the answer at 12: kept");
    drop(LEAD, 11).apply(&mut entries);
    assert_eq!(entries, [due(NOBODY, LEAD, 10), due(RULE, TASK, 10)]);
}

#[test]
fn an_action_targets_the_stream_its_command_appends_to() {
    let task = NewTask {
        task_id: TASK,
        title: "Call".into(),
        kind: None,
        assignee_id: MANAGER,
        due_at: at(12),
        client_id: None,
        deal_id: Some(DEAL),
    };
    let cases = [
        (
            Action::AssignLead {
                lead_id: LEAD,
                manager_id: MANAGER,
            },
            "lead",
        ),
        (
            Action::BreachLeadSla {
                lead_id: LEAD,
                minutes: 5,
            },
            "lead",
        ),
        (Action::ScheduleTask(task), "task"),
        (
            Action::RemindTask {
                task_id: TASK,
                due_at: at(12),
            },
            "task",
        ),
    ];
    for (action, kind) in cases {
        let (k, id) = action.target();
        let expected = if kind == "lead" { LEAD } else { TASK };
        assert_eq!((k.name(), id), (kind, expected));
    }
}
