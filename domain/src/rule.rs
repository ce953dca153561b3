//! The automation rule aggregate (`rule-<uuid>`): defined with its kind and params
//! (see [`spec`]), then disabled, once. What each kind does is [`crate::automation`].

use serde::Serialize;
use uuid::Uuid;

use crate::aggregate::{absent, implied, target, Aggregate};
use crate::events::{RuleDefined, RuleDisabled};
use crate::pipeline::PipelineState;
use crate::rules::{at_most, non_empty, MAX_NAME_CHARS};
use crate::{codes, DomainError, DomainEvent};

pub mod spec;

pub use spec::{
    FollowUpAfterWin, LeadRoundRobin, LeadSla, RuleSpec, Strategy, TaskOnStage, TaskReminder,
};

/// A defined rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Id.
    pub id: Uuid,
    /// Its name, for people.
    pub name: String,
    /// Its kind and params (`kind` and `params` in JSON).
    #[serde(flatten)]
    pub spec: RuleSpec,
    /// The manager who defined it, when the definer was one.
    pub defined_by: Option<Uuid>,
    /// False once disabled: it acts no more.
    pub active: bool,
}

/// A rule's state; the default is "not defined".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleState {
    /// Events folded from the stream.
    pub version: i64,
    /// The rule, once defined.
    pub rule: Option<Rule>,
}

/// `POST /automation/rules`.
#[derive(Debug, Clone, PartialEq)]
pub struct DefineRule {
    /// The new rule's id.
    pub rule_id: Uuid,
    /// Its name, not blank.
    pub name: String,
    /// Its kind and params, read by [`RuleSpec::parse`]; checked here.
    pub spec: RuleSpec,
    /// The definer, when a manager.
    pub defined_by: Option<Uuid>,
    /// The pipeline [`RuleSpec::pipeline_id`] names, folded by the caller (None for
    /// the other kinds): it must exist and hold the stage.
    pub pipeline: Option<PipelineState>,
}

/// What can be asked of a rule.
// A command lives for one call and is moved once: boxing its create variant
// would only add noise for callers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum RuleCommand {
    /// `POST /automation/rules`: `RuleDefined`.
    Define(DefineRule),
    /// `POST /automation/rules/{id}/disable`: `RuleDisabled`; `rule_disabled` when
    /// it is already.
    Disable {
        /// The rule.
        rule_id: Uuid,
    },
}

/// Applies one event to a rule's state.
pub fn evolve(mut state: RuleState, event: &DomainEvent) -> RuleState {
    match event {
        DomainEvent::RuleDefined(e) if state.rule.is_none() => {
            state.rule = Some(Rule {
                id: e.rule_id,
                name: e.name.clone(),
                spec: e.spec.clone(),
                defined_by: e.defined_by,
                active: true,
            });
        }
        DomainEvent::RuleDisabled(e) => match state.rule.as_mut() {
            Some(rule) if rule.id == e.rule_id => rule.active = false,
            _ => return state,
        },
        _ => return state,
    }
    state.version += 1;
    state
}

/// Folds a rule's stream.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a DomainEvent>) -> RuleState {
    RuleState::fold(events)
}

/// Decides a rule command.
pub fn decide(state: &RuleState, command: RuleCommand) -> Result<Vec<DomainEvent>, DomainError> {
    match command {
        RuleCommand::Define(c) => {
            absent(state)?;
            non_empty(&c.name, codes::EMPTY_NAME, "rule name")?;
            at_most(&c.name, MAX_NAME_CHARS, "rule name")?;
            c.spec.check()?;
            if let RuleSpec::TaskOnStage(p) = &c.spec {
                let pipeline = c.pipeline.unwrap_or_default();
                implied(&pipeline, p.pipeline_id)?.require_stage(p.stage_id)?;
            }
            Ok(vec![DomainEvent::RuleDefined(RuleDefined {
                rule_id: c.rule_id,
                name: c.name,
                spec: c.spec,
                defined_by: c.defined_by,
            })])
        }
        RuleCommand::Disable { rule_id } => {
            let rule = target(state, rule_id)?;
            if !rule.active {
                return Err(DomainError::rule(
                    codes::RULE_DISABLED,
                    format!("rule {rule_id} is already disabled"),
                ));
            }
            Ok(vec![DomainEvent::RuleDisabled(RuleDisabled { rule_id })])
        }
    }
}

impl Aggregate for RuleState {
    const ENTITY: &'static str = "rule";
    type Entity = Rule;
    type Command = RuleCommand;

    fn entity(&self) -> Option<&Rule> {
        self.rule.as_ref()
    }
    fn id(&self) -> Option<Uuid> {
        self.rule.as_ref().map(|r| r.id)
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn evolve(self, event: &DomainEvent) -> Self {
        evolve(self, event)
    }
    fn decide(&self, command: RuleCommand) -> Result<Vec<DomainEvent>, DomainError> {
        decide(self, command)
    }
}

#[cfg(test)]
mod tests;
