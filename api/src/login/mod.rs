//! People log in (issue 16): a manager with an email and a password gets a session
//! cookie that acts as he does with a token.
//!
//! - [`password`]: Argon2id hashes in `api.passwords`, never in the log.
//! - [`session`]: sessions in `api.sessions` (by the SHA-256 of the cookie's value),
//!   ended by logout, by inactivity and by the manager's deactivation.
//! - [`csrf`]: a write sent with the session cookie must carry the session's CSRF token
//!   and come from the server's own origin; bearer tokens are unaffected.
//! - [`throttle`]: failed logins slowed down per email and per address.

pub mod csrf;
pub mod password;
pub mod session;
pub mod throttle;

use std::net::IpAddr;
use std::time::Duration;

use crm_domain::manager::{Manager, ManagerState};
use crm_domain::{Aggregate, DomainEvent, EntityKind};
use crm_eventlog::{EventLog, EventLogError};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::error::ApiError;
use throttle::Throttle;

/// What the login machinery fails on (the store, the hashing task, the input).
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The database or the log.
    #[error(transparent)]
    Log(#[from] EventLogError),
    /// A fault of ours.
    #[error("{0}")]
    Internal(String),
    /// The password could not be read (standard input).
    #[error("reading the password: {0}")]
    Input(String),
}

impl From<sqlx::Error> for LoginError {
    fn from(err: sqlx::Error) -> Self {
        LoginError::Log(err.into())
    }
}

impl From<LoginError> for ApiError {
    fn from(err: LoginError) -> Self {
        match err {
            LoginError::Log(err) => err.into(),
            LoginError::Internal(cause) | LoginError::Input(cause) => ApiError::internal(cause),
        }
    }
}

/// How logins and sessions behave (`crm serve` flags: [`LoginArgs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSettings {
    /// A session unused this long is over.
    pub idle_timeout: Duration,
    /// Mark the session cookie `Secure` (served over TLS, maybe behind a proxy); it is
    /// also marked so when the login request says `X-Forwarded-Proto: https`.
    pub secure_cookies: bool,
    /// Origins (`https://crm.example.com`) besides the server's own (its `Host`) from
    /// which a browser may log in and write with a session cookie.
    pub allowed_origins: Vec<String>,
    /// Failed logins per email in a window; beyond, 429 (0: no limit).
    pub max_failures_per_email: u32,
    /// Failed logins per address in a window; beyond, 429 (0: no limit).
    pub max_failures_per_address: u32,
    /// The window of the two counts above.
    pub failure_window: Duration,
}

impl Default for LoginSettings {
    /// 30 minutes of inactivity; not `Secure`; 5 failures per email and 20 per address
    /// in 15 minutes.
    fn default() -> Self {
        LoginSettings {
            idle_timeout: Duration::from_secs(30 * 60),
            secure_cookies: false,
            allowed_origins: Vec::new(),
            max_failures_per_email: 5,
            max_failures_per_address: 20,
            failure_window: Duration::from_secs(15 * 60),
        }
    }
}

/// The logins' settings and what requests share: the failure counts and the permits
/// to hash.
#[derive(Debug)]
pub struct Logins {
    /// The settings.
    pub settings: LoginSettings,
    /// Failed logins by email (lower-cased).
    pub by_email: Throttle<String>,
    /// Failed logins by address (IPv6 by /64).
    pub by_address: Throttle<Option<IpAddr>>,
    /// Hashes computed at once (each takes 19 MiB and a core for a while).
    hashing: Semaphore,
}

impl Default for Logins {
    fn default() -> Self {
        Logins::new(LoginSettings::default())
    }
}

impl Logins {
    /// Logins as `settings` say.
    pub fn new(settings: LoginSettings) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Logins {
            by_email: Throttle::new(settings.max_failures_per_email, settings.failure_window),
            by_address: Throttle::new(settings.max_failures_per_address, settings.failure_window),
            hashing: Semaphore::new(cores.max(1)),
            settings,
        }
    }

    /// Runs the slow `work` (hashing) on a blocking thread, a few at a time.
    pub async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, LoginError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| LoginError::Internal(format!("hashing permits: {e}")))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| LoginError::Internal(format!("hashing task: {e}")))
    }
}

/// The manager `id` as the log says now (None: not registered).
pub async fn manager_of(log: &EventLog, id: Uuid) -> Result<Option<Manager>, LoginError> {
    let stream = EntityKind::Manager.stream(id);
    let stored = log.read_stream_after(&stream, 0).await?;
    let mut events = Vec::with_capacity(stored.len());
    for e in stored {
        let event =
            DomainEvent::from_stored(&e.event_type, e.schema_version, e.data).map_err(|err| {
                LoginError::Internal(format!(
                    "undecodable event at position {}: {err}",
                    e.position
                ))
            })?;
        events.push(event);
    }
    Ok(ManagerState::fold(&events).manager)
}
