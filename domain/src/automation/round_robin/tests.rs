#![allow(clippy::unwrap_used, clippy::expect_used)]

use uuid::Uuid;

use super::*;
use crate::automation::tests::{event_id, member, rule, trigger};
use crate::lead::LeadState;
use crate::testing::*;

const A: Uuid = id(101);
const B: Uuid = id(102);
const C: Uuid = id(103);
const HEAD: Uuid = id(104);
const ELSEWHERE: Uuid = id(105);

fn round_robin(strategy: Strategy) -> Rule {
    rule(RuleSpec::LeadRoundRobin(LeadRoundRobin {
        department: "Sales".into(),
        strategy,
    }))
}

/// Sales' managers A, B and C, registered in that order, with a head and a manager
/// of another department among them; `open` their open work.
fn team(active: [bool; 3], open: [u64; 3]) -> Vec<Member> {
    vec![
        member(A, "Sales", Role::Manager, active[0], open[0]),
        member(HEAD, "Sales", Role::Head, true, 0),
        member(ELSEWHERE, "Retail", Role::Manager, true, 0),
        member(B, "Sales", Role::Manager, active[1], open[1]),
        member(C, "Sales", Role::Manager, active[2], open[2]),
    ]
}

fn lead_id(n: u128) -> Uuid {
    id(3000 + n)
}

fn captured_lead(n: u128) -> (DomainEvent, LeadState) {
    let event = lead_captured(lead_id(n));
    let state = crate::lead::fold(std::slice::from_ref(&event));
    (event, state)
}

/// Given the team, when lead `n` is captured (the `n`-th event), the manager the rule
/// assigns it to, if any.
fn assign(rule: &Rule, n: u128, managers: &[Member], last: Option<Uuid>) -> Option<Uuid> {
    let (event, state) = captured_lead(n);
    let ctx = Context {
        lead: state.lead.as_ref(),
        managers,
        last_assigned: last,
    };
    let planned = react(rule, &trigger(n, at(9), &event), &ctx);
    assert!(planned.len() <= 1);
    planned.first().map(|p| match &p.action {
        Action::AssignLead {
            lead_id: lead,
            manager_id,
        } => {
            assert_eq!(*lead, lead_id(n));
            *manager_id
        }
        other => panic!("not an assignment: {other:?}"),
    })
}

#[test]
fn leads_go_round_the_departments_managers_in_order_of_registration() {
    let rule = round_robin(Strategy::RoundRobin);
    let team = team([true; 3], [0; 3]);
    let mut last = None;
    let mut got = Vec::new();
    for n in 1..=4 {
        last = assign(&rule, n, &team, last);
        got.push(last.unwrap());
    }
    // Neither the head nor the other department's manager: A, B, C, then A again.
    assert_eq!(got, [A, B, C, A]);
}

#[test]
fn a_manager_deactivated_between_two_leads_is_skipped() {
    let rule = round_robin(Strategy::RoundRobin);
    let first = assign(&rule, 1, &team([true; 3], [0; 3]), None);
    assert_eq!(first, Some(A));
    // B is deactivated before the second lead: it goes to C, the third to A.
    let without_b = team([true, false, true], [0; 3]);
    let second = assign(&rule, 2, &without_b, first);
    assert_eq!(second, Some(C));
    assert_eq!(assign(&rule, 3, &without_b, second), Some(A));
    // The last one assigned deactivated since: the next after him, not the first.
    let without_c = team([true, true, false], [0; 3]);
    assert_eq!(assign(&rule, 4, &without_c, Some(B)), Some(A));
    assert_eq!(
        assign(&rule, 5, &team([false, true, true], [0; 3]), Some(A)),
        Some(B)
    );
}

#[test]
fn every_manager_of_the_department_inactive_assigns_nothing() {
    for strategy in [Strategy::RoundRobin, Strategy::LeastBusy] {
        let rule = round_robin(strategy);
        assert_eq!(assign(&rule, 1, &team([false; 3], [0; 3]), None), None);
        assert_eq!(assign(&rule, 2, &team([false; 3], [0; 3]), Some(B)), None);
        // A department nobody is registered in: nothing either.
        assert_eq!(assign(&rule, 3, &[], None), None);
    }
}

#[test]
fn least_busy_picks_the_fewest_open_leads_and_deals_ties_by_registration() {
    let rule = round_robin(Strategy::LeastBusy);
    assert_eq!(assign(&rule, 1, &team([true; 3], [3, 2, 4]), None), Some(B));
    // B and C tie at 1: B registered first. The last assigned does not matter.
    assert_eq!(
        assign(&rule, 2, &team([true; 3], [3, 1, 1]), Some(B)),
        Some(B)
    );
    assert_eq!(
        assign(&rule, 3, &team([true; 3], [2, 2, 2]), Some(A)),
        Some(A)
    );
    // An idle manager who is inactive is no candidate.
    assert_eq!(
        assign(&rule, 4, &team([false, true, true], [0, 5, 4]), None),
        Some(C)
    );
}

#[test]
fn a_lead_captured_with_a_manager_or_closed_since_is_not_assigned() {
    let rule = round_robin(Strategy::RoundRobin);
    let team = team([true; 3], [0; 3]);
    let captured = lead_captured(LEAD);
    let with_manager = crate::lead::fold(&[captured.clone(), lead_assigned(LEAD, OTHER_MANAGER)]);
    let rejected = crate::lead::fold(&[
        captured.clone(),
        DomainEvent::LeadRejected(crate::events::LeadRejected {
            lead_id: LEAD,
            reason: "spam".into(),
        }),
    ]);
    for state in [with_manager, rejected, LeadState::default()] {
        let ctx = Context {
            lead: state.lead.as_ref(),
            managers: &team,
            last_assigned: None,
        };
        assert_eq!(react(&rule, &trigger(1, at(9), &captured), &ctx), []);
    }
}

#[test]
fn the_assignment_carries_its_rule_cause_time_and_a_deterministic_id() {
    let rule = round_robin(Strategy::RoundRobin);
    let team = team([true; 3], [0; 3]);
    let (event, state) = captured_lead(1);
    let ctx = Context {
        lead: state.lead.as_ref(),
        managers: &team,
        last_assigned: None,
    };
    let planned = react(&rule, &trigger(7, at(9), &event), &ctx);
    assert_eq!(
        planned,
        [Planned {
            id: command_id(RULE, event_id(7), "assign"),
            rule_id: RULE,
            causation_id: event_id(7),
            occurred_at: at(9),
            action: Action::AssignLead {
                lead_id: lead_id(1),
                manager_id: A
            },
        }]
    );
    // The same trigger again (a retry, a second runner): the same command.
    assert_eq!(react(&rule, &trigger(7, at(9), &event), &ctx), planned);
    // Another capture: another id.
    let again = react(&rule, &trigger(8, at(9), &event), &ctx);
    assert_ne!(again[0].id, planned[0].id);
}

#[test]
fn a_disabled_rule_assigns_nothing() {
    let rule = Rule {
        active: false,
        ..round_robin(Strategy::RoundRobin)
    };
    assert_eq!(assign(&rule, 1, &team([true; 3], [0; 3]), None), None);
}
