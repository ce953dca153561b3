//! Extractors whose rejections are problem+json like every other error.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use crm_projections::UnknownStatus;
use serde::de::DeserializeOwned;

use crate::auth::Actor;
use crate::commands::{CommandContext, IdSeed};
use crate::error::ApiError;
use crate::server::REQUEST_ID;
use crate::state::AppState;

/// The body of a command that carries nothing but its business time (it may be left out).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnlyBusinessTime {
    /// Business time of the fact; default: now.
    pub occurred_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A command's context from the request: the bearer token's actor, `If-Match`,
/// `X-Correlation-Id` (or a new id), the request id, and the ids seeded by an
/// `Idempotency-Key`.
impl FromRequestParts<AppState> for CommandContext {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let actor = Actor::from_request_parts(parts, state).await?;
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let if_match = match header("if-match") {
            None => None,
            Some(v) => Some(
                v.trim_matches('"')
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_if_match",
                            "If-Match must be a stream version",
                        )
                    })?,
            ),
        };
        let correlation_id = match header("x-correlation-id") {
            None => uuid::Uuid::new_v4(),
            Some(v) => uuid::Uuid::parse_str(v).map_err(|_| {
                ApiError::bad_request("invalid_correlation_id", "X-Correlation-Id must be a UUID")
            })?,
        };
        let mut ctx = CommandContext::new(actor, crm_eventlog::Source::Api);
        ctx.if_match = if_match;
        ctx.correlation_id = correlation_id;
        ctx.request_id = header(REQUEST_ID).map(str::to_owned);
        ctx.seed = parts.extensions.get::<IdSeed>().copied();
        Ok(ctx)
    }
}

/// The largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 256 * 1024;

/// A JSON body; malformed JSON, wrong types, unknown or missing fields are a 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = body_bytes(req, state).await?;
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes).map_err(json_rejection)?;
        an_object(&bytes)?;
        storable(&bytes)?;
        Ok(ApiJson(value))
    }
}

/// True for `application/json` and `application/<anything>+json`, as axum's `Json`
/// accepts.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The request's body, at most [`BODY_LIMIT`] bytes.
async fn body_bytes<S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<axum::body::Bytes, ApiError> {
    axum::body::Bytes::from_request(req, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit: BODY_LIMIT }
            } else {
                ApiError::bad_request("invalid_body", rejection.body_text())
            }
        })
}

/// A body that deserialized must also have been a JSON object: serde takes a
/// struct from an array of its fields too (`[null, null]`), which the contract
/// does not allow.
fn an_object(bytes: &[u8]) -> Result<(), ApiError> {
    match bytes.trim_ascii_start().first() {
        Some(b'{') => Ok(()),
        _ => Err(ApiError::bad_request(
            "invalid_body",
            "the request body must be a JSON object",
        )),
    }
}

/// A body that deserialized must also hold only text PostgreSQL can store: no
/// U+0000 (NUL) in any string or key, whatever the field (422 `invalid_text` naming
/// it). Checked here, before any command sees the body, so nothing is encrypted or
/// appended with it; a NUL would otherwise pass the log's own check inside an
/// encrypted personal value and stop every read model that stores it. (Lone
/// surrogates never get this far: they are malformed JSON to the parser.)
fn storable(bytes: &[u8]) -> Result<(), ApiError> {
    // Raw control characters are malformed JSON: a NUL can only come as `\u0000`.
    if !bytes.windows(2).any(|w| w == b"\\u") {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        // The body deserialized already; a shape the generic parser refuses (too deep)
        // holds no text that reaches the log.
        return Ok(());
    };
    match nul_at(&value) {
        None => Ok(()),
        Some(path) => Err(ApiError::Rule {
            code: crm_domain::codes::INVALID_TEXT,
            detail: format!(
                "{path} must not contain the character U+0000 (NUL), which the CRM cannot store"
            ),
        }),
    }
}

/// The path (`contacts[0].name`) of the first string or key holding U+0000, if any.
fn nul_at(value: &serde_json::Value) -> Option<String> {
    nul_below(value).map(|path| path.trim_start_matches('.').to_owned())
}

/// [`nul_at`], each step written with its separator (`.name`, `[0]`).
fn nul_below(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => Some(String::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_below(item).map(|rest| format!("[{i}]{rest}"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(format!(".{}", key.replace('\0', "\\u0000")))
            } else {
                nul_below(item).map(|rest| format!(".{key}{rest}"))
            }
        }),
        _ => None,
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: BODY_LIMIT },
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        _ => match rejection {
            JsonRejection::JsonDataError(e) => ApiError::bad_request("invalid_body", e.body_text()),
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::bad_request("malformed_json", e.body_text())
            }
            other => ApiError::bad_request("invalid_body", other.body_text()),
        },
    }
}

/// Query parameters; unknown or malformed ones, any value holding a NUL, and any time
/// or date outside the years 1 to 9999, are a 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        no_nul(parts.uri.query().unwrap_or_default(), "invalid_query")?;
        times_in_range(&parts.uri)?;
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// Refuses a percent-encoded NUL (`%00`, the only way a URI carries one) in `raw`:
/// no PostgreSQL text holds it, so no query or path value may reach SQL with it.
fn no_nul(raw: &str, code: &'static str) -> Result<(), ApiError> {
    if raw.contains("%00") {
        return Err(ApiError::bad_request(
            code,
            "a value holds a NUL character (%00), which no text may hold",
        ));
    }
    Ok(())
}

/// The years a time or date in a query may name: those an event's `occurred_at` may
/// (PostgreSQL holds no time before 4713 BC).
pub const QUERY_YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// Refuses a query value that reads as a time or a date (as the query's fields
/// would read it) outside [`QUERY_YEARS`]: whatever field takes it, no event
/// happened then, and PostgreSQL may not hold it.
fn times_in_range(uri: &axum::http::Uri) -> Result<(), ApiError> {
    use chrono::Datelike;
    let Ok(axum::extract::Query(pairs)) =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
    else {
        // Not even pairs: the query's own extraction says what is wrong.
        return Ok(());
    };
    for (name, value) in pairs {
        let year = value
            .parse::<chrono::DateTime<chrono::Utc>>()
            .map(|t| t.year())
            .or_else(|_| value.parse::<chrono::NaiveDate>().map(|d| d.year()));
        if let Ok(year) = year {
            if !QUERY_YEARS.contains(&year) {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("{name}: year {year} is out of range (1 to 9999)"),
                ));
            }
        }
    }
    Ok(())
}

/// Path parameters; malformed ones (an id that is no UUID, a NUL) are a 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        no_nul(parts.uri.path(), "invalid_path")?;
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| ApiError::bad_request("invalid_path", e.body_text()))
    }
}

/// A JSON body that may be left out entirely or be `null` (then `T::default()`), for
/// commands whose fields are all optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJsonOrEmpty<T>(pub T);

impl<S, T> FromRequest<S> for ApiJsonOrEmpty<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        // No body, or a JSON `null`: nothing is given.
        if bytes.iter().all(u8::is_ascii_whitespace) || bytes.trim_ascii() == b"null" {
            return Ok(ApiJsonOrEmpty(T::default()));
        }
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = T::deserialize(&mut deserializer)
            .and_then(|value| deserializer.end().map(|()| value))
            .map_err(|e| {
                let code = if e.is_syntax() || e.is_eof() {
                    "malformed_json"
                } else {
                    "invalid_body"
                };
                ApiError::bad_request(code, format!("Failed to deserialize the JSON body: {e}"))
            })?;
        an_object(&bytes)?;
        storable(&bytes)?;
        Ok(ApiJsonOrEmpty(value))
    }
}

/// Integers given as JSON numbers with a zero fraction too (`5.0`), as JSON Schema's
/// `integer` allows; other fractions, and numbers beyond `i64`, are refused.
pub mod whole {
    use serde::de::{Error, Unexpected, Visitor};
    use serde::{Deserialize, Deserializer};

    struct Whole;

    impl Visitor<'_> for Whole {
        type Value = i64;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an integer")
        }

        fn visit_i64<E: Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }

        fn visit_u64<E: Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
        }

        fn visit_f64<E: Error>(self, v: f64) -> Result<i64, E> {
            // 2^63 is exactly representable; every f64 below it in magnitude with no
            // fraction is an i64.
            const LIMIT: f64 = 9_223_372_036_854_775_808.0;
            if v.fract() == 0.0 && (-LIMIT..LIMIT).contains(&v) {
                #[allow(clippy::cast_possible_truncation)]
                Ok(v as i64)
            } else {
                Err(E::invalid_value(Unexpected::Float(v), &self))
            }
        }
    }

    /// An integer field.
    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        d.deserialize_any(Whole)
    }

    /// An optional integer field (with `#[serde(default)]`); `null` is none.
    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(deserialize_with = "required")] i64);
        Option::<Wrapped>::deserialize(d).map(|w| w.map(|w| w.0))
    }
}

/// A query's `status` word as the status it names (a deal's, task's or lead's); any
/// other word is a 400 `invalid_query` that lists the words it may be.
pub fn status_filter<S>(word: Option<&str>) -> Result<Option<S>, ApiError>
where
    S: std::str::FromStr<Err = UnknownStatus>,
{
    word.map(str::parse)
        .transpose()
        .map_err(|unknown: UnknownStatus| {
            ApiError::bad_request(
                "invalid_query",
                format!("status must be {}", unknown.expected()),
            )
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::nul_at;

    #[test]
    fn a_nul_is_found_with_its_path_wherever_it_is() {
        assert_eq!(
            nul_at(&json!({"name": "Evil\u{0}Corp"})).as_deref(),
            Some("name")
        );
        assert_eq!(
            nul_at(&json!({"name": "A", "contacts": [{"name": "B"}, {"phone": "\u{0}"}]}))
                .as_deref(),
            Some("contacts[1].phone")
        );
        assert_eq!(
            nul_at(&json!({"filters": [{"value": {"a\u{0}b": 1}}]})).as_deref(),
            Some("filters[0].value.a\\u0000b")
        );
        assert_eq!(
            nul_at(&json!({"name": "\\u0000 is text", "n": [1, null]})),
            None
        );
    }
}
