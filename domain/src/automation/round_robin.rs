//! `lead_round_robin`: a lead captured without a manager is assigned to a manager
//! (role `manager`, active) of the rule's department: the next after the one the
//! rule assigned last, in order of registration (`round_robin`), or the one with the
//! least open work, ties to the earlier registered (`least_busy`).

use uuid::Uuid;

use super::{command_id, Action, Member, Planned, Trigger};
use crate::lead::Lead;
use crate::rule::{LeadRoundRobin, Rule, RuleSpec, Strategy};
use crate::values::Role;
use crate::DomainEvent;

/// What the rule needs to know when a lead is captured.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The lead as it stands (None: not found).
    pub lead: Option<&'a Lead>,
    /// The registered managers, in order of registration (any department).
    pub managers: &'a [Member],
    /// The manager this rule assigned its last lead to, if any.
    pub last_assigned: Option<Uuid>,
}

/// The assignment of a captured lead: nothing unless the rule is an active
/// `lead_round_robin`, the event a `LeadCaptured` and the lead still open with no
/// manager, or when no manager of the department is active.
pub fn react(rule: &Rule, trigger: &Trigger<'_>, ctx: &Context<'_>) -> Vec<Planned> {
    let (RuleSpec::LeadRoundRobin(params), DomainEvent::LeadCaptured(captured)) =
        (&rule.spec, trigger.event)
    else {
        return Vec::new();
    };
    let Some(lead) = ctx.lead.filter(|l| l.id == captured.lead_id) else {
        return Vec::new();
    };
    if !rule.active || !lead.is_open() || lead.manager_id.is_some() {
        return Vec::new();
    }
    let Some(manager_id) = pick(params, ctx.managers, ctx.last_assigned) else {
        return Vec::new();
    };
    vec![Planned {
        id: command_id(rule.id, trigger.event_id, "assign"),
        rule_id: rule.id,
        causation_id: trigger.event_id,
        occurred_at: trigger.occurred_at,
        action: Action::AssignLead {
            lead_id: lead.id,
            manager_id,
        },
    }]
}

/// The manager the next lead goes to, None when no manager of the department is
/// active.
pub fn pick(params: &LeadRoundRobin, managers: &[Member], last: Option<Uuid>) -> Option<Uuid> {
    let team: Vec<&Member> = managers
        .iter()
        .filter(|m| m.role == Role::Manager && m.department == params.department)
        .collect();
    match params.strategy {
        Strategy::RoundRobin => {
            // After the last one (active or not now); from the first without one.
            let start = last
                .and_then(|last| team.iter().position(|m| m.manager_id == last))
                .map_or(0, |i| i + 1);
            (0..team.len())
                .map(|k| team[(start + k) % team.len()])
                .find(|m| m.active)
                .map(|m| m.manager_id)
        }
        // `min_by_key` keeps the first of equals: the earlier registered.
        Strategy::LeastBusy => team
            .iter()
            .filter(|m| m.active)
            .min_by_key(|m| m.open_work)
            .map(|m| m.manager_id),
    }
}

#[cfg(test)]
mod tests;
