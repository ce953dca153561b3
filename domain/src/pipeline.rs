//! The pipeline aggregate (`pipeline-<uuid>`): a funnel of ordered stages, defined
//! once (the log has no event to change a pipeline).

use std::collections::HashSet;

use serde::Serialize;
use uuid::Uuid;

use crate::aggregate::{absent, Aggregate, HasId};
use crate::events::PipelineDefined;
use crate::rules::{at_most, items, non_empty, MAX_NAME_CHARS};
use crate::values::Stage;
use crate::{codes, DomainError, DomainEvent};

/// A defined pipeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pipeline {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Stages in order; never empty.
    pub stages: Vec<Stage>,
}

impl HasId for Pipeline {
    fn id(&self) -> Uuid {
        self.id
    }
}

impl Pipeline {
    /// The first stage: a new deal's default.
    pub fn first_stage(&self) -> Option<&Stage> {
        self.stages.first()
    }

    /// The position of a stage in the pipeline's order, if it is one of its stages.
    pub fn stage_index(&self, stage_id: Uuid) -> Option<usize> {
        self.stages.iter().position(|s| s.stage_id == stage_id)
    }

    /// Refuses a stage that is not one of this pipeline's.
    pub fn require_stage(&self, stage_id: Uuid) -> Result<(), DomainError> {
        match self.stage_index(stage_id) {
            Some(_) => Ok(()),
            None => Err(DomainError::rule(
                codes::STAGE_NOT_IN_PIPELINE,
                format!("stage {stage_id} is not a stage of pipeline {}", self.id),
            )),
        }
    }
}

/// A pipeline's state; the default is "not defined".
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PipelineState {
    /// Events folded from the stream.
    pub version: i64,
    /// The pipeline, once defined.
    pub pipeline: Option<Pipeline>,
}

/// What can be asked of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineCommand {
    /// `POST /pipelines` (the caller gives every stage an id).
    Define {
        /// The new pipeline's id.
        pipeline_id: Uuid,
        /// Name, not blank.
        name: String,
        /// At least one stage; unique ids and names; probabilities in 0..=1.
        stages: Vec<Stage>,
    },
}

/// Applies one event to a pipeline's state.
pub fn evolve(mut state: PipelineState, event: &DomainEvent) -> PipelineState {
    if let DomainEvent::PipelineDefined(e) = event {
        if state.pipeline.is_none() {
            state.pipeline = Some(Pipeline {
                id: e.pipeline_id,
                name: e.name.clone(),
                stages: e.stages.clone(),
            });
            state.version += 1;
        }
    }
    state
}

/// Folds a pipeline's stream.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a DomainEvent>) -> PipelineState {
    PipelineState::fold(events)
}

/// Decides a pipeline command.
pub fn decide(
    state: &PipelineState,
    command: PipelineCommand,
) -> Result<Vec<DomainEvent>, DomainError> {
    match command {
        PipelineCommand::Define {
            pipeline_id,
            name,
            stages,
        } => {
            absent(state)?;
            non_empty(&name, codes::EMPTY_NAME, "pipeline name")?;
            at_most(&name, MAX_NAME_CHARS, "pipeline name")?;
            check_stages(&stages)?;
            Ok(vec![DomainEvent::PipelineDefined(PipelineDefined {
                pipeline_id,
                name,
                stages,
            })])
        }
    }
}

fn check_stages(stages: &[Stage]) -> Result<(), DomainError> {
    if stages.is_empty() {
        return Err(DomainError::rule(
            codes::NO_STAGES,
            "a pipeline needs at least one stage",
        ));
    }
    items(stages.len(), "stages")?;
    let mut ids = HashSet::new();
    let mut names = HashSet::new();
    for stage in stages {
        non_empty(&stage.name, codes::EMPTY_NAME, "stage name")?;
        at_most(&stage.name, MAX_NAME_CHARS, "stage name")?;
        if !ids.insert(stage.stage_id) {
            return Err(DomainError::rule(
                codes::DUPLICATE_STAGE_ID,
                format!("stage id {} appears twice", stage.stage_id),
            ));
        }
        if !names.insert(stage.name.trim().to_lowercase()) {
            return Err(DomainError::rule(
                codes::DUPLICATE_STAGE_NAME,
                format!("stage name {:?} appears twice", stage.name),
            ));
        }
        if !(0.0..=1.0).contains(&stage.probability) {
            return Err(DomainError::rule(
                codes::INVALID_PROBABILITY,
                format!(
                    "stage {:?} has probability {}, not in 0..=1",
                    stage.name, stage.probability
                ),
            ));
        }
    }
    Ok(())
}

impl Aggregate for PipelineState {
    const ENTITY: &'static str = "pipeline";
    type Entity = Pipeline;
    type Command = PipelineCommand;

    fn entity(&self) -> Option<&Pipeline> {
        self.pipeline.as_ref()
    }
    fn id(&self) -> Option<Uuid> {
        self.pipeline.as_ref().map(|p| p.id)
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn evolve(self, event: &DomainEvent) -> Self {
        evolve(self, event)
    }
    fn decide(&self, command: PipelineCommand) -> Result<Vec<DomainEvent>, DomainError> {
        decide(self, command)
    }
}

#[cfg(test)]
mod tests;
