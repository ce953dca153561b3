//! The hash chain: the canonical bytes of an event and the hash that links it to the
//! previous event of its stream. The database function `eventlog.event_hash` computes
//! the same bytes for single-event appends; batched appends and the verifier use this.
//!
//! JSON enters the hash in [`canonical_json`] form, which is the same for a value as
//! sent and as read back from jsonb (which reorders keys and rewrites numbers).

use chrono::{DateTime, Utc};
use serde_json::{Number, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The hash that the first event of a stream chains from.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// An event's fields as hashed into its stream's chain.
#[derive(Debug, Clone, Copy)]
pub struct ChainedFields<'a> {
    /// The event id.
    pub event_id: Uuid,
    /// Its stream.
    pub stream: &'a str,
    /// Its version.
    pub version: i64,
    /// Its global position.
    pub position: i64,
    /// Its type.
    pub event_type: &'a str,
    /// Its payload schema version.
    pub schema_version: i32,
    /// Business time (hashed in whole microseconds, as stored).
    pub occurred_at: DateTime<Utc>,
    /// Database time of the append.
    pub recorded_at: DateTime<Utc>,
    /// The payload in [`canonical_json`] form.
    pub data: &'a str,
    /// The metadata in [`canonical_json`] form.
    pub metadata: &'a str,
}

impl ChainedFields<'_> {
    /// sha256(previous hash || canonical bytes): one line per field.
    pub fn hash(&self, previous: &[u8]) -> [u8; 32] {
        let text = format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.event_id,
            self.stream,
            self.version,
            self.position,
            self.event_type,
            self.schema_version,
            self.occurred_at.timestamp_micros(),
            self.recorded_at.timestamp_micros(),
            self.data,
            self.metadata,
        );
        let mut hasher = Sha256::new();
        hasher.update(previous);
        hasher.update(text.as_bytes());
        hasher.finalize().into()
    }
}

/// `value` as compact JSON with object keys in byte order and numbers in one form:
/// integral numbers as integers where they fit 64 bits, others as the shortest
/// decimal that reads back as the same double. So a value gives the same text
/// whatever its key order, and whether it is as sent or as read back from jsonb.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&canonical_number(n)),
        Value::String(s) => push_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_string(key, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
    }
}

fn canonical_number(n: &Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    // 2^63 and 2^64 are exact doubles: integral doubles below them are exact integers.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f.fract() == 0.0 && (-TWO_63..TWO_63).contains(&f) {
        return (f as i64).to_string();
    }
    if f.fract() == 0.0 && (0.0..2.0 * TWO_63).contains(&f) {
        return (f as u64).to_string();
    }
    n.to_string()
}

fn push_string(s: &str, out: &mut String) {
    // Serializing a string to JSON cannot fail; the fallback keeps this total anyway.
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

/// `t` cut to whole microseconds, the precision PostgreSQL stores.
pub(crate) fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_and_output_is_compact() {
        let v = json!({"b": 1, "a": [true, null, {"z": "x\ny", "aa": 1.5}], "ab": -0.0, "c": 2.0});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":[true,null,{"aa":1.5,"z":"x\ny"}],"ab":0,"b":1,"c":2}"#
        );
    }

    #[test]
    fn a_value_and_its_jsonb_rendering_are_canonically_equal() {
        // PostgreSQL renders jsonb with its own key order and spacing, and numbers
        // as exact decimals: 1e17 and 1e300 in full, 1e-7 as 0.0000001.
        let ours = json!({"amount": 1_250_000, "ratio": 0.1, "big": 1e300, "e17": 1e17, "tiny": 1e-7,
                          "neg": -2, "one": 1.0, "name": "Олена", "max": u64::MAX});
        let text = format!(
            r#"{{"big": 1{}, "e17": 100000000000000000, "max": 18446744073709551615, "neg": -2, "one": 1.0, "name": "Олена", "tiny": 0.0000001, "ratio": 0.1, "amount": 1250000}}"#,
            "0".repeat(300)
        );
        let from_pg: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(canonical_json(&ours), canonical_json(&from_pg));
    }

    #[test]
    fn a_hash_changes_with_every_field() {
        let t = DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap();
        let base = ChainedFields {
            event_id: Uuid::nil(),
            stream: "deal-1",
            version: 1,
            position: 1,
            event_type: "A",
            schema_version: 1,
            occurred_at: t,
            recorded_at: t,
            data: r#"{"n": 1}"#,
            metadata: r#"{"source": "api"}"#,
        };
        let h = base.hash(&GENESIS_HASH);
        let variants = [
            ChainedFields { version: 2, ..base },
            ChainedFields {
                position: 2,
                ..base
            },
            ChainedFields {
                stream: "deal-2",
                ..base
            },
            ChainedFields {
                event_type: "B",
                ..base
            },
            ChainedFields {
                schema_version: 2,
                ..base
            },
            ChainedFields {
                occurred_at: t + chrono::Duration::microseconds(1),
                ..base
            },
            ChainedFields {
                recorded_at: t + chrono::Duration::microseconds(1),
                ..base
            },
            ChainedFields {
                data: r#"{"n": 2}"#,
                ..base
            },
            ChainedFields {
                metadata: r#"{"source": "import"}"#,
                ..base
            },
        ];
        for v in variants {
            assert_ne!(v.hash(&GENESIS_HASH), h, "{v:?}");
        }
        assert_ne!(base.hash(&h), h, "the previous hash counts");
    }
}
