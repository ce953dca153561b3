//! The handle to the log: a connection pool and the notifier of appends.

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::error::EventLogError;
use crate::notify::{Notifier, Wakeups};
use crate::tail::{TailReads, TailStats};
use crate::vault::Vault;

/// The event log on one PostgreSQL database. Cheap to clone.
#[derive(Clone)]
pub struct EventLog {
    pub(crate) pool: PgPool,
    pub(crate) notifier: Notifier,
    pub(crate) wakeups: Wakeups,
    pub(crate) tail: TailReads,
    pub(crate) vault: Vault,
}

impl EventLog {
    /// A log over an existing pool. Inside a tokio runtime it also starts the
    /// background task that notifies subscribers after appends.
    pub fn new(pool: PgPool) -> Self {
        let notifier = Notifier::spawn(pool.clone());
        EventLog {
            vault: Vault::new(pool.clone()),
            pool,
            notifier,
            wakeups: Wakeups::default(),
            tail: TailReads::default(),
        }
    }

    /// Connects to `url` with a pool of at most `max_connections`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, EventLogError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect(url)
            .await?;
        Ok(Self::new(pool))
    }

    /// Applies the log's schema migrations.
    pub async fn migrate(&self) -> Result<(), EventLogError> {
        crate::MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection of the log, the listening one included.
    pub async fn close(&self) {
        self.wakeups.close().await;
        self.pool.close().await;
    }

    /// The key vault of personal data, with this process's key cache.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// How the subscriptions of this log (and its clones) shared their reads at the
    /// tail of the feed.
    pub fn tail_stats(&self) -> TailStats {
        self.tail.stats()
    }

    /// The pool this log uses.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
