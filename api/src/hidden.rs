//! Hidden fields: which client and lead fields each role may not see. A hidden field
//! is absent from every answer that role gets: cards, lists, timelines, stream
//! reads, the feed, exports and reports.
//!
//! Set with `crm serve --hidden-fields <file>` (or `CRM_HIDDEN_FIELDS=<file>`), a JSON
//! file: `{"manager": {"client": ["industry"], "lead": ["email"]}}`. A name with a
//! dot hides that field of each element: `contacts.phone`. Whatever is configured,
//! an analyst never sees personal data: client `name` and `contacts`, lead `name`,
//! `phone` and `email`.

use std::collections::{BTreeMap, BTreeSet};

use crm_domain::EntityKind;
use serde::Deserialize;
use serde_json::Value;

use crate::access::Role;
use crate::auth::Actor;

/// The client fields that can be hidden: the stored ones and the card's own.
pub const CLIENT_FIELDS: &[&str] = &[
    "name",
    "kind",
    "size",
    "industry",
    "region",
    "source",
    "manager_id",
    "contacts",
    "contacts.name",
    "contacts.phone",
    "contacts.email",
    "segment",
    "deals",
    "interactions",
    "last_interaction_at",
    "last_won_at",
];

/// The lead fields that can be hidden.
pub const LEAD_FIELDS: &[&str] = &[
    "name",
    "phone",
    "email",
    "source",
    "channel",
    "client_id",
    "manager_id",
];

/// Personal data, hidden from analysts whatever the configuration says.
const ANALYST_CLIENT: &[&str] = &["name", "contacts"];
/// Personal data of a lead, hidden from analysts whatever the configuration says.
const ANALYST_LEAD: &[&str] = &["name", "phone", "email"];

/// The fields one role may not see.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hidden {
    /// Client fields (of cards, lists, client events and states).
    #[serde(default)]
    pub client: BTreeSet<String>,
    /// Lead fields (of lead events, states and the overdue leads report).
    #[serde(default)]
    pub lead: BTreeSet<String>,
}

/// Nothing hidden.
static NOTHING: std::sync::LazyLock<Hidden> = std::sync::LazyLock::new(Hidden::default);

impl Hidden {
    /// True when nothing is hidden.
    pub fn is_empty(&self) -> bool {
        self.client.is_empty() && self.lead.is_empty()
    }

    /// Is client field `name` hidden?
    pub fn hides_client(&self, name: &str) -> bool {
        self.client.contains(name)
    }

    /// Removes the hidden client fields from a client (a card, a state, a payload).
    pub fn strip_client(&self, value: &mut Value) {
        strip(&self.client, value);
    }

    /// Is lead field `name` hidden?
    pub fn hides_lead(&self, name: &str) -> bool {
        self.lead.contains(name)
    }

    /// Removes the hidden lead fields from a lead (a report row, a state, a payload),
    /// and its manager's name (`manager_name`) with a hidden `manager_id`.
    pub fn strip_lead(&self, value: &mut Value) {
        strip(&self.lead, value);
        if self.hides_lead("manager_id") {
            if let Value::Object(map) = value {
                map.remove("manager_name");
            }
        }
    }

    /// Removes `client_name`, a client's name shown beside its id (in deal, task and
    /// interaction rows), when the client's `name` is hidden.
    pub fn strip_client_name(&self, value: &mut Value) {
        if let (true, Value::Object(map)) = (self.hides_client("name"), value) {
            map.remove("client_name");
        }
    }

    /// Removes the hidden fields from the payload or state of an entity of `stream`.
    pub fn strip_stream(&self, stream: &str, value: &mut Value) {
        match EntityKind::parse_stream(stream).map(|(kind, _)| kind) {
            Some(EntityKind::Client) => self.strip_client(value),
            Some(EntityKind::Lead) => self.strip_lead(value),
            _ => {}
        }
    }
}

/// Removes `fields` from `value`: `a` removes key `a`, `a.b` removes `b` from `a`
/// (from each element when `a` is a list).
fn strip(fields: &BTreeSet<String>, value: &mut Value) {
    let Value::Object(map) = value else {
        return;
    };
    for field in fields {
        match field.split_once('.') {
            None => {
                map.remove(field);
            }
            Some((outer, inner)) => match map.get_mut(outer) {
                Some(Value::Array(items)) => {
                    for item in items {
                        if let Value::Object(item) = item {
                            item.remove(inner);
                        }
                    }
                }
                Some(Value::Object(inner_map)) => {
                    inner_map.remove(inner);
                }
                _ => {}
            },
        }
    }
}

/// Which fields every role may not see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiddenFields {
    by_role: BTreeMap<Role, Hidden>,
}

impl Default for HiddenFields {
    /// Only the analyst's personal data hidden.
    fn default() -> Self {
        HiddenFields::new(BTreeMap::new())
    }
}

impl HiddenFields {
    /// `configured` per role, with the analyst's personal data hidden besides.
    fn new(mut by_role: BTreeMap<Role, Hidden>) -> Self {
        let analyst = by_role.entry(Role::Analyst).or_default();
        analyst
            .client
            .extend(ANALYST_CLIENT.iter().map(|f| f.to_string()));
        analyst
            .lead
            .extend(ANALYST_LEAD.iter().map(|f| f.to_string()));
        HiddenFields { by_role }
    }

    /// Parses the configuration's JSON: an object of roles, each naming `client` and
    /// `lead` fields; an unknown role or field is an error naming it.
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: BTreeMap<String, Hidden> =
            serde_json::from_str(json).map_err(|e| format!("hidden fields: {e}"))?;
        let mut by_role = BTreeMap::new();
        for (role, hidden) in raw {
            let role = Role::parse(&role).ok_or_else(|| {
                format!("hidden fields: unknown role {role:?} (manager, head, director, admin, auditor, analyst)")
            })?;
            for field in &hidden.client {
                if !CLIENT_FIELDS.contains(&field.as_str()) {
                    return Err(format!(
                        "hidden fields: {role:?} hides unknown client field {field:?} (known: {})",
                        CLIENT_FIELDS.join(", ")
                    ));
                }
            }
            for field in &hidden.lead {
                if !LEAD_FIELDS.contains(&field.as_str()) {
                    return Err(format!(
                        "hidden fields: {role:?} hides unknown lead field {field:?} (known: {})",
                        LEAD_FIELDS.join(", ")
                    ));
                }
            }
            by_role.insert(role, hidden);
        }
        Ok(HiddenFields::new(by_role))
    }

    /// The fields `actor` may not see.
    pub fn of(&self, actor: &Actor) -> &Hidden {
        self.by_role.get(&actor.role).unwrap_or(&NOTHING)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn actor(role: &str) -> Actor {
        Actor {
            manager_id: None,
            role: crate::access::Role::parse(role).unwrap(),
        }
    }

    #[test]
    fn analysts_never_see_personal_data() {
        let hidden = HiddenFields::parse(r#"{"analyst": {"client": ["region"]}}"#).unwrap();
        let mut card = json!({"name": "Ivan", "region": "Kyiv", "kind": "person", "contacts": []});
        hidden.of(&actor("analyst")).strip_client(&mut card);
        assert_eq!(card, json!({"kind": "person"}));
        let mut lead = json!({"name": "Ivan", "phone": "+380", "email": "i@x", "source": "web"});
        hidden.of(&actor("analyst")).strip_lead(&mut lead);
        assert_eq!(lead, json!({"source": "web"}));
        assert!(HiddenFields::default().of(&actor("admin")).is_empty());
    }

    #[test]
    fn dotted_fields_hide_inside_each_element() {
        let hidden = HiddenFields::parse(r#"{"manager": {"client": ["contacts.phone"]}}"#).unwrap();
        let mut card = json!({"contacts": [{"name": "A", "phone": "1"}, {"name": "B"}]});
        hidden.of(&actor("manager")).strip_client(&mut card);
        assert_eq!(card, json!({"contacts": [{"name": "A"}, {"name": "B"}]}));
        let mut other = card.clone();
        hidden.of(&actor("head")).strip_client(&mut other);
        assert_eq!(other, card);
    }

    #[test]
    fn unknown_roles_and_fields_are_named() {
        let err = HiddenFields::parse(r#"{"boss": {}}"#).unwrap_err();
        assert!(err.contains("\"boss\""), "{err}");
        let err = HiddenFields::parse(r#"{"manager": {"client": ["salary"]}}"#).unwrap_err();
        assert!(err.contains("\"salary\""), "{err}");
        let err = HiddenFields::parse(r#"{"manager": {"deal": ["amount"]}}"#).unwrap_err();
        assert!(err.contains("deal"), "{err}");
    }
}
