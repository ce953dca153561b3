//! Reads at the tail of the feed, shared by the subscriptions of a process.
//!
//! One notification wakes every subscription of the process (a read model's runner
//! each, the automation, the webhooks, the web app's live updates), and at the tail
//! they all stand at the same cursor. Each used to read the page after it itself, with
//! its own filter: a dozen statements per append, on a machine that also has to apply
//! the batch the command is waiting for. Here the first of them reads the whole page
//! once; the others woken by the same notification take it, each keeping the events of
//! its types.
//!
//! A shared read answers a wake-up only if it began after that wake-up was seen (the
//! key names the wake-up), and a subscription never takes the same read twice: a retry
//! (a read held back by a running transaction, a poll) always reads anew, or takes a
//! read begun after the one it saw.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use crate::error::EventLogError;
use crate::feed::{Cursor, FeedFilter, FeedPage};
use crate::store::EventLog;

/// How many recent reads are kept for subscriptions still to come.
const KEPT: usize = 4;

/// What a shared read answers: where it starts, its size, and the wake-up it follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    after: Cursor,
    limit: usize,
    wakeup: u64,
}

/// One read of the whole feed, numbered in the order the reads were begun.
struct Read {
    key: Key,
    number: u64,
    page: Arc<OnceCell<Arc<FeedPage>>>,
}

/// The recent reads at the tail, shared by the subscriptions of one [`EventLog`] (and
/// its clones).
#[derive(Clone, Default)]
pub(crate) struct TailReads {
    reads: Arc<Mutex<Vec<Read>>>,
    begun: Arc<AtomicU64>,
    served: Arc<AtomicU64>,
}

/// How the shared reads at the tail were used, since the log was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TailStats {
    /// Pages read from the database.
    pub reads: u64,
    /// Pages handed to subscriptions (a read shared by three counts three).
    pub served: u64,
}

impl TailReads {
    /// The whole feed's page of up to `limit` events after `after`, for a subscription
    /// woken at `wakeup` whose last shared read was number `seen` (0: none): a read of
    /// the same place begun after both, or a new one. Returns the read's number too.
    pub(crate) async fn page(
        &self,
        log: &EventLog,
        after: Cursor,
        limit: usize,
        wakeup: u64,
        seen: u64,
    ) -> Result<(u64, Arc<FeedPage>), EventLogError> {
        let key = Key {
            after,
            limit,
            wakeup,
        };
        let (number, cell) = {
            let mut reads = self.reads.lock().unwrap_or_else(PoisonError::into_inner);
            match reads.iter().find(|r| r.key == key && r.number > seen) {
                Some(read) => (read.number, read.page.clone()),
                None => {
                    let number = self.begun.fetch_add(1, Ordering::Relaxed) + 1;
                    let page = Arc::new(OnceCell::new());
                    reads.retain(|r| r.key != key);
                    if reads.len() >= KEPT {
                        reads.remove(0);
                    }
                    reads.push(Read {
                        key,
                        number,
                        page: page.clone(),
                    });
                    (number, page)
                }
            }
        };
        // A failed read leaves the cell empty: whoever needs it next reads again.
        let page = cell
            .get_or_try_init(|| async {
                let page = log.read_feed(after, limit, &FeedFilter::default()).await?;
                Ok::<_, EventLogError>(Arc::new(page))
            })
            .await?
            .clone();
        self.served.fetch_add(1, Ordering::Relaxed);
        Ok((number, page))
    }

    /// How the shared reads were used so far.
    pub(crate) fn stats(&self) -> TailStats {
        TailStats {
            reads: self.begun.load(Ordering::Relaxed),
            served: self.served.load(Ordering::Relaxed),
        }
    }
}

/// The events of `page` that `filter` passes, with the page's place and state.
pub(crate) fn filtered(page: &FeedPage, filter: &FeedFilter) -> FeedPage {
    let events = match &filter.event_types {
        None => page.events.clone(),
        Some(types) => page
            .events
            .iter()
            .filter(|e| types.contains(&e.event_type))
            .cloned()
            .collect(),
    };
    FeedPage {
        events,
        next: page.next,
        caught_up: page.caught_up,
        held_back: page.held_back,
    }
}
