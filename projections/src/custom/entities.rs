//! The clients, deals and managers a custom projection joins: their attributes as the
//! feed has made them so far, kept per projection so each event sees them as of itself.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::entity_status::DealStatus;

/// An entity kind a definition can join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    /// `client.<attr>`.
    Client,
    /// `deal.<attr>`.
    Deal,
    /// `manager.<attr>`.
    Manager,
}

impl EntityKind {
    /// The one-letter tag stored in the entities table.
    pub fn tag(self) -> &'static str {
        match self {
            EntityKind::Client => "c",
            EntityKind::Deal => "d",
            EntityKind::Manager => "m",
        }
    }

    /// The kind of a stored tag.
    pub fn from_tag(tag: &str) -> Option<Self> {
        match tag {
            "c" => Some(EntityKind::Client),
            "d" => Some(EntityKind::Deal),
            "m" => Some(EntityKind::Manager),
            _ => None,
        }
    }
}

/// The event types that change the entities joins read: client, deal and manager
/// events (a client or manager can be reached through a deal).
pub const TYPES: &[&str] = &[
    "ManagerRegistered",
    "ManagerDeactivated",
    "ClientRegistered",
    "ClientUpdated",
    "ClientReassigned",
    "DealOpened",
    "DealStageChanged",
    "DealAmountChanged",
    "DealReassigned",
    "DealWon",
    "DealLost",
    "DealReopened",
];

/// The payload fields that name a manager, in order of preference.
const MANAGER_FIELDS: &[&str] = &[
    "manager_id",
    "to_manager_id",
    "assignee_id",
    "to_assignee_id",
];

fn id_field(data: &Value, field: &str) -> Option<Uuid> {
    data.get(field)?.as_str()?.parse().ok()
}

/// The entity of `kind` an event names directly (without going through another one).
pub fn named(kind: EntityKind, data: &Value) -> Option<Uuid> {
    match kind {
        EntityKind::Client => id_field(data, "client_id"),
        EntityKind::Deal => id_field(data, "deal_id"),
        EntityKind::Manager => MANAGER_FIELDS.iter().find_map(|f| id_field(data, f)),
    }
}

/// The entity one of [`TYPES`] changes, with what it changes; None for other types.
pub fn changed_by(event_type: &str, data: &Value) -> Option<(EntityKind, Uuid)> {
    let kind = match event_type {
        "ManagerRegistered" | "ManagerDeactivated" => EntityKind::Manager,
        t if t.starts_with("Client") && TYPES.contains(&t) => EntityKind::Client,
        t if t.starts_with("Deal") && TYPES.contains(&t) => EntityKind::Deal,
        _ => return None,
    };
    let field = match kind {
        EntityKind::Manager => "manager_id",
        EntityKind::Client => "client_id",
        EntityKind::Deal => "deal_id",
    };
    Some((kind, id_field(data, field)?))
}

/// Applies one of [`TYPES`] to the attributes of the entity it changes.
pub fn evolve(event_type: &str, data: &Value, attrs: &mut Map<String, Value>) {
    let copy = |attrs: &mut Map<String, Value>, from: &str, to: &str| {
        attrs.insert(
            to.to_owned(),
            data.get(from).cloned().unwrap_or(Value::Null),
        );
    };
    match event_type {
        "ManagerRegistered" => {
            for f in ["name", "email", "department", "role"] {
                copy(attrs, f, f);
            }
            attrs.insert("active".into(), Value::Bool(true));
        }
        "ManagerDeactivated" => {
            attrs.insert("active".into(), Value::Bool(false));
        }
        // Never its personal data (crm_domain::personal), which no definition may name.
        "ClientRegistered" => {
            for f in ["kind", "size", "industry", "region", "source", "manager_id"] {
                if !crm_domain::personal::reaches(event_type, &[f]) {
                    copy(attrs, f, f);
                }
            }
        }
        "ClientUpdated" => {
            if let Some(Value::Object(changes)) = data.get("changes") {
                for (field, value) in changes {
                    if !crm_domain::personal::reaches(event_type, &["changes", field.as_str()]) {
                        attrs.insert(field.clone(), value.clone());
                    }
                }
            }
        }
        "ClientReassigned" | "DealReassigned" => copy(attrs, "to_manager_id", "manager_id"),
        "DealOpened" => {
            for f in [
                "client_id",
                "pipeline_id",
                "stage_id",
                "title",
                "amount",
                "manager_id",
                "source",
                "expected_close_on",
            ] {
                copy(attrs, f, f);
            }
            attrs.insert("status".into(), Value::from(DealStatus::Open.as_str()));
        }
        "DealStageChanged" => copy(attrs, "to_stage_id", "stage_id"),
        "DealAmountChanged" => copy(attrs, "to", "amount"),
        "DealWon" => {
            copy(attrs, "amount", "amount");
            attrs.insert("status".into(), Value::from(DealStatus::Won.as_str()));
        }
        "DealLost" => {
            attrs.insert("status".into(), Value::from(DealStatus::Lost.as_str()));
        }
        "DealReopened" => {
            copy(attrs, "stage_id", "stage_id");
            attrs.insert("status".into(), Value::from(DealStatus::Open.as_str()));
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_deal_keeps_its_pipeline_amount_and_status_through_its_life() {
        let mut deal = Map::new();
        let steps = [
            (
                "DealOpened",
                json!({"deal_id": "x", "pipeline_id": "p", "stage_id": "s1", "amount": 10}),
            ),
            ("DealAmountChanged", json!({"from": 10, "to": 25})),
            (
                "DealStageChanged",
                json!({"from_stage_id": "s1", "to_stage_id": "s2"}),
            ),
            ("DealLost", json!({"reason": "price"})),
        ];
        for (t, data) in &steps {
            evolve(t, data, &mut deal);
        }
        assert_eq!(deal["pipeline_id"], "p");
        assert_eq!(deal["amount"], 25);
        assert_eq!(deal["stage_id"], "s2");
        assert_eq!(deal["status"], "lost");
        evolve("DealReopened", &json!({"stage_id": "s1"}), &mut deal);
        assert_eq!(
            (&deal["status"], &deal["stage_id"]),
            (&json!("open"), &json!("s1"))
        );
    }

    #[test]
    fn a_client_update_changes_only_what_it_names() {
        let mut client = Map::new();
        evolve(
            "ClientRegistered",
            &json!({"name": "A", "region": "Kyiv", "industry": "IT"}),
            &mut client,
        );
        evolve(
            "ClientUpdated",
            &json!({"changes": {"region": "Lviv", "size": null}}),
            &mut client,
        );
        assert_eq!(client["region"], "Lviv");
        assert_eq!(client["industry"], "IT");
        assert_eq!(client["size"], Value::Null);
        assert!(
            !client.contains_key("name"),
            "personal data is never copied"
        );
    }
}
