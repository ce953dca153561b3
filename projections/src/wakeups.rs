//! Wake-ups within this process: checkpoint commits, announced to read-your-writes
//! waiters, and rebuild requests, announced to runners, so each looks again at once
//! instead of at its next poll. (Other processes still see both at their next poll.)
//! And the live batches under way, which the rebuilds of the process give way to.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify, Semaphore, SemaphorePermit};

/// Something that happens, counted, for whoever watches it in this process.
pub(crate) struct Signal(LazyLock<watch::Sender<u64>>);

impl Signal {
    const fn new() -> Self {
        Signal(LazyLock::new(|| watch::channel(0).0))
    }

    /// Tells every watcher that it happened.
    pub(crate) fn announce(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees what is announced after this call.
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        let mut receiver = self.0.subscribe();
        receiver.mark_unchanged();
        receiver
    }
}

/// A runner of this process committed a batch (its checkpoint moved).
pub(crate) static COMMITS: Signal = Signal::new();

/// A rebuild was requested in this process.
pub(crate) static REBUILDS: Signal = Signal::new();

/// How long after a live batch a rebuild still takes turns (see [`LiveWork`]).
const LIVE_LATELY: Duration = Duration::from_secs(1);

/// The longest a rebuild's batch waits for the live batches under way.
const GIVE_WAY_AT_MOST: Duration = Duration::from_millis(50);

/// The live batches of this process: how many are under way and when the last began.
/// Rebuilds give way to them: while live batches came lately, the rebuilds of the
/// process apply one batch at a time (a turn, [`LiveWork::turn`]), leaving the other
/// core to the live runners and the queries, and each waits for the live batches under
/// way before it begins; with no live work they run side by side at full speed.
pub(crate) struct LiveWork {
    running: AtomicUsize,
    /// When the last live batch began, in milliseconds after `EPOCH`.
    last: AtomicU64,
    ended: Notify,
    turns: Semaphore,
}

/// The clock of [`LiveWork::last`].
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// The live work of this process.
pub(crate) static LIVE: LiveWork = LiveWork {
    running: AtomicUsize::new(0),
    last: AtomicU64::new(0),
    ended: Notify::const_new(),
    turns: Semaphore::const_new(1),
};

/// A live batch under way (ends when dropped).
pub(crate) struct LiveBatch(&'static LiveWork);

impl Drop for LiveBatch {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.ended.notify_waiters();
        }
    }
}

/// A rebuild's turn to apply a batch (None: no live work lately, no turns taken).
pub(crate) struct Turn {
    /// Held until the turn ends.
    _permit: Option<SemaphorePermit<'static>>,
}

impl LiveWork {
    fn now() -> u64 {
        u64::try_from(EPOCH.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A live batch begins.
    pub(crate) fn begin(&'static self) -> LiveBatch {
        self.running.fetch_add(1, Ordering::AcqRel);
        self.last.store(Self::now().max(1), Ordering::Release);
        LiveBatch(self)
    }

    /// True when a live batch began within [`LIVE_LATELY`].
    fn lately(&self) -> bool {
        let last = self.last.load(Ordering::Acquire);
        last > 0 && Self::now().saturating_sub(last) < LIVE_LATELY.as_millis() as u64
    }

    /// Before a rebuild's batch: while live batches came lately, waits for its turn
    /// (one rebuild batch at a time in the process) and for the live batches under way
    /// to end (at most [`GIVE_WAY_AT_MOST`]); holds the turn until dropped.
    pub(crate) async fn turn(&'static self) -> Turn {
        if !self.lately() {
            return Turn { _permit: None };
        }
        let permit = self.turns.acquire().await.ok();
        let deadline = tokio::time::Instant::now() + GIVE_WAY_AT_MOST;
        loop {
            let ended = self.ended.notified();
            if self.running.load(Ordering::Acquire) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                break;
            }
        }
        Turn { _permit: permit }
    }
}
