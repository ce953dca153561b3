//! The threads the rebuilds of a process run on: a tokio runtime of their own, so
//! that folding and decoding a rebuild's pages (tens of milliseconds of CPU at a time)
//! never occupies the workers that serve requests and apply the live batches.

use std::sync::LazyLock;

use tokio::runtime::{Builder, Handle, Runtime};

/// The rebuilds' runtime: one worker thread less than the machine has cores (at least
/// one), so one core stays for the live work; made on first use, kept for the
/// process's life. None when it could not be made (the rebuilds then run on the
/// runtime that asks).
static REBUILDS: LazyLock<Option<Runtime>> = LazyLock::new(|| {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1).max(1))
        .unwrap_or(1);
    match Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("crm-rebuild")
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime),
        Err(err) => {
            tracing::warn!(error = %err, "no runtime of their own for rebuilds: they share the caller's");
            None
        }
    }
});

/// Where a rebuild's task is spawned: the rebuilds' own runtime, else the current one.
/// Must be called inside a tokio runtime.
pub(crate) fn rebuilds() -> Handle {
    REBUILDS
        .as_ref()
        .map_or_else(Handle::current, |runtime| runtime.handle().clone())
}
