#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use super::*;
use crate::events::PipelineDefined;
use crate::testing::*;

fn on_stage() -> TaskOnStage {
    TaskOnStage {
        pipeline_id: PIPELINE,
        stage_id: STAGE2,
        title: "Call the client".into(),
        kind: None,
        due_in_hours: 24,
    }
}

fn define(spec: RuleSpec) -> RuleCommand {
    RuleCommand::Define(DefineRule {
        rule_id: RULE,
        name: "Rule".into(),
        pipeline: spec.pipeline_id().map(|_| pipeline_state()),
        spec,
        defined_by: Some(MANAGER),
    })
}

fn defined(spec: RuleSpec) -> DomainEvent {
    DomainEvent::RuleDefined(RuleDefined {
        rule_id: RULE,
        name: "Rule".into(),
        spec,
        defined_by: Some(MANAGER),
    })
}

fn sla(minutes: i64) -> RuleSpec {
    RuleSpec::LeadSla(LeadSla {
        sla_minutes: minutes,
    })
}

/// One rule of each kind, params in range.
fn every_kind() -> Vec<RuleSpec> {
    vec![
        RuleSpec::LeadRoundRobin(LeadRoundRobin {
            department: "Sales".into(),
            strategy: Strategy::LeastBusy,
        }),
        RuleSpec::TaskOnStage(on_stage()),
        sla(30),
        RuleSpec::FollowUpAfterWin(FollowUpAfterWin {
            after_days: 30,
            title: "How is it going?".into(),
        }),
        RuleSpec::TaskReminder(TaskReminder { before_minutes: 15 }),
    ]
}

#[test]
fn a_rule_of_each_kind_is_defined_active() {
    for spec in every_kind() {
        let state = given::<RuleState>([])
            .when(define(spec.clone()))
            .then(vec![defined(spec.clone())]);
        let rule = state.rule.unwrap();
        assert!(rule.active);
        assert_eq!(
            (rule.id, rule.spec, rule.defined_by),
            (RULE, spec, Some(MANAGER))
        );
    }
}

#[test]
fn a_rule_is_defined_once() {
    given::<RuleState>([defined(sla(30))])
        .when(define(sla(60)))
        .then_error(codes::ALREADY_EXISTS);
}

#[test]
fn a_rule_needs_a_name() {
    let command = RuleCommand::Define(DefineRule {
        rule_id: RULE,
        name: " ".into(),
        spec: sla(30),
        defined_by: None,
        pipeline: None,
    });
    given::<RuleState>([])
        .when(command)
        .then_error(codes::EMPTY_NAME);
}

#[test]
fn kind_and_params_are_read_as_the_api_gives_them() {
    let read = |kind: &str, params| RuleSpec::parse(kind, params).map_err(|e| e.code());
    assert_eq!(
        read(
            "lead_round_robin",
            json!({"department": "Sales", "strategy": "round_robin"})
        ),
        Ok(RuleSpec::LeadRoundRobin(LeadRoundRobin {
            department: "Sales".into(),
            strategy: Strategy::RoundRobin
        }))
    );
    assert_eq!(
        read(
            "task_on_stage",
            json!({"pipeline_id": PIPELINE, "stage_id": STAGE2, "title": "Call the client",
                   "due_in_hours": 24})
        ),
        Ok(RuleSpec::TaskOnStage(on_stage()))
    );
    assert_eq!(read("lead_sla", json!({"sla_minutes": 30})), Ok(sla(30)));
    assert_eq!(
        read(
            "follow_up_after_win",
            json!({"after_days": 7, "title": "Ask"})
        ),
        Ok(RuleSpec::FollowUpAfterWin(FollowUpAfterWin {
            after_days: 7,
            title: "Ask".into()
        }))
    );
    assert_eq!(
        read("task_reminder", json!({"before_minutes": 15})),
        Ok(RuleSpec::TaskReminder(TaskReminder { before_minutes: 15 }))
    );
}

#[test]
fn an_unknown_kind_or_params_of_another_shape_are_refused() {
    let read = |kind: &str, params| RuleSpec::parse(kind, params).map_err(|e| e.code());
    assert_eq!(
        read("lead_lottery", json!({})),
        Err(codes::UNKNOWN_RULE_KIND)
    );
    assert_eq!(
        read("LeadSla", json!({"sla_minutes": 30})),
        Err(codes::UNKNOWN_RULE_KIND)
    );
    for (kind, params) in [
        ("lead_sla", json!({})),
        ("lead_sla", json!({"sla_minutes": "30"})),
        ("lead_sla", json!({"sla_minutes": 1.5})),
        ("lead_sla", json!({"sla_minutes": 30, "before_minutes": 5})),
        ("lead_sla", json!(null)),
        (
            "lead_round_robin",
            json!({"department": "Sales", "strategy": "random"}),
        ),
        (
            "task_on_stage",
            json!({"pipeline_id": "p", "stage_id": STAGE2, "title": "t", "due_in_hours": 1}),
        ),
        ("follow_up_after_win", json!({"after_days": 7})),
    ] {
        assert_eq!(
            read(kind, params.clone()),
            Err(codes::INVALID_RULE_PARAMS),
            "{kind} {params}"
        );
    }
}

#[test]
fn periods_must_make_sense() {
    let reminder = |m| RuleSpec::TaskReminder(TaskReminder { before_minutes: m });
    let follow_up = |d| {
        RuleSpec::FollowUpAfterWin(FollowUpAfterWin {
            after_days: d,
            title: "Ask".into(),
        })
    };
    let on_stage_in = |h| {
        RuleSpec::TaskOnStage(TaskOnStage {
            due_in_hours: h,
            ..on_stage()
        })
    };
    // A year and a day is the longest: 527,040 minutes, 8,784 hours, 366 days.
    for spec in [
        sla(1),
        sla(527_040),
        reminder(1),
        follow_up(1),
        follow_up(366),
        on_stage_in(0),
        on_stage_in(8_784),
    ] {
        given::<RuleState>([])
            .when(define(spec.clone()))
            .then(vec![defined(spec)]);
    }
    for spec in [
        sla(0),
        sla(-30),
        sla(527_041),
        sla(i64::MAX),
        reminder(0),
        reminder(-5),
        follow_up(0),
        follow_up(367),
        on_stage_in(-1),
        on_stage_in(8_785),
    ] {
        given::<RuleState>([])
            .when(define(spec))
            .then_error(codes::INVALID_PERIOD);
    }
}

#[test]
fn titles_departments_and_kinds_must_not_be_blank() {
    let cases = [
        (
            RuleSpec::TaskOnStage(TaskOnStage {
                title: "".into(),
                ..on_stage()
            }),
            codes::EMPTY_TITLE,
        ),
        (
            RuleSpec::TaskOnStage(TaskOnStage {
                kind: Some(" ".into()),
                ..on_stage()
            }),
            codes::EMPTY_KIND,
        ),
        (
            RuleSpec::FollowUpAfterWin(FollowUpAfterWin {
                after_days: 3,
                title: "  ".into(),
            }),
            codes::EMPTY_TITLE,
        ),
        (
            RuleSpec::FollowUpAfterWin(FollowUpAfterWin {
                after_days: 3,
                title: "x".repeat(201),
            }),
            codes::TEXT_TOO_LONG,
        ),
        (
            RuleSpec::LeadRoundRobin(LeadRoundRobin {
                department: "".into(),
                strategy: Strategy::RoundRobin,
            }),
            codes::EMPTY_DEPARTMENT,
        ),
    ];
    for (spec, code) in cases {
        given::<RuleState>([]).when(define(spec)).then_error(code);
    }
}

#[test]
fn a_task_on_stage_names_a_stage_of_an_existing_pipeline() {
    let with = |stage_id, pipeline: Option<PipelineState>| {
        RuleCommand::Define(DefineRule {
            rule_id: RULE,
            name: "Rule".into(),
            spec: RuleSpec::TaskOnStage(TaskOnStage {
                stage_id,
                ..on_stage()
            }),
            defined_by: None,
            pipeline,
        })
    };
    given::<RuleState>([])
        .when(with(FOREIGN_STAGE, Some(pipeline_state())))
        .then_error(codes::STAGE_NOT_IN_PIPELINE);
    given::<RuleState>([])
        .when(with(STAGE2, None))
        .then_error(codes::REFERENCE_NOT_FOUND);
    // Another pipeline than the one named is no pipeline.
    let other = PipelineState::fold(&[DomainEvent::PipelineDefined(PipelineDefined {
        pipeline_id: NOBODY,
        name: "Retail".into(),
        stages: stages(),
    })]);
    given::<RuleState>([])
        .when(with(STAGE2, Some(other)))
        .then_error(codes::REFERENCE_NOT_FOUND);
}

#[test]
fn a_rule_is_disabled_once() {
    let disabled = DomainEvent::RuleDisabled(RuleDisabled { rule_id: RULE });
    let state = given::<RuleState>([defined(sla(30))])
        .when(RuleCommand::Disable { rule_id: RULE })
        .then(vec![disabled.clone()]);
    assert!(!state.rule.unwrap().active);
    given::<RuleState>([defined(sla(30)), disabled])
        .when(RuleCommand::Disable { rule_id: RULE })
        .then_error(codes::RULE_DISABLED);
    given::<RuleState>([])
        .when(RuleCommand::Disable { rule_id: RULE })
        .then_error(codes::NOT_FOUND);
}

#[test]
fn a_rule_reads_as_its_kind_and_params() {
    let state = RuleState::fold(&[defined(sla(45))]);
    assert_eq!(
        serde_json::to_value(state.entity()).unwrap(),
        json!({"id": RULE, "name": "Rule", "kind": "lead_sla", "params": {"sla_minutes": 45},
               "defined_by": MANAGER, "active": true})
    );
}
