#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::testing::*;

fn define(stages: Vec<Stage>) -> PipelineCommand {
    PipelineCommand::Define {
        pipeline_id: PIPELINE,
        name: "Wholesale".into(),
        stages,
    }
}

fn stage(n: u128, name: &str, probability: f64) -> Stage {
    Stage {
        stage_id: id(n),
        name: name.into(),
        probability,
    }
}

#[test]
fn define_succeeds() {
    let state = given::<PipelineState>([])
        .when(define(stages()))
        .then(vec![pipeline_defined()]);
    let pipeline = state.pipeline.unwrap();
    assert_eq!(pipeline.first_stage().unwrap().stage_id, STAGE1);
    assert_eq!(pipeline.stage_index(STAGE3), Some(2));
    assert_eq!(pipeline.stage_index(FOREIGN_STAGE), None);
}

#[test]
fn probabilities_0_and_1_are_allowed() {
    given::<PipelineState>([])
        .when(define(vec![stage(1, "Cold", 0.0), stage(2, "Signed", 1.0)]))
        .then(vec![DomainEvent::PipelineDefined(PipelineDefined {
            pipeline_id: PIPELINE,
            name: "Wholesale".into(),
            stages: vec![stage(1, "Cold", 0.0), stage(2, "Signed", 1.0)],
        })]);
}

#[test]
fn define_twice_is_already_exists() {
    given::<PipelineState>([pipeline_defined()])
        .when(define(stages()))
        .then_error(codes::ALREADY_EXISTS);
}

#[test]
fn needs_a_name() {
    given::<PipelineState>([])
        .when(PipelineCommand::Define {
            pipeline_id: PIPELINE,
            name: "".into(),
            stages: stages(),
        })
        .then_error(codes::EMPTY_NAME);
}

#[test]
fn needs_a_stage() {
    given::<PipelineState>([])
        .when(define(vec![]))
        .then_error(codes::NO_STAGES);
}

#[test]
fn stage_names_are_not_blank() {
    given::<PipelineState>([])
        .when(define(vec![stage(1, " ", 0.5)]))
        .then_error(codes::EMPTY_NAME);
}

#[test]
fn stage_ids_are_unique() {
    given::<PipelineState>([])
        .when(define(vec![stage(1, "A", 0.1), stage(1, "B", 0.2)]))
        .then_error(codes::DUPLICATE_STAGE_ID);
}

#[test]
fn stage_names_are_unique_ignoring_case() {
    given::<PipelineState>([])
        .when(define(vec![
            stage(1, "Proposal", 0.1),
            stage(2, "proposal ", 0.2),
        ]))
        .then_error(codes::DUPLICATE_STAGE_NAME);
}

#[test]
fn probability_is_in_0_to_1() {
    for p in [-0.1, 1.01, f64::NAN, f64::INFINITY] {
        given::<PipelineState>([])
            .when(define(vec![stage(1, "A", p)]))
            .then_error(codes::INVALID_PROBABILITY);
    }
}
