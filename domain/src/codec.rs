//! Decoding stored events, with the upcasting hook.
//!
//! The log stores each event's `type`, `schema_version` and `data`.
//! [`DomainEvent::from_stored`] brings an old payload to the current shape of its
//! type, one version at a time, with the [`Upcaster`]s of [`UPCASTERS`], and then
//! deserializes it. A type's current version is one more than the highest
//! `from_version` of its upcasters (1 when it has none), so evolving a type is one
//! entry: to make `DealLost` version 2, write `fn deal_lost_v1(data) -> data` and add
//! `Upcaster { event_type: "DealLost", from_version: 1, upcast: deal_lost_v1 }`;
//! the new code then writes version 2 and reads versions 1 and 2.

use std::borrow::Cow;

use serde_json::Value;

use crate::events::{decode_current, DomainEvent};

/// Why a stored event could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// No event type of this name exists.
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    /// The payload was written by newer code than this.
    #[error("{event_type} schema version {version} is newer than this code's {current}")]
    TooNew {
        /// The event type.
        event_type: String,
        /// The stored schema version.
        version: i32,
        /// The newest version this code knows.
        current: i32,
    },
    /// No upcaster takes the type from this version.
    #[error("no upcaster for {event_type} from schema version {version}")]
    NoUpcaster {
        /// The event type.
        event_type: String,
        /// The version no upcaster starts from.
        version: i32,
    },
    /// An upcaster refused the old payload.
    #[error("upcasting {event_type} from schema version {version}: {message}")]
    Upcast {
        /// The event type.
        event_type: String,
        /// The version the failing step started from.
        version: i32,
        /// What was wrong.
        message: String,
    },
    /// The payload (after upcasting) does not have the type's current shape.
    #[error("malformed {event_type} payload: {source}")]
    Payload {
        /// The event type.
        event_type: String,
        /// The deserialization error.
        #[source]
        source: serde_json::Error,
    },
}

/// One step of a type's payload from `from_version` to `from_version + 1`.
#[derive(Debug, Clone, Copy)]
pub struct Upcaster {
    /// The event type it applies to.
    pub event_type: &'static str,
    /// The version it reads; it returns the payload of the next version.
    pub from_version: i32,
    /// The transformation; an `Err` explains why the payload cannot be upcast.
    pub upcast: fn(Value) -> Result<Value, String>,
}

/// Every upcaster of this code: `InteractionLogged` is at version 2, every other type
/// at version 1.
pub const UPCASTERS: &[Upcaster] = &[Upcaster {
    event_type: "InteractionLogged",
    from_version: 1,
    upcast: interaction_logged_v1,
}];

/// `InteractionLogged` 1 → 2: the number `duration_s` becomes the object
/// `duration: {seconds}` (absent stays absent).
fn interaction_logged_v1(mut data: Value) -> Result<Value, String> {
    let Some(fields) = data.as_object_mut() else {
        return Err("the payload is not an object".into());
    };
    match fields.remove("duration_s") {
        None | Some(Value::Null) => {}
        Some(Value::Number(seconds)) => {
            let seconds = seconds
                .as_i64()
                .ok_or_else(|| format!("duration_s {seconds} is not whole seconds"))?;
            fields.insert("duration".into(), serde_json::json!({ "seconds": seconds }));
        }
        Some(other) => return Err(format!("duration_s {other} is not a number")),
    }
    Ok(data)
}

/// The payload of a stored event in its type's current shape, with that version:
/// what exports show. Unknown types and failed upcasts are errors.
pub fn upcast(
    event_type: &str,
    schema_version: i32,
    data: Value,
) -> Result<(i32, Value), DecodeError> {
    let current = version_with(UPCASTERS, event_type);
    let data = upcast_with(UPCASTERS, event_type, schema_version, Cow::Owned(data))?;
    Ok((current, data.into_owned()))
}

/// The schema version this code writes for `event_type`.
pub fn current_schema_version(event_type: &str) -> i32 {
    version_with(UPCASTERS, event_type)
}

fn version_with(upcasters: &[Upcaster], event_type: &str) -> i32 {
    upcasters
        .iter()
        .filter(|u| u.event_type == event_type)
        .map(|u| u.from_version + 1)
        .max()
        .unwrap_or(1)
        .max(1)
}

impl DomainEvent {
    /// Decodes a stored event: upcasts `data` from `schema_version` to the type's
    /// current version, then deserializes it.
    pub fn from_stored(
        event_type: &str,
        schema_version: i32,
        data: Value,
    ) -> Result<DomainEvent, DecodeError> {
        decode_cow(UPCASTERS, event_type, schema_version, Cow::Owned(data))
    }

    /// [`DomainEvent::from_stored`] from a borrowed payload: copied only when it needs
    /// upcasting.
    pub fn from_stored_ref(
        event_type: &str,
        schema_version: i32,
        data: &Value,
    ) -> Result<DomainEvent, DecodeError> {
        decode_cow(UPCASTERS, event_type, schema_version, Cow::Borrowed(data))
    }
}

/// [`DomainEvent::from_stored`] with a given set of upcasters (tests use made-up ones).
pub fn decode_with(
    upcasters: &[Upcaster],
    event_type: &str,
    schema_version: i32,
    data: Value,
) -> Result<DomainEvent, DecodeError> {
    decode_cow(upcasters, event_type, schema_version, Cow::Owned(data))
}

/// Upcasts (on an owned copy, only if needed) and deserializes.
fn decode_cow(
    upcasters: &[Upcaster],
    event_type: &str,
    schema_version: i32,
    data: Cow<'_, Value>,
) -> Result<DomainEvent, DecodeError> {
    let data = upcast_with(upcasters, event_type, schema_version, data)?;
    match decode_current(event_type, &data) {
        Some(Ok(event)) => Ok(event),
        Some(Err(source)) => Err(DecodeError::Payload {
            event_type: event_type.to_owned(),
            source,
        }),
        None => Err(DecodeError::UnknownType(event_type.to_owned())),
    }
}

/// Brings a payload from `schema_version` to the type's current version (copying it
/// only if a step applies).
fn upcast_with<'a>(
    upcasters: &[Upcaster],
    event_type: &str,
    schema_version: i32,
    data: Cow<'a, Value>,
) -> Result<Cow<'a, Value>, DecodeError> {
    if !crate::events::EVENT_TYPES.contains(&event_type) {
        return Err(DecodeError::UnknownType(event_type.to_owned()));
    }
    let current = version_with(upcasters, event_type);
    if schema_version > current {
        return Err(DecodeError::TooNew {
            event_type: event_type.to_owned(),
            version: schema_version,
            current,
        });
    }
    let mut version = schema_version;
    let mut data = data;
    while version < current {
        let step = upcasters
            .iter()
            .find(|u| u.event_type == event_type && u.from_version == version)
            .ok_or_else(|| DecodeError::NoUpcaster {
                event_type: event_type.to_owned(),
                version,
            })?;
        data = Cow::Owned((step.upcast)(data.into_owned()).map_err(|message| {
            DecodeError::Upcast {
                event_type: event_type.to_owned(),
                version,
                message,
            }
        })?);
        version += 1;
    }
    Ok(data)
}

#[cfg(test)]
mod tests;
