//! `lead_sla`: a lead neither converted nor rejected nor named by an interaction
//! `sla_minutes` after its `received_at` gets one `LeadSlaBreached`, and a task for a
//! head: of its manager's department, else of the rule's definer's department, else
//! for the definer himself (when he is an active manager); no task when there is
//! none of them.
//!
//! The capture sets the deadline; a conversion, rejection or interaction drops it
//! when it comes no later than the deadline (one that comes later leaves it, to fire:
//! the lead waited too long).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{command_id, plus_minutes, Action, Due, DueChange, Member, NewTask, Planned, Trigger};
use crate::lead::Lead;
use crate::rule::{LeadSla, Rule, RuleSpec};
use crate::values::Role;
use crate::DomainEvent;

/// The deadline a lead's capture sets, or the drop its answer makes.
pub fn due_changes(rule_id: Uuid, params: &LeadSla, trigger: &Trigger<'_>) -> Vec<DueChange> {
    let drop = |lead_id| {
        vec![DueChange::Drop {
            rule_id,
            subject_id: lead_id,
            from: trigger.occurred_at,
        }]
    };
    match trigger.event {
        DomainEvent::LeadCaptured(e) => plus_minutes(e.received_at, params.sla_minutes)
            .map(|due_at| {
                DueChange::Set(Due {
                    rule_id,
                    subject_id: e.lead_id,
                    due_at,
                    cause_id: trigger.event_id,
                    task_due_at: None,
                })
            })
            .into_iter()
            .collect(),
        DomainEvent::LeadConverted(e) => drop(e.lead_id),
        DomainEvent::LeadRejected(e) => drop(e.lead_id),
        DomainEvent::InteractionLogged(e) => e.lead_id.map(drop).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// What the rule needs to know when a lead's deadline comes.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The lead as it stands (None: not found).
    pub lead: Option<&'a Lead>,
    /// The business time of the lead's first answer: the earliest `occurred_at` of
    /// its `LeadConverted`, `LeadRejected` or an `InteractionLogged` naming it; None
    /// when there is none (a closed lead without one is taken as answered in time).
    pub answered_at: Option<DateTime<Utc>>,
    /// The registered managers, in order of registration (any department).
    pub managers: &'a [Member],
}

/// What a lead's deadline fires: the breach and a head's task, unless the rule is
/// not an active `lead_sla`, the entry is not its, or the lead was answered by then.
pub fn fire(rule: &Rule, due: &Due, ctx: &Context<'_>) -> Vec<Planned> {
    let RuleSpec::LeadSla(params) = &rule.spec else {
        return Vec::new();
    };
    let Some(lead) = ctx.lead.filter(|l| l.id == due.subject_id) else {
        return Vec::new();
    };
    let answered_in_time = match ctx.answered_at {
        Some(at) => at <= due.due_at,
        None => !lead.is_open(),
    };
    if !rule.active || due.rule_id != rule.id || answered_in_time {
        return Vec::new();
    }
    let planned = |purpose: &str, action| Planned {
        id: command_id(rule.id, due.cause_id, purpose),
        rule_id: rule.id,
        causation_id: due.cause_id,
        occurred_at: due.due_at,
        action,
    };
    let mut out = vec![planned(
        "sla_breach",
        Action::BreachLeadSla {
            lead_id: lead.id,
            minutes: params.sla_minutes,
        },
    )];
    if let Some(assignee_id) = escalated_to(lead.manager_id, rule.defined_by, ctx.managers) {
        let task_id = command_id(rule.id, due.cause_id, "sla_task");
        out.push(planned(
            "sla_task",
            Action::ScheduleTask(NewTask {
                task_id,
                title: format!(
                    "Lead {} unanswered for {} minutes",
                    lead.id, params.sla_minutes
                ),
                kind: None,
                assignee_id,
                due_at: due.due_at,
                client_id: lead.client_id,
                deal_id: None,
            }),
        ));
    }
    out
}

/// Who answers for a breach: the first active head (in order of registration) of the
/// lead's manager's department, else of the definer's department, else the definer
/// when he is an active manager.
pub fn escalated_to(
    manager_id: Option<Uuid>,
    defined_by: Option<Uuid>,
    managers: &[Member],
) -> Option<Uuid> {
    let member = |id: Option<Uuid>| id.and_then(|id| managers.iter().find(|m| m.manager_id == id));
    let head_of = |member: Option<&Member>| {
        let department = &member?.department;
        managers
            .iter()
            .find(|m| m.role == Role::Head && m.active && &m.department == department)
            .map(|m| m.manager_id)
    };
    let definer = member(defined_by);
    head_of(member(manager_id))
        .or_else(|| head_of(definer))
        .or_else(|| definer.filter(|d| d.active).map(|d| d.manager_id))
}

#[cfg(test)]
mod tests;
