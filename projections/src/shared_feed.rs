//! The whole feed read once for all the runners of a process that are catching up (a
//! first build, a rebuild beside the live tables): each page is read and decoded once,
//! and every runner takes the events of its types from it.
//!
//! Runners read the same pages when they start from the same place (every rebuild
//! starts at the beginning of the feed): a page is kept until every reader has passed
//! it, and a reader does not run more than [`AHEAD`] pages ahead of a slower one, so
//! the memory held stays a few pages. A reader that has not moved for [`STALLED`] (a
//! failing projection waiting out its backoff) holds nobody back; if it comes back it
//! reads what it needs itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crm_eventlog::{Cursor, EventLog, FeedFilter};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::sync::{Notify, OnceCell};

use crate::error::ProjectionError;
use crate::event::FeedEvent;

/// How many pages a reader may run ahead of the slowest reader behind it.
const AHEAD: usize = 2;

/// The most pages kept at once (readers on different stretches of the feed).
const CAPACITY: usize = AHEAD + 2;

/// A reader that has not asked for a page for this long holds nobody back.
const STALLED: Duration = Duration::from_secs(5);

/// One page of the whole feed, decoded.
#[derive(Debug)]
pub(crate) struct SharedPage {
    /// Every event of the page, in feed order.
    events: Vec<Arc<FeedEvent>>,
    /// Where the next page starts.
    pub(crate) next: Cursor,
    /// True when the page reached the end of what was readable.
    pub(crate) caught_up: bool,
    /// How many events the page holds before filtering.
    pub(crate) len: usize,
}

impl SharedPage {
    /// The page's events of these types (every event for None), in feed order.
    pub(crate) fn of_types(&self, types: Option<&[String]>) -> Vec<Arc<FeedEvent>> {
        match types {
            None => self.events.clone(),
            Some(types) => self
                .events
                .iter()
                .filter(|e| types.iter().any(|t| *t == e.stored.event_type))
                .cloned()
                .collect(),
        }
    }
}

type Slot = Arc<OnceCell<Arc<SharedPage>>>;

/// The most connections the rebuilds of one process hold at once (see
/// [`SharedFeed::rebuild_pool`]).
const REBUILD_CONNECTIONS: u32 = 4;

/// Pages of the feed shared by the readers of one process.
#[derive(Clone)]
pub(crate) struct SharedFeed {
    log: EventLog,
    state: Arc<Mutex<State>>,
    moved: Arc<Notify>,
    /// Pages read from the database so far.
    reads: Arc<AtomicUsize>,
    /// The rebuilds' own connections, made on first use.
    rebuilds: Arc<OnceLock<PgPool>>,
    /// The live batches' connections, made on first use (see [`SharedFeed::live_pool`]).
    live: Arc<OnceLock<PgPool>>,
}

#[derive(Default)]
struct State {
    next_reader: u64,
    /// Each reader's last page start, and since when it has been there.
    readers: HashMap<u64, (Cursor, Instant)>,
    /// Pages by (start, size).
    pages: BTreeMap<(Cursor, usize), Slot>,
    /// The most pages kept at once so far.
    most_kept: usize,
}

impl State {
    /// The readers that still hold others back: those that moved lately.
    fn live_places(&self, except: u64) -> impl Iterator<Item = Cursor> + '_ {
        self.readers
            .iter()
            .filter(move |(id, (_, since))| **id != except && since.elapsed() < STALLED)
            .map(|(_, (at, _))| *at)
    }

    /// Drops the pages every live reader has passed.
    fn evict(&mut self) {
        let Some(oldest) = self.live_places(u64::MAX).min() else {
            self.pages.clear();
            return;
        };
        self.pages.retain(|(start, _), _| *start >= oldest);
    }

    /// Keeps a page.
    fn keep(&mut self, key: (Cursor, usize), slot: Slot) {
        self.pages.insert(key, slot);
        self.most_kept = self.most_kept.max(self.pages.len());
    }

    /// True when a live reader behind `start` has `AHEAD` kept pages or more to go
    /// before reaching it.
    fn too_far_ahead(&self, me: u64, start: Cursor) -> bool {
        self.live_places(me).filter(|at| *at < start).any(|at| {
            self.pages
                .keys()
                .filter(|(s, _)| *s >= at && *s < start)
                .count()
                >= AHEAD
        })
    }
}

impl SharedFeed {
    /// Shared pages of `log`'s feed.
    pub(crate) fn new(log: EventLog) -> Self {
        SharedFeed {
            log,
            state: Arc::default(),
            moved: Arc::default(),
            reads: Arc::default(),
            rebuilds: Arc::default(),
            live: Arc::default(),
        }
    }

    /// The connections the live batches of this process's runners are applied with
    /// (as many at most as `log`'s pool has), named [`crm_eventlog::non_appending`]: a
    /// read model's batch never appends, so its transaction need not hold back the
    /// feed. Otherwise every live batch still running (of any read model, the slowest
    /// included) would hold back the events committed after it began from every other
    /// runner, and a command would become visible in one read model only once the
    /// batches of all the others that were under way had ended.
    pub(crate) fn live_pool(&self) -> PgPool {
        self.live
            .get_or_init(|| {
                let main = self.log.pool();
                let options = crm_eventlog::non_appending(&main.connect_options(), "projector");
                PgPoolOptions::new()
                    .max_connections(main.options().get_max_connections().max(1))
                    .min_connections(0)
                    .acquire_timeout(main.options().get_acquire_timeout())
                    .idle_timeout(Duration::from_secs(60))
                    .connect_lazy_with(options)
            })
            .clone()
    }

    /// The connections the rebuilds of this process write their shadow copies with: a
    /// budget of their own ([`REBUILD_CONNECTIONS`]), so live batches and queries never
    /// wait for a connection a rebuild holds, and named [`crm_eventlog::non_appending`],
    /// so that their transactions (a batch of a page, `SET LOGGED`, an index build) do
    /// not hold back the feed the live runners follow.
    pub(crate) fn rebuild_pool(&self) -> PgPool {
        self.rebuilds
            .get_or_init(|| {
                let options =
                    crm_eventlog::non_appending(&self.log.pool().connect_options(), "rebuild");
                PgPoolOptions::new()
                    .max_connections(REBUILD_CONNECTIONS)
                    .min_connections(0)
                    // Rebuilds queue for a connection while another builds an index.
                    .acquire_timeout(Duration::from_secs(3_600))
                    .idle_timeout(Duration::from_secs(30))
                    .connect_lazy_with(options)
            })
            .clone()
    }

    /// Reads and decodes one page of the whole feed.
    async fn read(&self, start: Cursor, size: usize) -> Result<Arc<SharedPage>, ProjectionError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let mut page = self
            .log
            .read_feed(start, size, &FeedFilter::default())
            .await?;
        crate::personal::reveal(&self.log, &mut page.events).await?;
        let len = page.events.len();
        let events = page
            .events
            .into_iter()
            .map(|e| Arc::new(FeedEvent::decode(e)))
            .collect();
        Ok(Arc::new(SharedPage {
            events,
            next: page.next,
            caught_up: page.caught_up,
            len,
        }))
    }

    /// A new reader of the shared pages.
    pub(crate) fn reader(&self) -> SharedReader {
        let mut state = self.lock();
        let id = state.next_reader;
        state.next_reader += 1;
        SharedReader {
            feed: self.clone(),
            id,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every step; a panic elsewhere cannot break it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One runner's way through the shared pages.
pub(crate) struct SharedReader {
    feed: SharedFeed,
    id: u64,
}

impl SharedReader {
    /// The page of up to `size` events of the whole feed after `start`.
    pub(crate) async fn page(
        &self,
        start: Cursor,
        size: usize,
    ) -> Result<Arc<SharedPage>, ProjectionError> {
        let slot = loop {
            let moved = self.feed.moved.notified();
            let (slot, moved_on) = {
                let mut state = self.feed.lock();
                let place = state
                    .readers
                    .entry(self.id)
                    .or_insert((start, Instant::now()));
                let moved_on = place.0 != start;
                if moved_on {
                    *place = (start, Instant::now());
                }
                state.evict();
                let slot = if let Some(slot) = state.pages.get(&(start, size)) {
                    Some(slot.clone())
                } else if state.too_far_ahead(self.id, start) {
                    None
                } else {
                    let slot = Slot::default();
                    if state.pages.len() < CAPACITY {
                        state.keep((start, size), slot.clone());
                    }
                    Some(slot)
                };
                (slot, moved_on)
            };
            if moved_on {
                // Readers waiting for this one to come closer look again.
                self.feed.moved.notify_waiters();
            }
            match slot {
                Some(slot) => break slot,
                // Let the slower readers catch up (they notify as they move on).
                None => {
                    let _ = tokio::time::timeout(Duration::from_millis(200), moved).await;
                }
            }
        };
        let page = slot
            .get_or_try_init(|| self.feed.read(start, size))
            .await?
            .clone();
        if !page.caught_up {
            self.prefetch(page.next, size);
        }
        Ok(page)
    }

    /// Starts reading the page after `start` in the background, if nobody has yet and
    /// there is room for it.
    fn prefetch(&self, start: Cursor, size: usize) {
        let slot = {
            let mut state = self.feed.lock();
            if state.pages.len() >= CAPACITY || state.pages.contains_key(&(start, size)) {
                return;
            }
            let slot = Slot::default();
            state.keep((start, size), slot.clone());
            slot
        };
        let feed = self.feed.clone();
        tokio::spawn(async move {
            // A failed read leaves the slot empty: the reader that needs it tries again.
            let _ = slot.get_or_try_init(|| feed.read(start, size)).await;
        });
    }
}

impl Drop for SharedReader {
    fn drop(&mut self) {
        {
            let mut state = self.feed.lock();
            state.readers.remove(&self.id);
            state.evict();
        }
        self.feed.moved.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use crm_eventlog::{ExpectedVersion, NewEvent};
    use serde_json::json;

    use super::*;

    /// Appends `n` events, alternating two types, 50 per append over 5 streams.
    async fn fill(log: &EventLog, n: usize) {
        for chunk in 0..n / 50 {
            let events: Vec<NewEvent> = (0..50)
                .map(|i| {
                    let kind = if i % 3 == 0 { "Rare" } else { "Common" };
                    NewEvent::new(kind, json!({ "i": chunk * 50 + i }))
                })
                .collect();
            log.append(&format!("s-{}", chunk % 5), ExpectedVersion::Any, events)
                .await
                .unwrap();
        }
    }

    /// Positions in feed order, of one type or all, read with plain SQL.
    async fn positions(pool: &PgPool, kind: Option<&str>) -> Vec<i64> {
        sqlx::query_scalar(
            "SELECT position FROM eventlog.events WHERE $1::text IS NULL OR event_type = $1 \
              ORDER BY tx_id, position",
        )
        .bind(kind)
        .fetch_all(pool)
        .await
        .unwrap()
    }

    #[sqlx::test(migrations = false)]
    async fn readers_at_different_paces_share_each_page_and_see_the_whole_feed(pool: PgPool) {
        crm_eventlog::MIGRATOR.run(&pool).await.unwrap();
        let log = EventLog::new(pool.clone());
        fill(&log, 2_000).await;
        // The feed shows a transaction once every older one in the cluster has ended
        // (other tests' included): wait until all 2,000 are there, so that a reader's
        // end of the feed is the log's.
        while log
            .read_feed(Cursor::start(), 10_000, &FeedFilter::default())
            .await
            .unwrap()
            .events
            .len()
            < 2_000
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let feed = SharedFeed::new(log.clone());
        let mut tasks = Vec::new();
        for k in 0..4u64 {
            let reader = feed.reader();
            let kind = (k % 2 == 1).then(|| vec!["Rare".to_owned()]);
            tasks.push(tokio::spawn(async move {
                let (mut cursor, mut seen) = (Cursor::start(), Vec::new());
                loop {
                    let page = reader.page(cursor, 100).await.unwrap();
                    let events = page.of_types(kind.as_deref());
                    seen.extend(events.iter().map(|e| e.stored.position));
                    // Readers apply at different speeds.
                    tokio::time::sleep(Duration::from_millis(k * 4)).await;
                    cursor = page.next;
                    if page.caught_up {
                        return seen;
                    }
                }
            }));
        }
        let (all, rare) = (
            positions(&pool, None).await,
            positions(&pool, Some("Rare")).await,
        );
        for (k, task) in tasks.into_iter().enumerate() {
            let seen = task.await.unwrap();
            let expected = if k % 2 == 1 { &rare } else { &all };
            assert_eq!(
                &seen, expected,
                "reader {k} sees its events once, in feed order"
            );
        }
        // 20 full pages and the empty one at the end: each read once (the last one
        // may be read twice, by a prefetch and by a reader that came after it ended).
        let reads = feed.reads.load(Ordering::Relaxed);
        assert!((21..=22).contains(&reads), "{reads} reads");
        let most = feed.lock().most_kept;
        assert!(most <= CAPACITY, "{most} pages kept at once");
        assert!(feed.lock().pages.is_empty(), "no reader left, no page kept");
    }
}
