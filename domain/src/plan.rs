//! The plan aggregate (`plan-<uuid>`): a manager's activity targets for a month
//! (calls, meetings, call seconds, deals won, amount won). The stream's id is
//! derived from the manager and the month ([`plan_id`]), so a later `PlanSet` for
//! the same manager and month lands on the same stream and replaces the one before,
//! and the plan in force is that stream's last event.

use serde::Serialize;
use uuid::Uuid;

use crate::aggregate::{Aggregate, Ref};
use crate::events::{PlanSet, PlanTargets};
use crate::manager::ManagerState;
use crate::rules::MAX_AMOUNT;
use crate::values::Month;
use crate::{codes, DomainError, DomainEvent};

/// The namespace of plan ids.
const NAMESPACE: Uuid = Uuid::from_u128(0x5a1e_5018_91a4_4c1e_8e2f_0b1a_7a11_0018);

/// The id of `manager_id`'s plan for `month`: the same pair, the same stream.
pub fn plan_id(manager_id: Uuid, month: Month) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("{manager_id}/{month}").as_bytes())
}

/// A plan in force: exactly its last event.
pub type Plan = PlanSet;

/// A plan's state; the default is "never set".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanState {
    /// Events folded from the stream.
    pub version: i64,
    /// The plan in force, once set.
    pub plan: Option<Plan>,
}

/// `POST /plans`.
#[derive(Debug, Clone, PartialEq)]
pub struct SetPlan {
    /// The manager it is for: must exist (`reference_not_found` otherwise).
    pub manager: Ref<ManagerState>,
    /// The month.
    pub month: Month,
    /// The targets: at least one, each a positive whole number.
    pub targets: PlanTargets,
}

/// What can be asked of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanCommand {
    /// `POST /plans`: `PlanSet` on the stream [`plan_id`] names.
    Set(SetPlan),
}

/// Applies one event to a plan's state: each `PlanSet` replaces the plan.
pub fn evolve(mut state: PlanState, event: &DomainEvent) -> PlanState {
    if let DomainEvent::PlanSet(e) = event {
        let ours = state.plan.as_ref().is_none_or(|p| p.plan_id == e.plan_id);
        if ours {
            state.plan = Some(e.clone());
            state.version += 1;
        }
    }
    state
}

/// Folds a plan's stream.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a DomainEvent>) -> PlanState {
    PlanState::fold(events)
}

/// Decides a plan command, on the state of the stream [`plan_id`] names.
pub fn decide(state: &PlanState, command: PlanCommand) -> Result<Vec<DomainEvent>, DomainError> {
    match command {
        PlanCommand::Set(c) => {
            let manager_id = c.manager.get()?.id;
            let plan_id = plan_id(manager_id, c.month);
            if state.plan.as_ref().is_some_and(|p| p.plan_id != plan_id) {
                return Err(DomainError::rule(
                    codes::PLAN_ID_MISMATCH,
                    format!(
                        "the plan of manager {manager_id} for {} is not this stream's",
                        c.month
                    ),
                ));
            }
            check_targets(&c.targets)?;
            Ok(vec![DomainEvent::PlanSet(PlanSet {
                plan_id,
                manager_id,
                month: c.month,
                targets: c.targets,
            })])
        }
    }
}

/// At least one target, each from 1 to the largest amount.
fn check_targets(targets: &PlanTargets) -> Result<(), DomainError> {
    let named = targets.named();
    if named.iter().all(|(_, t)| t.is_none()) {
        return Err(DomainError::rule(
            codes::NO_TARGETS,
            "a plan sets at least one target",
        ));
    }
    for (name, target) in named {
        if let Some(value) = target {
            if !(1..=MAX_AMOUNT).contains(&value) {
                return Err(DomainError::rule(
                    codes::INVALID_TARGET,
                    format!(
                        "target {name} must be a whole number from 1 to {MAX_AMOUNT}, got {value}"
                    ),
                ));
            }
        }
    }
    Ok(())
}

impl Aggregate for PlanState {
    const ENTITY: &'static str = "plan";
    type Entity = Plan;
    type Command = PlanCommand;

    fn entity(&self) -> Option<&Plan> {
        self.plan.as_ref()
    }
    fn id(&self) -> Option<Uuid> {
        self.plan.as_ref().map(|p| p.plan_id)
    }
    fn responsible(&self) -> Vec<Uuid> {
        self.plan.iter().map(|p| p.manager_id).collect()
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn evolve(self, event: &DomainEvent) -> Self {
        evolve(self, event)
    }
    fn decide(&self, command: PlanCommand) -> Result<Vec<DomainEvent>, DomainError> {
        decide(self, command)
    }
}

#[cfg(test)]
mod tests;
