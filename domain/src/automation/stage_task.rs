//! `task_on_stage`: when a deal enters the rule's stage (opened at it, moved to it or
//! reopened at it) a task is scheduled for the deal's manager, due `due_in_hours`
//! after the event's business time, naming the deal and its client. Each entry is a
//! task of its own.

use super::{command_id, plus_minutes, Action, NewTask, Planned, Trigger};
use crate::deal::Deal;
use crate::rule::{Rule, RuleSpec, TaskOnStage};
use crate::DomainEvent;

/// Whether `event` brings a deal to the rule's stage (a stage change is taken at its
/// word here; [`react`] checks the deal's pipeline).
pub fn entered_stage(params: &TaskOnStage, event: &DomainEvent) -> bool {
    match event {
        DomainEvent::DealOpened(e) => {
            e.pipeline_id == params.pipeline_id && e.stage_id == params.stage_id
        }
        DomainEvent::DealStageChanged(e) => e.to_stage_id == params.stage_id,
        DomainEvent::DealReopened(e) => e.stage_id == params.stage_id,
        _ => false,
    }
}

/// The task for a deal that entered the stage: nothing unless the rule is an active
/// `task_on_stage`, the event brings the deal (`deal`, as it stands now: its manager
/// and client) to the rule's stage of the rule's pipeline.
pub fn react(rule: &Rule, trigger: &Trigger<'_>, deal: Option<&Deal>) -> Vec<Planned> {
    let RuleSpec::TaskOnStage(params) = &rule.spec else {
        return Vec::new();
    };
    let Some(deal) = deal.filter(|d| d.id == trigger.event.entity().1) else {
        return Vec::new();
    };
    if !rule.active
        || !entered_stage(params, trigger.event)
        || deal.pipeline_id != params.pipeline_id
    {
        return Vec::new();
    }
    let Some(due_at) = params
        .due_in_hours
        .checked_mul(60)
        .and_then(|minutes| plus_minutes(trigger.occurred_at, minutes))
    else {
        return Vec::new();
    };
    let id = command_id(rule.id, trigger.event_id, "task");
    vec![Planned {
        id,
        rule_id: rule.id,
        causation_id: trigger.event_id,
        occurred_at: trigger.occurred_at,
        action: Action::ScheduleTask(NewTask {
            task_id: id,
            title: params.title.clone(),
            kind: params.kind.clone(),
            assignee_id: deal.manager_id,
            due_at,
            client_id: Some(deal.client_id),
            deal_id: Some(deal.id),
        }),
    }]
}

#[cfg(test)]
mod tests;
