//! `Idempotency-Key`: a retried command gets the first answer and appends nothing.
//!
//! The first request with a key claims it, runs, and stores its answer; a retry
//! with the same key and the same method, path and body gets that answer back
//! (`Idempotent-Replayed: true`); the same key with another request is a 409. The
//! key also seeds the ids the command makes up (its events' and a new entity's),
//! so even a retry after a crash between the append and the stored answer writes
//! the very same events, which the log then recognises as already stored.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::BODY_LIMIT;
use crate::state::AppState;

/// The request header.
pub const HEADER: &str = "idempotency-key";

/// The id namespace that idempotency keys seed.
const NAMESPACE: Uuid = Uuid::from_u128(0x6c1b_2f0e_9a4d_4f57_b3e1_7d0c_52a8_19e4);

/// Present on a command sent with an `Idempotency-Key`: seeds its made-up ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdSeed(pub Uuid);

impl IdSeed {
    /// The `n`-th id derived from the seed.
    pub fn id(&self, purpose: &str, n: usize) -> Uuid {
        Uuid::new_v5(&self.0, format!("{purpose}/{n}").as_bytes())
    }
}

/// The middleware: replays stored answers, stores new ones.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match handle(state, request, next).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn handle(state: AppState, request: Request, next: Next) -> Result<Response, ApiError> {
    let is_command = matches!(
        *request.method(),
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    );
    let Some(key) = request.headers().get(HEADER).filter(|_| is_command) else {
        return Ok(next.run(request).await);
    };
    let key = key
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible characters",
            )
        })?
        .to_owned();
    let scope = Sha256::digest(
        request
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default(),
    )
    .to_vec();

    let (mut parts, body) = request.into_parts();
    let bytes = to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit: BODY_LIMIT })?;
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update([0]);
    hasher.update(parts.uri.path());
    hasher.update([0]);
    hasher.update(&bytes);
    let request_hash = hasher.finalize().to_vec();

    let pool = state.log.pool();
    let claimed = sqlx::query(
        "INSERT INTO api.idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(&scope)
    .bind(&key)
    .bind(&request_hash)
    .execute(pool)
    .await?
    .rows_affected()
        == 1;
    if !claimed {
        let stored: Option<StoredAnswer> = sqlx::query_as(
            "SELECT request_hash, status, response FROM api.idempotency_keys WHERE scope = $1 AND key = $2",
        )
        .bind(&scope)
        .bind(&key)
        .fetch_optional(pool)
        .await?;
        return match stored {
            Some((hash, _, _)) if hash != request_hash => Err(ApiError::Reused {
                code: "idempotency_key_reused",
                detail: "this Idempotency-Key was used with another request".into(),
            }),
            Some((_, Some(status), Some(body))) => Ok(replay(status, body)),
            _ => Err(ApiError::Reused {
                code: "idempotency_key_in_progress",
                detail: "a request with this Idempotency-Key is still running; retry shortly"
                    .into(),
            }),
        };
    }

    let seed = Uuid::new_v5(
        &NAMESPACE,
        [scope.as_slice(), key.as_bytes()].concat().as_slice(),
    );
    parts.extensions.insert(IdSeed(seed));
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let status = response.status();
    if status.is_server_error() {
        // Nothing to replay: let a retry run again.
        sqlx::query("DELETE FROM api.idempotency_keys WHERE scope = $1 AND key = $2")
            .bind(&scope)
            .bind(&key)
            .execute(pool)
            .await?;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::Internal(format!("response body: {e}")))?;
    sqlx::query(
        "UPDATE api.idempotency_keys SET status = $3, response = $4 WHERE scope = $1 AND key = $2",
    )
    .bind(&scope)
    .bind(&key)
    .bind(i16::try_from(status.as_u16()).unwrap_or(500))
    .bind(body.to_vec())
    .execute(pool)
    .await?;
    Ok(Response::from_parts(parts, Body::from(body)))
}

/// A stored key: the request's hash, and the answer's status and body once it is known.
type StoredAnswer = (Vec<u8>, Option<i16>, Option<Vec<u8>>);

/// The stored answer again, marked as a replay.
fn replay(status: i16, body: Vec<u8>) -> Response {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
