//! What a rule does: its kind and that kind's typed params ([`RuleSpec`]), read from
//! the API's `{kind, params}` and checked.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::rules::{at_most, non_empty, short, MAX_NAME_CHARS};
use crate::{codes, DomainError};

/// How `lead_round_robin` picks the manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The next active manager after the one this rule assigned last, in order of
    /// registration.
    RoundRobin,
    /// The active manager with the fewest open leads plus open deals (ties: order of
    /// registration).
    LeastBusy,
}

/// `lead_round_robin` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadRoundRobin {
    /// The department whose managers (role `manager`) get the leads.
    pub department: String,
    /// How the next one is picked.
    pub strategy: Strategy,
}

/// `task_on_stage` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskOnStage {
    /// The pipeline.
    pub pipeline_id: Uuid,
    /// The stage of that pipeline a deal enters.
    pub stage_id: Uuid,
    /// The task's title.
    pub title: String,
    /// The task's kind (default `task`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The task is due this many hours after the deal entered the stage (0 or more).
    pub due_in_hours: i64,
}

/// `lead_sla` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadSla {
    /// Minutes after `received_at` a lead must be answered within (1 or more).
    pub sla_minutes: i64,
}

/// `follow_up_after_win` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUpAfterWin {
    /// The task is due this many days after the win (1 or more).
    pub after_days: i64,
    /// The task's title.
    pub title: String,
}

/// `task_reminder` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskReminder {
    /// Minutes before an open task is due that its assignee is reminded (1 or more).
    pub before_minutes: i64,
}

/// A rule's kind with its params; as JSON `{"kind": "lead_sla", "params": {...}}`
/// (flattened into `RuleDefined` and the rule's state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "params", rename_all = "snake_case")]
pub enum RuleSpec {
    /// Leads captured without a manager handed out in a department.
    LeadRoundRobin(LeadRoundRobin),
    /// A task for the deal's manager when a deal enters a stage.
    TaskOnStage(TaskOnStage),
    /// A breach (and a task for a head) when a lead waits too long.
    LeadSla(LeadSla),
    /// A task for the manager some days after a win.
    FollowUpAfterWin(FollowUpAfterWin),
    /// A reminder some minutes before an open task is due.
    TaskReminder(TaskReminder),
}

/// The most minutes a rule's period takes: 366 days.
pub const MAX_PERIOD_MINUTES: i64 = 366 * 24 * 60;

impl RuleSpec {
    /// Every kind, as the API spells it.
    pub const KINDS: [&'static str; 5] = [
        "lead_round_robin",
        "task_on_stage",
        "lead_sla",
        "follow_up_after_win",
        "task_reminder",
    ];

    /// The kind, as the API spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            RuleSpec::LeadRoundRobin(_) => "lead_round_robin",
            RuleSpec::TaskOnStage(_) => "task_on_stage",
            RuleSpec::LeadSla(_) => "lead_sla",
            RuleSpec::FollowUpAfterWin(_) => "follow_up_after_win",
            RuleSpec::TaskReminder(_) => "task_reminder",
        }
    }

    /// Reads the API's `kind` and `params`: `unknown_rule_kind` for a kind not in
    /// [`RuleSpec::KINDS`], `invalid_rule_params` for params not of its shape
    /// (a field missing, unknown or of another type). Values are checked by
    /// [`RuleSpec::check`].
    pub fn parse(kind: &str, params: Value) -> Result<RuleSpec, DomainError> {
        if !Self::KINDS.contains(&kind) {
            return Err(DomainError::rule(
                codes::UNKNOWN_RULE_KIND,
                format!(
                    "unknown rule kind {kind:?}; one of {}",
                    Self::KINDS.join(", ")
                ),
            ));
        }
        let tagged = serde_json::json!({ "kind": kind, "params": params });
        serde_json::from_value(tagged).map_err(|e| {
            DomainError::rule(
                codes::INVALID_RULE_PARAMS,
                format!("params of a {kind} rule: {e}"),
            )
        })
    }

    /// The pipeline the rule names (`task_on_stage`), which the command must carry.
    pub fn pipeline_id(&self) -> Option<Uuid> {
        match self {
            RuleSpec::TaskOnStage(p) => Some(p.pipeline_id),
            _ => None,
        }
    }

    /// Checks the params' values: texts not blank and not too long, periods within
    /// their bounds (`invalid_period`).
    pub fn check(&self) -> Result<(), DomainError> {
        match self {
            RuleSpec::LeadRoundRobin(p) => {
                non_empty(&p.department, codes::EMPTY_DEPARTMENT, "department")?;
                at_most(&p.department, MAX_NAME_CHARS, "department")
            }
            RuleSpec::TaskOnStage(p) => {
                title(&p.title)?;
                if let Some(kind) = &p.kind {
                    non_empty(kind, codes::EMPTY_KIND, "task kind")?;
                }
                short(p.kind.as_deref(), "task kind")?;
                period(p.due_in_hours, 0, MAX_PERIOD_MINUTES / 60, "due_in_hours")
            }
            RuleSpec::LeadSla(p) => period(p.sla_minutes, 1, MAX_PERIOD_MINUTES, "sla_minutes"),
            RuleSpec::FollowUpAfterWin(p) => {
                title(&p.title)?;
                period(p.after_days, 1, MAX_PERIOD_MINUTES / 60 / 24, "after_days")
            }
            RuleSpec::TaskReminder(p) => {
                period(p.before_minutes, 1, MAX_PERIOD_MINUTES, "before_minutes")
            }
        }
    }
}

/// Refuses a blank or too long task title.
fn title(title: &str) -> Result<(), DomainError> {
    non_empty(title, codes::EMPTY_TITLE, "task title")?;
    at_most(title, MAX_NAME_CHARS, "task title")
}

/// Refuses a period outside `min..=max` with `invalid_period`.
pub(crate) fn period(value: i64, min: i64, max: i64, what: &str) -> Result<(), DomainError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(DomainError::rule(
            codes::INVALID_PERIOD,
            format!("{what} must be from {min} to {max}, got {value}"),
        ))
    }
}
