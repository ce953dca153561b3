//! What every request handler shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crm_eventlog::EventLog;
use crm_projections::Projection;
use uuid::Uuid;

use crate::access::Actor;
use crate::commands::Commands;
use crate::error::ApiError;
use crate::failed_auth::{FailedAuth, FailedAuthSettings};
use crate::hidden::HiddenFields;
use crate::idempotency::IdempotencySettings;
use crate::paging::CursorKey;

/// The default of [`AppState::max_custom_projections`].
pub const DEFAULT_MAX_CUSTOM_PROJECTIONS: usize = 50;

/// How long a resolved token is trusted before it is looked up again: a revoked
/// token stops working within this time.
pub const TOKEN_TTL: Duration = Duration::from_secs(5);

/// The application's state: the log, the settings and the caches requests share.
#[derive(Clone)]
pub struct AppState {
    /// The event log (and through it, the database pool).
    pub log: EventLog,
    /// `CRM_BOOTSTRAP_TOKEN`: accepted as an admin token when set.
    pub bootstrap_token: Option<String>,
    /// Tokens resolved lately.
    pub tokens: Arc<TokenCache>,
    /// The command path over the log, with its caches (states, pipelines).
    pub commands: Commands,
    /// The read models this server knows (to rebuild them by name).
    pub projections: Arc<Vec<Arc<dyn Projection>>>,
    /// Which client and lead fields each role may not see.
    pub hidden: Arc<HiddenFields>,
    /// How long a query waits for `min_position`, and an erasure for the read models.
    pub min_position_wait: Duration,
    /// The key sealing cursors, loaded on first use.
    cursor_key: Arc<tokio::sync::OnceCell<CursorKey>>,
    /// How long idempotency keys are kept, and how many per actor.
    pub idempotency: IdempotencySettings,
    /// Failed authentications per address, throttled.
    pub auth_failures: Arc<FailedAuth>,
    /// The most custom projections defined at once (`POST /projections` beyond: 422).
    pub max_custom_projections: usize,
    /// Logins and sessions: their settings, failed logins, hashing permits.
    pub logins: Arc<crate::login::Logins>,
    /// The web app's currency and locale.
    pub web_settings: Arc<crate::webapp::WebSettings>,
    /// Answers kept by the read models' positions (`crate::answers`).
    pub answers: Arc<crate::answers::AnswerCache>,
    /// How webhooks are delivered, and which targets `POST /webhooks` accepts.
    pub webhooks: crate::webhooks::WebhookSettings,
}

impl AppState {
    /// The state over `log`, trusting resolved tokens for [`TOKEN_TTL`].
    pub fn new(log: EventLog, bootstrap_token: Option<String>) -> Self {
        AppState {
            commands: Commands::new(log.clone()),
            log,
            bootstrap_token,
            tokens: Arc::new(TokenCache::new(TOKEN_TTL)),
            projections: Arc::new(crm_projections::builtin()),
            hidden: Arc::default(),
            min_position_wait: crate::read_model::MIN_POSITION_WAIT,
            cursor_key: Arc::default(),
            idempotency: IdempotencySettings::default(),
            auth_failures: Arc::new(FailedAuth::new(FailedAuthSettings::default())),
            max_custom_projections: DEFAULT_MAX_CUSTOM_PROJECTIONS,
            logins: Arc::default(),
            web_settings: Arc::default(),
            answers: Arc::default(),
            webhooks: crate::webhooks::WebhookSettings::default(),
        }
        .forgetting_deactivated_managers()
    }

    /// The same state whose commands forget, at once, the tokens of a manager they
    /// deactivate (in other processes, once their cached lookup expires).
    fn forgetting_deactivated_managers(mut self) -> Self {
        let tokens = Arc::clone(&self.tokens);
        self.commands = self
            .commands
            .on_manager_deactivated(move |manager| tokens.forget_manager(manager));
        self
    }

    /// The same state keeping at most `max_bytes` of answers (0: none kept; tags and
    /// 304 still given).
    pub fn with_answer_cache(mut self, max_bytes: usize) -> Self {
        self.answers = Arc::new(crate::answers::AnswerCache::new(
            max_bytes,
            crate::answers::cache::DEFAULT_MAX_ENTRIES,
        ));
        self
    }

    /// The same state whose web app writes money in `settings`' currency and locale.
    pub fn with_web_settings(mut self, settings: crate::webapp::WebSettings) -> Self {
        self.web_settings = Arc::new(settings);
        self
    }

    /// The same state delivering webhooks (and checking their targets) as `settings` say.
    pub fn with_webhooks(mut self, settings: crate::webhooks::WebhookSettings) -> Self {
        self.webhooks = settings;
        self
    }

    /// The same state waiting `wait` for `min_position` (and erasures) instead of
    /// [`crate::read_model::MIN_POSITION_WAIT`].
    pub fn with_min_position_wait(mut self, wait: Duration) -> Self {
        self.min_position_wait = wait;
        self
    }

    /// The same state keeping idempotency keys as `settings` say.
    pub fn with_idempotency(mut self, settings: IdempotencySettings) -> Self {
        self.idempotency = settings;
        self
    }

    /// The same state throttling failed authentications as `settings` say.
    pub fn with_failed_auth(mut self, settings: FailedAuthSettings) -> Self {
        self.auth_failures = Arc::new(FailedAuth::new(settings));
        self
    }

    /// The same state with logins and sessions as `settings` say.
    pub fn with_logins(mut self, settings: crate::login::LoginSettings) -> Self {
        self.logins = Arc::new(crate::login::Logins::new(settings));
        self
    }

    /// The same state allowing at most `max` custom projections.
    pub fn with_max_custom_projections(mut self, max: usize) -> Self {
        self.max_custom_projections = max;
        self
    }

    /// The key sealing cursors (read, or made, on first use).
    pub async fn cursor_key(&self) -> Result<&CursorKey, ApiError> {
        self.cursor_key
            .get_or_try_init(|| CursorKey::load(self.log.pool()))
            .await
    }

    /// The same state hiding `hidden` from each role.
    pub fn with_hidden_fields(mut self, hidden: HiddenFields) -> Self {
        self.hidden = Arc::new(hidden);
        self
    }

    /// The same state knowing these read models instead of the built-in ones.
    pub fn with_projections(mut self, projections: Vec<Arc<dyn Projection>>) -> Self {
        self.projections = Arc::new(projections);
        self
    }

    /// The same state trusting resolved tokens for `ttl` (zero: look every token up).
    pub fn with_token_ttl(mut self, ttl: Duration) -> Self {
        self.tokens = Arc::new(TokenCache::new(ttl));
        self.forgetting_deactivated_managers()
    }
}

/// A resolved token: its actor, when it was resolved, when the token expires.
type Resolved = (Actor, Instant, Option<DateTime<Utc>>);

/// Recently resolved tokens, by the token's hash. An entry is trusted for the
/// cache's time to live, and never past its token's own expiry.
#[derive(Debug)]
pub struct TokenCache {
    ttl: Duration,
    entries: Mutex<HashMap<Vec<u8>, Resolved>>,
}

impl TokenCache {
    /// A cache keeping entries for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        TokenCache {
            ttl,
            entries: Mutex::default(),
        }
    }

    /// The actor of a token hash resolved less than `ttl` ago, unless the token has
    /// expired since.
    pub fn get(&self, hash: &[u8]) -> Option<Actor> {
        let entries = self.entries.lock().ok()?;
        let (actor, at, expires_at) = entries.get(hash)?;
        let expired = expires_at.is_some_and(|e| e <= Utc::now());
        (at.elapsed() < self.ttl && !expired).then(|| actor.clone())
    }

    /// Remembers that `hash` resolved to `actor` now, its token expiring at `expires_at`.
    pub fn put(&self, hash: Vec<u8>, actor: Actor, expires_at: Option<DateTime<Utc>>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            // Bounded: forget everything rather than grow without end.
            if entries.len() >= 10_000 {
                entries.clear();
            }
            entries.insert(hash, (actor, Instant::now(), expires_at));
        }
    }

    /// Forgets every token acting for `manager_id` (he was deactivated): the next
    /// request with one is looked up again.
    pub fn forget_manager(&self, manager_id: Uuid) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, (actor, _, _)| actor.manager_id != Some(manager_id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;

    #[test]
    fn entries_expire_and_a_zero_ttl_caches_nothing() {
        let actor = Actor {
            manager_id: None,
            role: Role::Admin,
        };
        let cache = TokenCache::new(Duration::from_millis(50));
        cache.put(vec![1], actor.clone(), None);
        assert_eq!(cache.get(&[1]), Some(actor.clone()));
        assert_eq!(cache.get(&[2]), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(&[1]), None);
        let off = TokenCache::new(Duration::ZERO);
        off.put(vec![1], actor.clone(), None);
        assert_eq!(off.get(&[1]), None);
        // A token that has expired is not trusted, however recently resolved.
        let cache = TokenCache::new(Duration::from_secs(3600));
        let past = Utc::now() - chrono::Duration::milliseconds(1);
        cache.put(vec![3], actor.clone(), Some(past));
        assert_eq!(cache.get(&[3]), None);
        let later = Utc::now() + chrono::Duration::hours(1);
        cache.put(vec![4], actor.clone(), Some(later));
        assert_eq!(cache.get(&[4]), Some(actor));
    }

    #[test]
    fn a_deactivated_managers_tokens_are_forgotten_and_the_others_kept() {
        let (gone, kept) = (Uuid::new_v4(), Uuid::new_v4());
        let of = |manager: Uuid| Actor {
            manager_id: Some(manager),
            role: Role::Manager,
        };
        let cache = TokenCache::new(Duration::from_secs(60));
        cache.put(vec![1], of(gone), None);
        cache.put(vec![2], of(gone), None);
        cache.put(vec![3], of(kept), None);
        cache.forget_manager(gone);
        assert_eq!(cache.get(&[1]), None);
        assert_eq!(cache.get(&[2]), None);
        assert_eq!(cache.get(&[3]), Some(of(kept)));
    }
}
