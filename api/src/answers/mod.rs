//! Answers that are a function of their request: `ETag`, `304` to `If-None-Match`,
//! and a bounded cache, for the report and list GETs that `crate::routes::cacheable`
//! names.
//!
//! Such an answer is a function of (a) its path and query, `min_position` left out,
//! (b) who asks: role, manager id and the fields the role may not see, (c) the
//! positions of the read models it reads ([`crm_projections::model_positions`]: when
//! each one's tables last changed). The tag is a digest
//! of the three; the cache keeps the answer under the same digest. The positions are
//! read before the answer is computed, so an answer kept under a position reflects at
//! least it; as positions only move forward, an unchanged position means the tables
//! did not change since.
//!
//! What keeps that true:
//! - any write to a read model's tables commits with a new `changed` on its checkpoint
//!   row (batches that apply events, resets, rebuilds swapped in), so it gives a new
//!   position; a checkpoint moved over events its filter passes by does not;
//! - a head's reach comes from `manager_kpis`, so his answers also name that model;
//! - an answer judged at the server's clock (the overdue lists, the clients' segments
//!   without `now`) is a function of the time too: it gets no tag and is not kept;
//!   with an explicit `now` it is a function of its query, and cached. (Rounding the
//!   clock would change what the contract's `now` means.)
//! - only 200 answers are kept or tagged; a `304` is given only when the answer would
//!   be a 200 with that tag (a kept one, or one computed now), never in place of a
//!   refusal;
//! - `min_position` waits for the read models first (as the handler would), then the
//!   positions are read: the answer reflects the position asked for.

pub mod cache;
mod doc;

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::access::Role;
use crate::auth::Actor;
use crate::read_model::{projection_error, ReadYourWrites};
use crate::state::AppState;

pub use cache::{Answer, AnswerCache, Key};
pub use doc::EtagDoc;

/// A route whose answers are cached: the read models it reads, and the query
/// parameters that fix its clock (none: it reads no clock).
#[derive(Debug, Clone, Copy)]
pub struct Cacheable {
    /// Every read model the answer draws from.
    pub models: &'static [&'static str],
    /// When set: the read models an answer to these query parameters (as sent) draws
    /// from, fewer than `models` (None: all of them).
    pub models_of_query: Option<ModelsOfQuery>,
    /// When not empty: the answer is judged at the server's clock unless one of these
    /// is given; without one it is neither tagged nor kept.
    pub clock: &'static [&'static str],
}

/// The read models an answer to a route's query parameters (as sent) draws from.
pub type ModelsOfQuery = fn(&[(&str, &str)]) -> Option<&'static [&'static str]>;

/// What the caches say to clients and proxies: a per-caller answer to revalidate.
const CACHE_CONTROL: &str = "private, no-cache";

/// The middleware (a route layer): tags, answers `304` and caches the GETs of the
/// routes `crate::routes::cacheable` names; passes every other request through.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::GET {
        return next.run(request).await;
    }
    let Some(route) = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|path| crate::routes::cacheable(path.as_str()))
    else {
        return next.run(request).await;
    };
    let query = request.uri().query().unwrap_or("").to_owned();
    let pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let clock_fixed = route.clock.is_empty()
        || pairs
            .iter()
            .any(|(name, value)| route.clock.contains(name) && !value.is_empty());
    let positions: Vec<&str> = pairs
        .iter()
        .filter(|(name, _)| *name == "min_position")
        .map(|(_, value)| *value)
        .collect();
    let min_position = match positions.as_slice() {
        [] => None,
        [one] => match one.parse::<i64>() {
            Ok(position) => Some(position),
            Err(_) => return next.run(request).await, // the handler's 400
        },
        _ => return next.run(request).await,
    };
    if !clock_fixed {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let actor = match Actor::from_request_parts(&mut parts, &state).await {
        Ok(actor) => actor,
        Err(err) => return err.into_response(),
    };
    parts.extensions.insert(actor.clone());
    let mut models = route
        .models_of_query
        .and_then(|of| of(&pairs))
        .unwrap_or(route.models)
        .to_vec();
    if actor.role == Role::Head && !models.contains(&crm_projections::managers::NAME) {
        models.push(crm_projections::managers::NAME);
    }
    if min_position.is_some() {
        let read = ReadYourWrites { min_position };
        if let Err(err) = read.read_models(&state, &models).await {
            return err.into_response();
        }
    }
    let positions = match crm_projections::model_positions(state.log.pool(), &models).await {
        Ok(positions) => positions,
        Err(err) => return projection_error(err).into_response(),
    };
    let kept_query: Vec<&(&str, &str)> = pairs
        .iter()
        .filter(|(name, _)| *name != "min_position")
        .collect();
    let key = key_of(&state, parts.uri.path(), &kept_query, &actor, &positions);
    let tag = etag(&key);
    let not_modified = matches(&parts.headers, &tag);
    let request = Request::from_parts(parts, body);
    let answer = state
        .answers
        .get_or_compute(key, || async move {
            let response = next.run(request).await;
            if response.status() != StatusCode::OK {
                return Err(response);
            }
            let (parts, body) = response.into_parts();
            match to_bytes(body, usize::MAX).await {
                Ok(body) => Ok(Answer {
                    headers: parts.headers,
                    body,
                }),
                Err(err) => Err(crate::error::ApiError::internal(format!(
                    "reading an answer to cache it: {err}"
                ))
                .into_response()),
            }
        })
        .await;
    match answer {
        Err(response) => response,
        Ok((answer, _)) => tagged(&answer, &tag, not_modified),
    }
}

/// The digest naming an answer: the cache's salt (no tag outlives its process), route
/// path and query (as sent, `min_position` left out), the caller (role, manager, hidden
/// fields) and the read models' positions; each part length-prefixed so no two
/// different inputs run together.
fn key_of(
    state: &AppState,
    path: &str,
    query: &[&(&str, &str)],
    actor: &Actor,
    positions: &[crm_projections::ModelPosition],
) -> Key {
    let mut digest = Sha256::new();
    let mut part = |bytes: &[u8]| {
        digest.update((bytes.len() as u64).to_be_bytes());
        digest.update(bytes);
    };
    part(state.answers.salt());
    part(path.as_bytes());
    for (name, value) in query {
        part(name.as_bytes());
        part(value.as_bytes());
    }
    part(b"caller");
    part(actor.role.name().as_bytes());
    part(
        actor
            .manager_id
            .map(|m| *m.as_bytes())
            .unwrap_or_default()
            .as_slice(),
    );
    let hidden = state.hidden.of(actor);
    for field in &hidden.client {
        part(b"client");
        part(field.as_bytes());
    }
    for field in &hidden.lead {
        part(b"lead");
        part(field.as_bytes());
    }
    part(b"positions");
    for position in positions {
        part(position.name.as_bytes());
        part(&position.changed.to_be_bytes());
    }
    digest.finalize().into()
}

/// The `ETag` of the answer named `key`: weak (an equal answer, not promised to be
/// the same bytes when computed again).
fn etag(key: &Key) -> String {
    format!("W/\"{}\"", hex::encode(&key[..16]))
}

/// True when `If-None-Match` names `tag` (weak comparison) or is `*`.
fn matches(headers: &HeaderMap, tag: &str) -> bool {
    let opaque = tag.trim_start_matches("W/");
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|given| given == "*" || given.trim_start_matches("W/") == opaque)
}

/// The answer with its tag: the `304` without a body when the client holds it.
fn tagged(answer: &Answer, tag: &str, not_modified: bool) -> Response {
    let mut response = if not_modified {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        *response.body_mut() = Body::empty();
        response
    } else {
        let mut response = Response::new(Body::from(answer.body.clone()));
        *response.headers_mut() = answer.headers.clone();
        response
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(tag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Authorization, Cookie"),
    );
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists_and_a_star() {
        let tag = "W/\"abc\"";
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
            matches(&headers, tag)
        };
        assert!(with("W/\"abc\""));
        assert!(with("\"abc\""));
        assert!(with("\"x\", W/\"abc\""));
        assert!(with("*"));
        assert!(!with("W/\"abd\""));
        assert!(!matches(&HeaderMap::new(), tag));
    }
}
