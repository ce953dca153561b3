//! Bearer tokens: created and stored hashed, resolved into the request's actor (or,
//! without one, the session cookie: `crate::login::session`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::access::Role;
use crate::error::ApiError;
use crate::state::AppState;

/// Who sends a request: the owner of its bearer token (defined with the roles, in
/// `crate::access`; resolved from the request here).
pub use crate::access::Actor;

/// The stored form of a token.
fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// How many tokens were ever made (revoked and expired ones included).
pub async fn count_tokens(pool: &PgPool) -> Result<i64, ApiError> {
    sqlx::query_scalar("SELECT count(*) FROM api.tokens")
        .fetch_one(pool)
        .await
        .map_err(ApiError::from)
}

/// Creates a token for `manager_id` (or none) with `role`; returns the token, shown only now.
pub async fn create_token(
    pool: &PgPool,
    manager_id: Option<Uuid>,
    role: &str,
    label: Option<&str>,
) -> Result<String, ApiError> {
    create_expiring_token(pool, manager_id, role, label, None).await
}

/// Creates a token like [`create_token`] that stops working at `expires_at` (never
/// when None).
pub async fn create_expiring_token(
    pool: &PgPool,
    manager_id: Option<Uuid>,
    role: &str,
    label: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("crm_{}", hex::encode(bytes));
    sqlx::query(
        "INSERT INTO api.tokens (token_hash, manager_id, role, label, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash(&token))
    .bind(manager_id)
    .bind(role)
    .bind(label)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(token)
}

/// Which tokens to revoke.
#[derive(Debug, Clone)]
pub enum Revoke {
    /// The token itself.
    Token(String),
    /// Every token with this label.
    Label(String),
    /// Every token acting for this manager.
    Manager(Uuid),
}

/// Revokes the tokens `which` names (those not revoked yet); how many. A server that
/// caches tokens stops accepting them within its cache's time to live (5 s).
pub async fn revoke_tokens(pool: &PgPool, which: &Revoke) -> Result<u64, ApiError> {
    let query = match which {
        Revoke::Token(token) => sqlx::query(
            "UPDATE api.tokens SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash(token)),
        Revoke::Label(label) => sqlx::query(
            "UPDATE api.tokens SET revoked_at = now() WHERE label = $1 AND revoked_at IS NULL",
        )
        .bind(label.clone()),
        Revoke::Manager(id) => sqlx::query(
            "UPDATE api.tokens SET revoked_at = now() WHERE manager_id = $1 AND revoked_at IS NULL",
        )
        .bind(*id),
    };
    Ok(query.execute(pool).await?.rows_affected())
}

/// Compares in time independent of where the strings differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The shortest `CRM_BOOTSTRAP_TOKEN` accepted: it is an admin's password, which the
/// throttle of failed authentications slows down but cannot make strong.
pub const MIN_BOOTSTRAP_TOKEN_LEN: usize = 32;

/// Why a bootstrap token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootstrapTokenError {
    /// Fewer characters than [`MIN_BOOTSTRAP_TOKEN_LEN`].
    #[error(
        "CRM_BOOTSTRAP_TOKEN has {0} characters; an admin's token needs at least {MIN_BOOTSTRAP_TOKEN_LEN} \
         (make one with `openssl rand -hex 32`)"
    )]
    TooShort(usize),
    /// Whitespace at either end (a bearer token is trimmed, so it could never match).
    #[error("CRM_BOOTSTRAP_TOKEN begins or ends with whitespace")]
    Untrimmed,
}

/// Checks a bootstrap token before the server accepts it.
pub fn check_bootstrap_token(token: &str) -> Result<(), BootstrapTokenError> {
    if token.trim() != token {
        return Err(BootstrapTokenError::Untrimmed);
    }
    let length = token.chars().count();
    if length < MIN_BOOTSTRAP_TOKEN_LEN {
        return Err(BootstrapTokenError::TooShort(length));
    }
    Ok(())
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Resolved already by a layer (the idempotency one) for this very request.
        if let Some(actor) = parts.extensions.get::<Actor>() {
            return Ok(actor.clone());
        }
        // No bearer token: a browser's session cookie, if any (`crate::login`).
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return crate::login::session::actor(parts, state)
                .await?
                .ok_or(ApiError::Unauthorized);
        };
        let header = header.to_str().map_err(|_| ApiError::Unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        // A throttled address gets no answer about any token, the bootstrap one included.
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        state
            .auth_failures
            .check(address)
            .map_err(|retry_after| ApiError::AuthThrottled { retry_after })?;
        if let Some(bootstrap) = &state.bootstrap_token {
            if same(token, bootstrap) {
                return Ok(Actor {
                    manager_id: None,
                    role: Role::Admin,
                });
            }
        }
        let hash = hash(token);
        if let Some(actor) = state.tokens.get(&hash) {
            return Ok(actor);
        }
        let row: Option<(Option<Uuid>, String, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT manager_id, role, expires_at FROM api.tokens WHERE token_hash = $1 \
             AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
        )
        .bind(&hash)
        .fetch_optional(state.log.pool())
        .await?;
        let Some((manager_id, role, expires_at)) = row else {
            state.auth_failures.record(address);
            return Err(ApiError::Unauthorized);
        };
        // A role the contract does not know (written by hand) grants nothing.
        let Some(role) = Role::parse(&role) else {
            return Err(ApiError::Unauthorized);
        };
        // A token acts for its manager only while he is registered and active: a
        // deactivated manager's tokens end with him.
        if let Some(manager) = manager_id {
            if !state.commands.manager_is_active(manager).await? {
                return Err(ApiError::Unauthorized);
            }
        }
        let actor = Actor { manager_id, role };
        state.tokens.put(hash, actor.clone(), expires_at);
        Ok(actor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bootstrap_token_needs_32_characters_and_no_outer_whitespace() {
        assert_eq!(
            check_bootstrap_token("short-secret"),
            Err(BootstrapTokenError::TooShort(12))
        );
        assert_eq!(
            check_bootstrap_token(&"x".repeat(31)),
            Err(BootstrapTokenError::TooShort(31))
        );
        assert_eq!(check_bootstrap_token(&"x".repeat(32)), Ok(()));
        assert_eq!(
            check_bootstrap_token(&format!(" {}", "x".repeat(40))),
            Err(BootstrapTokenError::Untrimmed)
        );
    }
}
