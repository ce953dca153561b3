//! Notifications of appends: sending them after commit, and listening for them.
//!
//! `NOTIFY` inside an append would take PostgreSQL's global notify lock until the
//! commit is flushed, serializing every append. Instead each process sends one
//! `pg_notify` after its appends commit, coalescing bursts: while one is in flight,
//! any number of further appends cause just one more. Appends by other writers
//! (or notifications lost while the database restarts) are found by polling.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::{mpsc, watch};

/// The notification channel the log uses.
pub const CHANNEL: &str = "eventlog_appended";

/// Sends coalesced notifications for this process's appends.
#[derive(Clone)]
pub(crate) struct Notifier {
    tx: Option<mpsc::Sender<()>>,
}

impl Notifier {
    /// Starts the notifying task if a tokio runtime is running; otherwise appends
    /// are found by the subscribers' polling alone.
    pub(crate) fn spawn(pool: PgPool) -> Self {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return Notifier { tx: None };
        };
        let (tx, mut rx) = mpsc::channel::<()>(1);
        handle.spawn(async move {
            while rx.recv().await.is_some() {
                let sent = sqlx::query("SELECT pg_notify($1, '')")
                    .bind(CHANNEL)
                    .execute(&pool)
                    .await;
                if let Err(err) = sent {
                    tracing::debug!(error = %err, "append notification not sent; subscribers will poll");
                }
            }
        });
        Notifier { tx: Some(tx) }
    }

    /// Asks for one notification soon; free when one is already pending.
    pub(crate) fn poke(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(());
        }
    }
}

/// One `LISTEN` connection per process, shared by all its subscriptions: a counter
/// that moves on every notification and on every reconnect (when some may have been lost).
#[derive(Clone, Default)]
pub(crate) struct Wakeups {
    listening: Arc<OnceLock<(watch::Receiver<u64>, PgPool)>>,
}

impl Wakeups {
    /// A receiver that changes when subscribers should read the feed again; starts
    /// the listening task on first use.
    pub(crate) fn receiver(&self, pool: &PgPool) -> watch::Receiver<u64> {
        self.listening
            .get_or_init(|| {
                let (tx, rx) = watch::channel(0u64);
                // A pool of its own, so that listening never takes a connection from the log's.
                let listen_pool = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_lazy_with((*pool.connect_options()).clone());
                tokio::spawn(listen(listen_pool.clone(), tx));
                (rx, listen_pool)
            })
            .0
            .clone()
    }

    /// Stops listening and closes the listening connection.
    pub(crate) async fn close(&self) {
        if let Some((_, pool)) = self.listening.get() {
            pool.close().await;
        }
    }
}

/// Listens until every receiver is gone, reconnecting with backoff.
async fn listen(pool: PgPool, tx: watch::Sender<u64>) {
    let mut backoff = Duration::from_millis(50);
    while !pool.is_closed() {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        }
        .await;
        match connected {
            Ok(mut listener) => {
                backoff = Duration::from_millis(50);
                // (Re)connected: anything appended meanwhile went unnoticed.
                tx.send_modify(|n| *n += 1);
                loop {
                    tokio::select! {
                        got = listener.try_recv() => match got {
                            Ok(Some(_)) => {
                                while listener.next_buffered().is_some() {}
                                tx.send_modify(|n| *n += 1);
                            }
                            Ok(None) => tx.send_modify(|n| *n += 1),
                            Err(err) => {
                                if !pool.is_closed() {
                                    tracing::warn!(error = %err, "lost the notification connection; reconnecting");
                                }
                                break;
                            }
                        },
                        () = tx.closed() => return,
                    }
                }
            }
            Err(err) => {
                tracing::debug!(error = %err, "cannot listen for notifications yet; subscribers poll");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = tx.closed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}
