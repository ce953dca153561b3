//! What a definition may name: the payload fields of each event type (in their current
//! schema version), the envelope's and metadata's fields, and the joined attributes of
//! the client, deal and manager an event names.

/// A payload field's JSON kind, as far as definitions care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A JSON number: usable in `sum`, `avg`, `min`, `max`.
    Number,
    /// Anything else scalar: text, ids, times, dates, booleans.
    Scalar,
}

use Kind::{Number as N, Scalar as S};

/// The payload fields of each event type, dotted for nested objects. Arrays (contacts,
/// stages, co-executors) are left out: they make no group key or measure. Personal
/// data (client and lead names, phones, e-mails) is listed as the payloads have it,
/// and refused by the check as `crm_domain::personal` declares it: a definition is no
/// way around the rule that analysts see none.
#[rustfmt::skip]
pub const PAYLOADS: &[(&str, &[(&str, Kind)])] = &[
    ("ManagerRegistered", &[("manager_id", S), ("name", S), ("email", S), ("department", S), ("role", S)]),
    ("ManagerDeactivated", &[("manager_id", S)]),
    ("PipelineDefined", &[("pipeline_id", S), ("name", S)]),
    (
        "ClientRegistered",
        &[
            ("client_id", S), ("name", S), ("kind", S), ("size", S), ("industry", S),
            ("region", S), ("source", S), ("manager_id", S),
        ],
    ),
    (
        "ClientUpdated",
        &[
            ("client_id", S), ("changes.name", S), ("changes.kind", S), ("changes.size", S),
            ("changes.industry", S), ("changes.region", S), ("changes.source", S),
        ],
    ),
    ("ClientReassigned", &[("client_id", S), ("from_manager_id", S), ("to_manager_id", S)]),
    (
        "LeadCaptured",
        &[
            ("lead_id", S), ("source", S), ("channel", S), ("client_id", S),
            ("received_at", S), ("name", S), ("phone", S), ("email", S),
        ],
    ),
    ("LeadAssigned", &[("lead_id", S), ("manager_id", S)]),
    ("LeadConverted", &[("lead_id", S), ("client_id", S), ("deal_id", S)]),
    ("LeadRejected", &[("lead_id", S), ("reason", S)]),
    (
        "DealOpened",
        &[
            ("deal_id", S), ("client_id", S), ("pipeline_id", S), ("stage_id", S), ("title", S),
            ("amount", N), ("manager_id", S), ("source", S), ("expected_close_on", S),
            ("lead_id", S),
        ],
    ),
    ("DealStageChanged", &[("deal_id", S), ("from_stage_id", S), ("to_stage_id", S)]),
    ("DealAmountChanged", &[("deal_id", S), ("from", N), ("to", N)]),
    ("DealReassigned", &[("deal_id", S), ("from_manager_id", S), ("to_manager_id", S)]),
    ("DealWon", &[("deal_id", S), ("amount", N)]),
    ("DealLost", &[("deal_id", S), ("reason", S), ("comment", S)]),
    ("DealReopened", &[("deal_id", S), ("stage_id", S)]),
    (
        "InteractionLogged",
        &[
            ("interaction_id", S), ("kind", S), ("direction", S), ("manager_id", S),
            ("client_id", S), ("deal_id", S), ("lead_id", S), ("duration.seconds", N),
            ("outcome", S), ("goal", S), ("notes", S), ("goal_reached", S),
        ],
    ),
    (
        "TaskScheduled",
        &[
            ("task_id", S), ("title", S), ("kind", S), ("assignee_id", S), ("due_at", S),
            ("client_id", S), ("deal_id", S),
        ],
    ),
    ("TaskRescheduled", &[("task_id", S), ("from_due_at", S), ("to_due_at", S)]),
    ("TaskReassigned", &[("task_id", S), ("from_assignee_id", S), ("to_assignee_id", S)]),
    ("TaskCompleted", &[("task_id", S), ("result", S)]),
    ("TaskCancelled", &[("task_id", S), ("reason", S)]),
    (
        "DataExported",
        &[("export_id", S), ("what", S), ("format", S), ("via", S)],
    ),
    ("ClientErased", &[("client_id", S), ("reason", S)]),
    ("LeadErased", &[("lead_id", S), ("reason", S)]),
    (
        "RuleDefined",
        &[
            ("rule_id", S), ("name", S), ("kind", S), ("defined_by", S),
            ("params.department", S), ("params.strategy", S), ("params.pipeline_id", S),
            ("params.stage_id", S), ("params.title", S), ("params.kind", S),
            ("params.due_in_hours", N), ("params.sla_minutes", N), ("params.after_days", N),
            ("params.before_minutes", N),
        ],
    ),
    ("RuleDisabled", &[("rule_id", S)]),
    ("LeadSlaBreached", &[("lead_id", S), ("manager_id", S), ("minutes", N)]),
    ("TaskReminderDue", &[("task_id", S), ("assignee_id", S), ("due_at", S)]),
    ("ProductDefined", &[("product_id", S), ("name", S), ("category", S), ("price", N)]),
    (
        "DealLineAdded",
        &[("deal_id", S), ("line_id", S), ("product_id", S), ("quantity", N), ("price", N)],
    ),
    ("DealLineRemoved", &[("deal_id", S), ("line_id", S)]),
    (
        "InvoiceIssued",
        &[("invoice_id", S), ("deal_id", S), ("number", S), ("amount", N), ("due_on", S)],
    ),
    (
        "PaymentReceived",
        &[("invoice_id", S), ("deal_id", S), ("payment_id", S), ("amount", N), ("paid_on", S)],
    ),
    ("ShipmentSent", &[("shipment_id", S), ("deal_id", S), ("shipped_on", S), ("note", S)]),
    (
        "PlanSet",
        &[
            ("plan_id", S), ("manager_id", S), ("month", S), ("targets.calls", N),
            ("targets.meetings", N), ("targets.call_seconds", N), ("targets.deals_won", N),
            ("targets.won_amount", N),
        ],
    ),
    ("ClientMerged", &[("client_id", S), ("into_client_id", S)]),
    ("ClientUnmerged", &[("client_id", S), ("from_client_id", S)]),
];

/// The envelope's fields a definition may name as `event.<field>`.
pub const ENVELOPE: &[&str] = &["type", "stream", "occurred_at"];

/// The metadata fields a definition may name as `metadata.<field>`.
pub const METADATA: &[&str] = &[
    "actor",
    "correlation_id",
    "causation_id",
    "request_id",
    "source",
];

/// The attributes of the client an event names (`client.<attr>`); not its name,
/// which is personal data.
#[rustfmt::skip]
pub const CLIENT: &[(&str, Kind)] = &[
    ("kind", S), ("size", S), ("industry", S), ("region", S), ("source", S),
    ("manager_id", S),
];

/// The attributes of the deal an event names (`deal.<attr>`); `status` is `open`,
/// `won` or `lost`.
#[rustfmt::skip]
pub const DEAL: &[(&str, Kind)] = &[
    ("client_id", S), ("pipeline_id", S), ("stage_id", S), ("title", S), ("amount", N),
    ("manager_id", S), ("source", S), ("status", S), ("expected_close_on", S),
];

/// The attributes of the manager an event names (`manager.<attr>`).
#[rustfmt::skip]
pub const MANAGER: &[(&str, Kind)] = &[
    ("name", S), ("email", S), ("department", S), ("role", S), ("active", S),
];

/// The payload fields of `event_type`, if it is a type definitions may read.
pub fn payload(event_type: &str) -> Option<&'static [(&'static str, Kind)]> {
    PAYLOADS
        .iter()
        .find(|(t, _)| *t == event_type)
        .map(|(_, fields)| *fields)
}

/// True when events of `event_type` carry a payload field `name`.
pub fn has(event_type: &str, name: &str) -> bool {
    payload(event_type).is_some_and(|fields| fields.iter().any(|(f, _)| *f == name))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_personal_fields_listed_are_those_the_domain_declares_and_are_refused() {
        let mut personal = Vec::new();
        for (t, fields) in PAYLOADS {
            for (f, _) in *fields {
                let steps: Vec<&str> = f.split('.').collect();
                if crm_domain::personal::reaches(t, &steps) {
                    personal.push(format!("{t}.{f}"));
                    let types = vec![(*t).to_owned()];
                    let field = format!("data.{f}");
                    assert!(
                        super::super::definition::parse_field(&field, &types).is_err(),
                        "{t} {field}"
                    );
                }
            }
        }
        assert_eq!(
            personal,
            [
                "ClientRegistered.name",
                "ClientUpdated.changes.name",
                "LeadCaptured.name",
                "LeadCaptured.phone",
                "LeadCaptured.email"
            ]
        );
        for (attr, _) in CLIENT {
            assert!(!crm_domain::personal::reaches("ClientRegistered", &[attr]));
        }
    }

    #[test]
    fn every_business_event_type_is_listed_once() {
        let listed: Vec<&str> = PAYLOADS.iter().map(|(t, _)| *t).collect();
        let expected: Vec<&str> = crm_domain::events::EVENT_TYPES
            .iter()
            .copied()
            .filter(|t| !t.starts_with("Projection"))
            .collect();
        assert_eq!(listed, expected);
    }
}
