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

/// Where personal strings lie in a payload: the one declaration [`visit`] and
/// [`reaches`] both follow.
#[derive(Debug)]
enum Shape {
    /// The string here is personal.
    Value,
    /// These fields of an object, in this order.
    Fields(&'static [(&'static str, Shape)]),
    /// Every item of an array.
    Items(&'static Shape),
}

/// A contact of a client: its name, phone and e-mail.
const CONTACT: Shape = Shape::Fields(&[
    ("name", Shape::Value),
    ("phone", Shape::Value),
    ("email", Shape::Value),
]);

/// A client's name and contacts (`ClientRegistered`, `ClientUpdated`'s `changes`).
const CLIENT: Shape =
    Shape::Fields(&[("name", Shape::Value), ("contacts", Shape::Items(&CONTACT))]);

/// The personal strings of each event type's payload (types not listed carry none).
const PERSONAL: &[(&str, Shape)] = &[
    ("ClientRegistered", CLIENT),
    ("ClientUpdated", Shape::Fields(&[("changes", CLIENT)])),
    ("LeadCaptured", CONTACT),
];

fn shape(event_type: &str) -> Option<&'static Shape> {
    PERSONAL
        .iter()
        .find(|(t, _)| *t == event_type)
        .map(|(_, shape)| shape)
}

/// Calls `f(field, value)` on every personal string of a payload of `event_type`,
/// always in the same order; `field` is the name of the JSON field holding it.
pub fn visit(event_type: &str, data: &mut Value, f: &mut dyn FnMut(&str, &mut String)) {
    if let Some(shape) = shape(event_type) {
        visit_shape(shape, "", data, f);
    }
}

fn visit_shape(shape: &Shape, field: &str, data: &mut Value, f: &mut dyn FnMut(&str, &mut String)) {
    match (shape, data) {
        (Shape::Value, Value::String(value)) => f(field, value),
        (Shape::Fields(fields), Value::Object(map)) => {
            for (name, inner) in *fields {
                if let Some(value) = map.get_mut(*name) {
                    visit_shape(inner, name, value, f);
                }
            }
        }
        (Shape::Items(inner), Value::Array(items)) => {
            for item in items {
                visit_shape(inner, field, item, f);
            }
        }
        _ => {}
    }
}

/// True when the value at `path` in a payload of `event_type` is personal or holds
/// personal values: the payload itself (`[]`), `contacts`, `contacts.0.phone`,
/// `changes`, `name`… Any step below an array stands for one of its items. What a
/// definition, a filter or a join may never read.
pub fn reaches<S: AsRef<str>>(event_type: &str, path: &[S]) -> bool {
    let Some(mut shape) = shape(event_type) else {
        return false;
    };
    for step in path {
        shape = match shape {
            // Below a personal string there is nothing else; stay cautious.
            Shape::Value => return true,
            Shape::Fields(fields) => match fields.iter().find(|(n, _)| *n == step.as_ref()) {
                Some((_, inner)) => inner,
                None => return false,
            },
            Shape::Items(inner) => inner,
        };
    }
    true
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
    fn a_path_reaches_personal_data_at_or_below_it() {
        let reaches = |t: &str, path: &str| {
            let steps: Vec<&str> = if path.is_empty() {
                Vec::new()
            } else {
                path.split('.').collect()
            };
            super::reaches(t, &steps)
        };
        for (t, path) in [
            ("ClientRegistered", ""),
            ("ClientRegistered", "name"),
            ("ClientRegistered", "contacts"),
            ("ClientRegistered", "contacts.0"),
            ("ClientRegistered", "contacts.0.phone"),
            ("ClientRegistered", "contacts.17.email"),
            ("ClientRegistered", "name.first"),
            ("ClientUpdated", "changes"),
            ("ClientUpdated", "changes.name"),
            ("ClientUpdated", "changes.contacts.0.name"),
            ("LeadCaptured", "name"),
            ("LeadCaptured", "phone"),
            ("LeadCaptured", "email"),
            ("LeadCaptured", ""),
        ] {
            assert!(reaches(t, path), "{t} {path}");
        }
        for (t, path) in [
            ("ClientRegistered", "region"),
            ("ClientRegistered", "client_id"),
            ("ClientUpdated", "changes.region"),
            ("ClientUpdated", "client_id"),
            ("LeadCaptured", "source"),
            ("LeadCaptured", "client_id"),
            ("ManagerRegistered", "name"),
            ("ManagerRegistered", ""),
            ("DealOpened", "title"),
        ] {
            assert!(!reaches(t, path), "{t} {path}");
        }
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
