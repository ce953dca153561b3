//! `follow_up_after_win`: a won deal gets a task for its manager, due `after_days`
//! after the win's business time, naming the deal and its client.

use super::{command_id, plus_minutes, Action, NewTask, Planned, Trigger};
use crate::deal::Deal;
use crate::rule::{Rule, RuleSpec};
use crate::DomainEvent;

/// The follow-up of a win: nothing unless the rule is an active
/// `follow_up_after_win` and the event a `DealWon` of `deal` (as it stands now: its
/// manager and client).
pub fn react(rule: &Rule, trigger: &Trigger<'_>, deal: Option<&Deal>) -> Vec<Planned> {
    let (RuleSpec::FollowUpAfterWin(params), DomainEvent::DealWon(won)) =
        (&rule.spec, trigger.event)
    else {
        return Vec::new();
    };
    let Some(deal) = deal.filter(|d| d.id == won.deal_id) else {
        return Vec::new();
    };
    if !rule.active {
        return Vec::new();
    }
    let Some(due_at) = params
        .after_days
        .checked_mul(24 * 60)
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
            kind: None,
            assignee_id: deal.manager_id,
            due_at,
            client_id: Some(deal.client_id),
            deal_id: Some(deal.id),
        }),
    }]
}

#[cfg(test)]
mod tests;
