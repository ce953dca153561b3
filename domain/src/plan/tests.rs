#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::testing::*;

fn march() -> Month {
    Month::new(2026, 3).unwrap()
}

fn targets(calls: i64) -> PlanTargets {
    PlanTargets {
        calls: Some(calls),
        won_amount: Some(500_000),
        ..PlanTargets::default()
    }
}

fn set(manager_id: Uuid, targets: PlanTargets) -> PlanCommand {
    PlanCommand::Set(SetPlan {
        manager: manager(manager_id),
        month: march(),
        targets,
    })
}

fn plan_set(calls: i64) -> DomainEvent {
    DomainEvent::PlanSet(PlanSet {
        plan_id: plan_id(MANAGER, march()),
        manager_id: MANAGER,
        month: march(),
        targets: targets(calls),
    })
}

#[test]
fn a_plan_is_set_on_the_stream_of_its_manager_and_month() {
    let state = given::<PlanState>([])
        .when(set(MANAGER, targets(100)))
        .then(vec![plan_set(100)]);
    assert_eq!(state.responsible(), [MANAGER]);
    assert_eq!(state.id(), Some(plan_id(MANAGER, march())));
    // One stream per manager and month.
    assert_ne!(plan_id(MANAGER, march()), plan_id(OTHER_MANAGER, march()));
    assert_ne!(
        plan_id(MANAGER, march()),
        plan_id(MANAGER, Month::new(2026, 4).unwrap())
    );
    assert_eq!(
        plan_set(1).stream(),
        format!("plan-{}", plan_id(MANAGER, march()))
    );
}

#[test]
fn a_later_plan_for_the_same_month_replaces_it() {
    let state = given::<PlanState>([plan_set(100)])
        .when(set(MANAGER, targets(80)))
        .then(vec![plan_set(80)]);
    assert_eq!(state.plan.unwrap().targets.calls, Some(80));
    assert_eq!(state.version, 2);
}

#[test]
fn a_plan_for_an_unknown_manager_is_refused_an_inactive_one_is_planned() {
    given::<PlanState>([])
        .when(set(NOBODY, targets(100)))
        .then_error("reference_not_found");
    given::<PlanState>([])
        .when(set(GONE_MANAGER, targets(100)))
        .then(vec![DomainEvent::PlanSet(PlanSet {
            plan_id: plan_id(GONE_MANAGER, march()),
            manager_id: GONE_MANAGER,
            month: march(),
            targets: targets(100),
        })]);
}

#[test]
fn a_plan_has_a_target_and_each_is_positive() {
    given::<PlanState>([])
        .when(set(MANAGER, PlanTargets::default()))
        .then_error("no_targets");
    for bad in [0, -1, crate::MAX_AMOUNT + 1] {
        given::<PlanState>([])
            .when(set(MANAGER, targets(bad)))
            .then_error("invalid_target");
    }
}

#[test]
fn a_plan_decided_on_another_plans_stream_is_refused() {
    let other = DomainEvent::PlanSet(PlanSet {
        plan_id: plan_id(OTHER_MANAGER, march()),
        manager_id: OTHER_MANAGER,
        month: march(),
        targets: targets(1),
    });
    given::<PlanState>([other])
        .when(set(MANAGER, targets(100)))
        .then_error("plan_id_mismatch");
}
