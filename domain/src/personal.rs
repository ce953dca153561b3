//! Which values of the log are personal data, and whose: pure declarations over the
//! stored JSON payloads, so that the writers can encrypt exactly these values under
//! their data subject's key (and erasure can make them unreadable) without knowing
//! the event types themselves.
//!
//! Personal values: a client's `name` and every contact's `name`, `phone` and `email`
//! (in `ClientRegistered` and in `ClientUpdated`'s `changes`), and a lead's `name`,
//! `phone` and `email` (`LeadCaptured`). Their data subject is the entity whose
//! stream holds the event: the client (a client registered from a lead is a new
//! subject, its copy of the lead's data encrypted under the client's key) or the lead.
//! After `ClientErased`/`LeadErased` these values read as [`ERASED`].

use serde_json::Value;
use uuid::Uuid;

use crate::DomainEvent;

/// What an erased personal value reads as, everywhere (payloads, read models, states).
pub const ERASED: &str = "[erased]";

/// The data subject of the personal values in a payload of `event_type`: the id of
/// the client or lead whose stream holds it. None when the type carries none.
pub fn subject(event_type: &str, data: &Value) -> Option<Uuid> {
    let key = match event_type {
        "ClientRegistered" | "ClientUpdated" => "client_id",
        "LeadCaptured" => "lead_id",
        _ => return None,
    };
    data.get(key)?.as_str()?.parse().ok()
}

/// Calls `f(field, value)` on every personal string of a payload of `event_type`,
/// always in the same order; `field` is the name of the JSON field holding it.
pub fn visit(event_type: &str, data: &mut Value, f: &mut dyn FnMut(&str, &mut String)) {
    match event_type {
        "ClientRegistered" => visit_client(data, f),
        "ClientUpdated" => {
            if let Some(changes) = data.get_mut("changes") {
                visit_client(changes, f);
            }
        }
        "LeadCaptured" => visit_fields(data, &["name", "phone", "email"], f),
        _ => {}
    }
}

/// The subject whose personal data an event erases: its client or lead.
pub fn erased_subject(event: &DomainEvent) -> Option<Uuid> {
    match event {
        DomainEvent::ClientErased(e) => Some(e.client_id),
        DomainEvent::LeadErased(e) => Some(e.lead_id),
        _ => None,
    }
}

/// The same as [`erased_subject`] for a stored event, without decoding it.
pub fn erased_subject_stored(event_type: &str, data: &Value) -> Option<Uuid> {
    let key = match event_type {
        "ClientErased" => "client_id",
        "LeadErased" => "lead_id",
        _ => return None,
    };
    data.get(key)?.as_str()?.parse().ok()
}

/// The event types that erase personal data.
pub const ERASURE_TYPES: [&str; 2] = ["ClientErased", "LeadErased"];

fn visit_client(data: &mut Value, f: &mut dyn FnMut(&str, &mut String)) {
    visit_fields(data, &["name"], f);
    if let Some(Value::Array(contacts)) = data.get_mut("contacts") {
        for contact in contacts {
            visit_fields(contact, &["name", "phone", "email"], f);
        }
    }
}

fn visit_fields(data: &mut Value, fields: &[&str], f: &mut dyn FnMut(&str, &mut String)) {
    for field in fields {
        if let Some(Value::String(value)) = data.get_mut(*field) {
            f(field, value);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn personal(event_type: &str, mut data: Value) -> Vec<(String, String)> {
        let mut seen = Vec::new();
        visit(event_type, &mut data, &mut |field, value| {
            seen.push((field.to_owned(), value.clone()));
        });
        seen
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(f, v)| ((*f).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_clients_name_and_contacts_are_personal_its_other_fields_not() {
        let id = Uuid::new_v4();
        let data = json!({
            "client_id": id, "name": "Olena Petrenko", "kind": "person",
            "region": "Kyiv", "manager_id": Uuid::nil(),
            "contacts": [{"name": "Olena", "phone": "+380 1"}, {"name": "Ivan", "email": "i@x.ua"}],
        });
        assert_eq!(
            personal("ClientRegistered", data.clone()),
            pairs(&[
                ("name", "Olena Petrenko"),
                ("name", "Olena"),
                ("phone", "+380 1"),
                ("name", "Ivan"),
                ("email", "i@x.ua"),
            ])
        );
        assert_eq!(subject("ClientRegistered", &data), Some(id));
        let update = json!({"client_id": id, "changes": {"region": "Lviv", "contacts": [{"name": "Oksana"}]}});
        assert_eq!(
            personal("ClientUpdated", update.clone()),
            pairs(&[("name", "Oksana")])
        );
        assert_eq!(subject("ClientUpdated", &update), Some(id));
    }

    #[test]
    fn a_leads_name_phone_and_email_are_personal() {
        let id = Uuid::new_v4();
        let data = json!({"lead_id": id, "source": "site", "name": "Petro", "phone": "+380 2",
                          "email": "p@x.ua", "received_at": "2026-01-01T00:00:00Z"});
        assert_eq!(
            personal("LeadCaptured", data.clone()),
            pairs(&[("name", "Petro"), ("phone", "+380 2"), ("email", "p@x.ua")])
        );
        assert_eq!(subject("LeadCaptured", &data), Some(id));
    }

    #[test]
    fn other_events_carry_no_personal_data() {
        let data = json!({"deal_id": Uuid::nil(), "title": "Pallets", "name": "x"});
        assert!(personal("DealOpened", data.clone()).is_empty());
        assert_eq!(subject("DealOpened", &data), None);
        let erased = json!({"client_id": Uuid::nil()});
        assert_eq!(
            erased_subject_stored("ClientErased", &erased),
            Some(Uuid::nil())
        );
        assert_eq!(erased_subject_stored("ClientUpdated", &erased), None);
    }
}
