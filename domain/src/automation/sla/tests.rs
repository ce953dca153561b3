#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::*;
use crate::automation::tests::{event_id, hms, member, rule, trigger, DEFINER, HEAD};
use crate::events::{InteractionLogged, LeadCaptured, LeadConverted, LeadRejected};
use crate::testing::*;
use crate::values::{Direction, InteractionKind};

/// A head of the definer's department.
const BOARD_HEAD: Uuid = id(6);
/// A head of Sales registered after [`HEAD`].
const SECOND_HEAD: Uuid = id(7);

fn sla_rule() -> Rule {
    rule(RuleSpec::LeadSla(LeadSla { sla_minutes: 30 }))
}

/// MANAGER and HEAD in Sales, the definer and BOARD_HEAD in Board; `active` the
/// managers' flags in that order.
fn company(active: [bool; 4]) -> Vec<Member> {
    vec![
        member(MANAGER, "Sales", Role::Manager, active[0], 0),
        member(HEAD, "Sales", Role::Head, active[1], 0),
        member(DEFINER, "Board", Role::Admin, active[2], 0),
        member(BOARD_HEAD, "Board", Role::Head, active[3], 0),
    ]
}

fn converted() -> DomainEvent {
    DomainEvent::LeadConverted(LeadConverted {
        lead_id: LEAD,
        client_id: CLIENT,
        deal_id: DEAL,
    })
}

fn rejected() -> DomainEvent {
    DomainEvent::LeadRejected(LeadRejected {
        lead_id: LEAD,
        reason: "spam".into(),
    })
}

fn call(lead_id: Option<Uuid>) -> DomainEvent {
    DomainEvent::InteractionLogged(InteractionLogged {
        interaction_id: INTERACTION,
        kind: InteractionKind::Call,
        direction: Direction::Outbound,
        manager_id: MANAGER,
        client_id: None,
        deal_id: None,
        lead_id,
        duration: None,
        outcome: None,
        goal: None,
        notes: None,
        goal_reached: None,
    })
}

/// The log of a case: each event with its business time, the `n`-th with id
/// `event_id(n)` (from 1).
struct Log(Vec<(DomainEvent, DateTime<Utc>)>);

impl Log {
    /// The deadlines the rule keeps after the whole log.
    fn entries(&self, rule: &Rule) -> Vec<Due> {
        let mut entries = Vec::new();
        for (n, (event, at)) in self.0.iter().enumerate() {
            for change in crate::automation::due_changes(rule, &trigger(n as u128 + 1, *at, event))
            {
                change.apply(&mut entries);
            }
        }
        entries
    }

    /// What `due` fires with the lead and its first answer as the log has them.
    fn fire(&self, rule: &Rule, due: &Due, managers: &[Member]) -> Vec<Planned> {
        let lead = crate::lead::fold(self.0.iter().map(|(e, _)| e));
        let answered_at = self
            .0
            .iter()
            .filter(|(e, _)| {
                matches!(
                    e,
                    DomainEvent::LeadConverted(_) | DomainEvent::LeadRejected(_)
                ) || matches!(e, DomainEvent::InteractionLogged(i) if i.lead_id == Some(LEAD))
            })
            .map(|(_, at)| *at)
            .min();
        let ctx = Context {
            lead: lead.lead.as_ref(),
            answered_at,
            managers,
        };
        fire(rule, due, &ctx)
    }
}

/// The deadline a capture at 9:00 (the first event) sets: 9:30.
fn deadline() -> Due {
    Due {
        rule_id: RULE,
        subject_id: LEAD,
        due_at: hms(9, 30, 0),
        cause_id: event_id(1),
        task_due_at: None,
    }
}

fn breach() -> Planned {
    Planned {
        id: command_id(RULE, event_id(1), "sla_breach"),
        rule_id: RULE,
        causation_id: event_id(1),
        occurred_at: hms(9, 30, 0),
        action: Action::BreachLeadSla {
            lead_id: LEAD,
            minutes: 30,
        },
    }
}

/// The event the lead aggregate records for a planned breach.
fn recorded(log: &Log, planned: &Planned) -> DomainEvent {
    let Action::BreachLeadSla { lead_id, minutes } = planned.action else {
        panic!("not a breach: {planned:?}");
    };
    let lead = crate::lead::fold(log.0.iter().map(|(e, _)| e));
    let command = crate::lead::LeadCommand::BreachSla { lead_id, minutes };
    crate::lead::decide(&lead, command).unwrap().remove(0)
}

fn head_task(assignee_id: Uuid) -> Planned {
    let id = command_id(RULE, event_id(1), "sla_task");
    Planned {
        id,
        rule_id: RULE,
        causation_id: event_id(1),
        occurred_at: hms(9, 30, 0),
        action: Action::ScheduleTask(NewTask {
            task_id: id,
            title: format!("Lead {LEAD} unanswered for 30 minutes"),
            kind: None,
            assignee_id,
            due_at: hms(9, 30, 0),
            client_id: None,
            deal_id: None,
        }),
    }
}

fn assigned_lead_then(answer: Option<(DomainEvent, DateTime<Utc>)>) -> Log {
    let mut log = vec![
        (lead_captured(LEAD), hms(9, 0, 0)),
        (lead_assigned(LEAD, MANAGER), hms(9, 1, 0)),
    ];
    log.extend(answer);
    Log(log)
}

#[test]
fn a_capture_sets_the_deadline_sla_minutes_after_received_at() {
    let log = assigned_lead_then(None);
    assert_eq!(log.entries(&sla_rule()), [deadline()]);
    // A lead entered hours after it arrived: the deadline is past already (the
    // runner fires it at once).
    let late = DomainEvent::LeadCaptured(LeadCaptured {
        received_at: hms(3, 0, 0),
        ..match lead_captured(LEAD) {
            DomainEvent::LeadCaptured(e) => e,
            _ => unreachable!(),
        }
    });
    let entries = Log(vec![(late, hms(9, 0, 0))]).entries(&sla_rule());
    assert_eq!(entries[0].due_at, hms(3, 30, 0));
}

#[test]
fn a_lead_converted_one_second_before_its_sla_is_no_breach() {
    let log = assigned_lead_then(Some((converted(), hms(9, 29, 59))));
    assert_eq!(log.entries(&sla_rule()), []);
    // Even if the deadline fires before the runner saw the conversion.
    assert_eq!(log.fire(&sla_rule(), &deadline(), &company([true; 4])), []);
    // Answered at the very deadline is in time too.
    let log = assigned_lead_then(Some((rejected(), hms(9, 30, 0))));
    assert_eq!(log.entries(&sla_rule()), []);
    assert_eq!(log.fire(&sla_rule(), &deadline(), &company([true; 4])), []);
}

#[test]
fn a_lead_converted_one_second_after_its_sla_is_breached() {
    let log = assigned_lead_then(Some((converted(), hms(9, 30, 1))));
    assert_eq!(
        log.entries(&sla_rule()),
        [deadline()],
        "the deadline stays, to fire"
    );
    let planned = log.fire(&sla_rule(), &deadline(), &company([true; 4]));
    assert_eq!(planned, [breach(), head_task(HEAD)]);
    assert_eq!(
        recorded(&log, &planned[0]),
        DomainEvent::LeadSlaBreached(crate::events::LeadSlaBreached {
            lead_id: LEAD,
            manager_id: Some(MANAGER),
            minutes: 30
        })
    );
}

#[test]
fn an_interaction_naming_the_lead_in_time_answers_it_and_others_do_not() {
    let log = assigned_lead_then(Some((call(Some(LEAD)), hms(9, 10, 0))));
    assert_eq!(log.entries(&sla_rule()), []);
    assert_eq!(log.fire(&sla_rule(), &deadline(), &company([true; 4])), []);
    let log = assigned_lead_then(Some((call(None), hms(9, 10, 0))));
    assert_eq!(log.entries(&sla_rule()), [deadline()]);
    assert_eq!(
        log.fire(&sla_rule(), &deadline(), &company([true; 4])),
        [breach(), head_task(HEAD)]
    );
}

#[test]
fn an_unanswered_leads_task_goes_to_the_first_active_head_of_its_managers_department() {
    let log = assigned_lead_then(None);
    let mut managers = company([true, false, true, true]);
    managers.push(member(SECOND_HEAD, "Sales", Role::Head, true, 0));
    // HEAD is inactive: the head registered after him.
    assert_eq!(
        log.fire(&sla_rule(), &deadline(), &managers),
        [breach(), head_task(SECOND_HEAD)]
    );
    // No active head in Sales: the head of the definer's department.
    assert_eq!(
        log.fire(
            &sla_rule(),
            &deadline(),
            &company([true, false, true, true])
        ),
        [breach(), head_task(BOARD_HEAD)]
    );
}

#[test]
fn a_lead_nobody_was_assigned_escalates_through_the_definer() {
    // Every manager of the department inactive: the lead stayed unassigned.
    let log = Log(vec![(lead_captured(LEAD), hms(9, 0, 0))]);
    let planned = log.fire(
        &sla_rule(),
        &deadline(),
        &company([false, true, true, true]),
    );
    assert_eq!(planned, [breach(), head_task(BOARD_HEAD)]);
    assert_eq!(
        recorded(&log, &planned[0]),
        DomainEvent::LeadSlaBreached(crate::events::LeadSlaBreached {
            lead_id: LEAD,
            manager_id: None,
            minutes: 30
        })
    );
    // No head in the definer's department: the definer himself.
    assert_eq!(
        log.fire(
            &sla_rule(),
            &deadline(),
            &company([false, true, true, false])
        ),
        [breach(), head_task(DEFINER)]
    );
    // The definer gone too: the breach alone.
    assert_eq!(
        log.fire(
            &sla_rule(),
            &deadline(),
            &company([false, true, false, false])
        ),
        [breach()]
    );
    // A rule defined by no manager (an admin's token): no one to escalate to.
    let anonymous = Rule {
        defined_by: None,
        ..sla_rule()
    };
    assert_eq!(
        log.fire(&anonymous, &deadline(), &company([false, true, true, true])),
        [breach()]
    );
}

#[test]
fn the_same_deadline_fired_twice_plans_the_same_commands() {
    let log = assigned_lead_then(None);
    let first = log.fire(&sla_rule(), &deadline(), &company([true; 4]));
    let again = log.fire(&sla_rule(), &deadline(), &company([true; 4]));
    assert_eq!(first, again);
    assert_ne!(first[0].id, first[1].id);
}

#[test]
fn a_closed_lead_without_an_answer_time_a_disabled_rule_or_anothers_entry_fire_nothing() {
    let lead = crate::lead::fold(&[lead_captured(LEAD), rejected()]);
    let managers = company([true; 4]);
    let ctx = Context {
        lead: lead.lead.as_ref(),
        answered_at: None,
        managers: &managers,
    };
    assert_eq!(fire(&sla_rule(), &deadline(), &ctx), []);
    let log = assigned_lead_then(None);
    let disabled = Rule {
        active: false,
        ..sla_rule()
    };
    assert_eq!(log.fire(&disabled, &deadline(), &managers), []);
    let foreign = Due {
        rule_id: NOBODY,
        ..deadline()
    };
    assert_eq!(log.fire(&sla_rule(), &foreign, &managers), []);
}
