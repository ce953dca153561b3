//! `Idempotency-Key`: a retried command gets the first answer and appends nothing.
//!
//! The first request with a key claims it, runs, and stores its answer; a retry
//! with the same key and the same method, path and body gets that answer back
//! (`Idempotent-Replayed: true`); the same key with another request is a 409. The
//! key also seeds the ids the command makes up (its events' and a new entity's),
//! so even a retry after a crash between the append and the stored answer writes
//! the very same events, which the log then recognises as already stored.
//!
//! Keys are bounded: a request is authenticated before its key is looked at (one
//! without a valid token is a 401 that stores nothing); keys belong to the token
//! that sent them; a key is remembered for [`IdempotencySettings::ttl`] (then a
//! request with it runs anew, and [`sweep`] deletes it); an actor (all its tokens)
//! holds at most [`IdempotencySettings::per_actor`] keys, claiming one more evicts
//! its oldest (a retry of an evicted key runs again, as after expiry: the bound
//! never refuses a command).

use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::BODY_LIMIT;
use crate::state::AppState;

/// The request header.
pub const HEADER: &str = "idempotency-key";

/// The id namespace that idempotency keys seed.
const NAMESPACE: Uuid = Uuid::from_u128(0x6c1b_2f0e_9a4d_4f57_b3e1_7d0c_52a8_19e4);

/// How long keys are kept and how many one actor holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencySettings {
    /// How long a key is remembered after its first request.
    pub ttl: Duration,
    /// The most keys one actor holds; claiming one more evicts its oldest.
    pub per_actor: u32,
}

impl Default for IdempotencySettings {
    /// 24 hours, 10,000 keys per actor.
    fn default() -> Self {
        IdempotencySettings {
            ttl: Duration::from_secs(24 * 3600),
            per_actor: 10_000,
        }
    }
}

/// Present on a command sent with an `Idempotency-Key`: seeds its made-up ids.
pub use crate::commands::IdSeed;

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
    // A login has no actor yet, and its answer (a new session) is never replayed.
    let is_login = request.uri().path() == "/auth/login";
    let Some(key) = request
        .headers()
        .get(HEADER)
        .filter(|_| is_command && !is_login)
    else {
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
    let (mut parts, body) = request.into_parts();
    // Authenticated first: a request without a valid token stores nothing. The
    // handler takes the same actor from the request's extensions.
    let actor = Actor::from_request_parts(&mut parts, &state).await?;
    let owner = actor.name();
    parts.extensions.insert(actor);
    // Keys belong to the token (or session) that sent them.
    let scope = Sha256::digest(crate::login::session::credential(&parts.headers)).to_vec();
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
    let settings = state.idempotency;
    let claim = Claim {
        scope: &scope,
        key: &key,
        actor: &owner,
        request_hash: &request_hash,
    };
    if !claim.take(pool, settings).await? {
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
        .map_err(|e| ApiError::internal(format!("response body: {e}")))?;
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

/// A key a request claims: whose (the token's scope, the actor) and for what.
struct Claim<'a> {
    scope: &'a [u8],
    key: &'a str,
    actor: &'a str,
    request_hash: &'a [u8],
}

impl Claim<'_> {
    /// Claims the key (new, or expired: older than `settings.ttl`) and evicts the
    /// actor's oldest keys beyond `settings.per_actor`; false when the key is held.
    async fn take(&self, pool: &PgPool, settings: IdempotencySettings) -> Result<bool, ApiError> {
        let claimed = sqlx::query(
            "INSERT INTO api.idempotency_keys (scope, key, actor, request_hash) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (scope, key) DO UPDATE \
                SET actor = EXCLUDED.actor, request_hash = EXCLUDED.request_hash, \
                    status = NULL, response = NULL, created_at = EXCLUDED.created_at \
              WHERE api.idempotency_keys.created_at < now() - make_interval(secs => $5)",
        )
        .bind(self.scope)
        .bind(self.key)
        .bind(self.actor)
        .bind(self.request_hash)
        .bind(settings.ttl.as_secs_f64())
        .execute(pool)
        .await?
        .rows_affected()
            == 1;
        if claimed {
            // Keeps the actor's newest `per_actor` keys: the one at that rank is the
            // oldest kept.
            sqlx::query(
                "DELETE FROM api.idempotency_keys \
                  WHERE actor = $1 AND (created_at, scope, key) < ( \
                        SELECT created_at, scope, key FROM api.idempotency_keys \
                         WHERE actor = $1 \
                         ORDER BY created_at DESC, scope DESC, key DESC OFFSET $2 LIMIT 1)",
            )
            .bind(self.actor)
            .bind(i64::from(settings.per_actor.max(1)) - 1)
            .execute(pool)
            .await?;
        }
        Ok(claimed)
    }
}

/// Deletes the keys claimed before `now - ttl`, a batch at a time; how many.
pub async fn sweep(pool: &PgPool, now: DateTime<Utc>, ttl: Duration) -> Result<u64, ApiError> {
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    let before = now
        .checked_sub_signed(ttl)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut deleted = 0;
    loop {
        let batch = sqlx::query(
            "DELETE FROM api.idempotency_keys WHERE ctid = ANY(ARRAY( \
                SELECT ctid FROM api.idempotency_keys WHERE created_at < $1 LIMIT 10000))",
        )
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected();
        deleted += batch;
        if batch < 10_000 {
            return Ok(deleted);
        }
    }
}

/// Sweeps expired keys now and every `every` until shut down (`crm serve` runs one).
pub struct Sweeper {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Sweeper {
    /// Starts sweeping `pool`'s keys older than `ttl` every `every`.
    pub fn spawn(pool: PgPool, ttl: Duration, every: Duration) -> Self {
        let (shutdown, mut stop) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                match sweep(&pool, Utc::now(), ttl).await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::info!(deleted, "expired idempotency keys deleted"),
                    Err(err) => tracing::warn!(error = %err, "sweeping idempotency keys failed"),
                }
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    _ = stop.changed() => return,
                }
            }
        });
        Sweeper { shutdown, task }
    }

    /// Stops sweeping and waits for the task.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
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
