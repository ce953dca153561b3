//! Wake-ups within this process: checkpoint commits, announced to read-your-writes
//! waiters, and rebuild requests, announced to runners, so each looks again at once
//! instead of at its next poll. (Other processes still see both at their next poll.)

use std::sync::LazyLock;

use tokio::sync::watch;

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
