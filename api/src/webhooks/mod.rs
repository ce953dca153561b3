//! Webhooks: the log's events POSTed to receivers an admin names, each webhook
//! following the feed with a cursor of its own, in log order, one delivery at a
//! time, signed, retried with growing jittered pauses, never holding another back.
//! Definitions and delivery state are configuration (`api.webhooks`), not events:
//! see the migration `20261207340001_webhooks.sql` for why.

pub mod delivery;
pub mod store;
pub mod target;
pub mod worker;

use std::time::Duration;

pub use delivery::{signature, SIGNATURE_HEADER};
pub use worker::Deliverer;

/// How webhooks are delivered (and what targets are accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookSettings {
    /// How long one attempt may take (connect, send, answer): 10 s.
    pub timeout: Duration,
    /// The pause after the first failed attempt at an event: 1 s; each next one
    /// doubles, then a random part of it is taken off (jitter).
    pub first_retry: Duration,
    /// The longest pause between two attempts: 1 h.
    pub max_retry: Duration,
    /// How long an event is retried before the webhook is marked `failing`: 24 h.
    pub give_up_after: Duration,
    /// How long a server's claim on a webhook lasts unless renewed: 30 s (at least
    /// three timeouts).
    pub lease: Duration,
    /// How often a server looks for webhooks to deliver (new, re-enabled, or
    /// left by a server that stopped): 2 s.
    pub rescan: Duration,
    /// Refuse targets that are or resolve to internal addresses
    /// (`crm serve --webhook-deny-private`).
    pub deny_private: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            timeout: Duration::from_secs(10),
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
            lease: Duration::from_secs(30),
            rescan: Duration::from_secs(2),
            deny_private: false,
        }
    }
}
