//! Sessions: a random 256-bit value in an `HttpOnly`, `SameSite=Strict` cookie,
//! stored only as its SHA-256 in `api.sessions` (a leak of the table gives no live
//! session). A session acts as its manager, with his role as the log says now; it
//! ends at logout, after [`super::LoginSettings::idle_timeout`] unused (its use written
//! at most once a minute: [`touch_after`]), when its
//! manager is deactivated (checked on every request, against the log) and when his
//! password is set again.

use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use super::{csrf, manager_of, LoginError};
use crate::auth::Actor;
use crate::error::ApiError;
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "crm_session";

/// The session a request was authenticated by (in the request's extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The stored hash of the cookie's value.
    pub hash: Vec<u8>,
    /// The session's CSRF token.
    pub csrf_token: String,
}

/// The stored form of a session's value.
pub fn hash(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

/// The CSRF token of the session `value`: derived from it (so nothing more is
/// stored), and telling nothing of it or of its stored hash.
pub fn csrf_token(value: &str) -> String {
    hex::encode(Sha256::digest(format!("crm-csrf:{value}").as_bytes()))
}

/// Starts a session for `manager_id`; returns the cookie's value, shown only now.
/// Sessions idle longer than `idle` are swept on the way.
pub async fn create(
    pool: &PgPool,
    manager_id: Uuid,
    idle: std::time::Duration,
) -> Result<String, LoginError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let value = hex::encode(bytes);
    sqlx::query("DELETE FROM api.sessions WHERE last_seen_at < now() - make_interval(secs => $1)")
        .bind(idle.as_secs_f64())
        .execute(pool)
        .await?;
    sqlx::query("INSERT INTO api.sessions (session_hash, manager_id) VALUES ($1, $2)")
        .bind(hash(&value))
        .bind(manager_id)
        .execute(pool)
        .await?;
    Ok(value)
}

/// Ends the session stored as `hash`; true when there was one.
pub async fn end(pool: &PgPool, hash: &[u8]) -> Result<bool, LoginError> {
    let ended = sqlx::query("DELETE FROM api.sessions WHERE session_hash = $1")
        .bind(hash)
        .execute(pool)
        .await?;
    Ok(ended.rows_affected() > 0)
}

/// Ends every session of `manager_id`; how many.
pub async fn end_all(pool: &PgPool, manager_id: Uuid) -> Result<u64, LoginError> {
    let ended = sqlx::query("DELETE FROM api.sessions WHERE manager_id = $1")
        .bind(manager_id)
        .execute(pool)
        .await?;
    Ok(ended.rows_affected())
}

/// How stale a session's stored last use may grow before a request writes it again:
/// [`TOUCH_AFTER`], or a thirtieth of the idle timeout when that is shorter. A session
/// ends `idle` after its stored last use, so at most this much before `idle` has passed
/// since its last request, and never after.
pub fn touch_after(idle: std::time::Duration) -> std::time::Duration {
    TOUCH_AFTER.min(idle / 30)
}

/// How stale a session's stored last use may grow with the default idle timeout.
pub const TOUCH_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// The session cookie's value in `headers`, if any looks like one.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().trim_matches('"'))
}

/// The `Set-Cookie` value starting a session: `HttpOnly`, `SameSite=Strict`,
/// `Path=/`, `Secure` when `secure`; no `Max-Age`, so it ends with the browser too.
pub fn set_cookie(value: &str, secure: bool) -> Result<HeaderValue, LoginError> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{secure}"
    ))
    .map_err(|e| LoginError::Internal(format!("session cookie: {e}")))
}

/// The `Set-Cookie` value removing the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    if secure {
        HeaderValue::from_static(
            "crm_session=; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0",
        )
    } else {
        HeaderValue::from_static("crm_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
    }
}

/// What keys a request's idempotency keys: its `Authorization` header, else its
/// session cookie (so that two people's keys never meet).
pub fn credential(headers: &HeaderMap) -> Vec<u8> {
    match headers.get(header::AUTHORIZATION) {
        Some(value) => value.as_bytes().to_vec(),
        None => match cookie(headers) {
            Some(value) => [b"session:".as_slice(), value.as_bytes()].concat(),
            None => Vec::new(),
        },
    }
}

/// The actor of a request without a bearer token, from its session cookie: None
/// without one; a 401 when the session is unknown, over, or its manager is no longer
/// active; a 403 for a write that fails the CSRF checks ([`csrf`]). The session goes
/// into the request's extensions ([`Session`]).
pub async fn actor(parts: &mut Parts, state: &AppState) -> Result<Option<Actor>, ApiError> {
    let Some(value) = cookie(&parts.headers).map(str::to_owned) else {
        return Ok(None);
    };
    let settings = &state.logins.settings;
    let token = csrf_token(&value);
    csrf::check(
        &parts.method,
        &parts.headers,
        &settings.allowed_origins,
        &token,
    )?;
    let hash = hash(&value);
    let pool = state.log.pool();
    // A live session's use is written only when the stored one is older than
    // `touch_after` (one write a minute, not one per request); it is read either way.
    let manager_id: Option<Uuid> = sqlx::query_scalar(
        "WITH live AS ( \
             SELECT manager_id, last_seen_at FROM api.sessions \
              WHERE session_hash = $1 AND last_seen_at >= now() - make_interval(secs => $2)), \
         touched AS ( \
             UPDATE api.sessions s SET last_seen_at = now() FROM live \
              WHERE s.session_hash = $1 AND live.last_seen_at < now() - make_interval(secs => $3)) \
         SELECT manager_id FROM live",
    )
    .bind(&hash)
    .bind(settings.idle_timeout.as_secs_f64())
    .bind(touch_after(settings.idle_timeout).as_secs_f64())
    .fetch_optional(pool)
    .await?;
    let Some(manager_id) = manager_id else {
        return Err(ApiError::Unauthorized);
    };
    // Like a token: a session acts for its manager only while he is active.
    let manager = match manager_of(&state.log, manager_id).await? {
        Some(m) if m.active => m,
        _ => {
            end_all(pool, manager_id).await?;
            return Err(ApiError::Unauthorized);
        }
    };
    parts.extensions.insert(Session {
        hash,
        csrf_token: token,
    });
    Ok(Some(Actor {
        manager_id: Some(manager_id),
        role: manager.role,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others_and_its_attributes_are_strict() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; crm_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&headers), Some("abc"));
        assert_eq!(
            credential(&headers),
            b"session:abc".to_vec(),
            "keys idempotency by the session"
        );
        headers.insert(header::AUTHORIZATION, "Bearer t".parse().unwrap());
        assert_eq!(credential(&headers), b"Bearer t".to_vec());
        assert_eq!(cookie(&HeaderMap::new()), None);
        let set = set_cookie("abc", false).unwrap();
        assert_eq!(set, "crm_session=abc; Path=/; HttpOnly; SameSite=Strict");
        let secure = set_cookie("abc", true).unwrap();
        assert!(secure.to_str().unwrap().ends_with("; Secure"));
        assert_ne!(csrf_token("abc"), hex::encode(hash("abc")));
    }

    #[test]
    fn a_use_is_written_after_a_minute_or_a_thirtieth_of_a_shorter_idle_time() {
        use std::time::Duration;
        assert_eq!(
            touch_after(Duration::from_secs(30 * 60)),
            Duration::from_secs(60)
        );
        assert_eq!(
            touch_after(Duration::from_secs(8 * 3600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            touch_after(Duration::from_secs(3)),
            Duration::from_millis(100)
        );
    }
}
