//! Reading values out of texts and answers, for tests of any part of the API: times,
//! ids, bodies of successful answers, keys at any depth.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::app::Answer;

/// The time of an RFC 3339 `text` (a test's own literal).
pub fn at(text: &str) -> DateTime<Utc> {
    text.parse()
        .unwrap_or_else(|err| panic!("{text} is not an RFC 3339 time: {err}"))
}

/// The `id` of a command's or a query's body.
pub fn id_of(body: &Value) -> Uuid {
    body["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no id in {body}"))
}

/// The body of `answer`, checked to be a success (`what` names it if not).
pub fn ok(answer: &Answer, what: &str) -> Value {
    assert!(answer.status.is_success(), "{what}: {answer:?}");
    answer.body.clone()
}

/// Whether `value` has `key` at any depth.
pub fn has_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(map) => map.contains_key(key) || map.values().any(|v| has_key(v, key)),
        Value::Array(items) => items.iter().any(|v| has_key(v, key)),
        _ => false,
    }
}
