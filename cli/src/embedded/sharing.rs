//! How `crm` processes share one cluster, and which of them stops it.
//!
//! Every process using the cluster holds a shared lock on `users.lock` in the
//! cluster's folder for as long as it runs (the kernel lets go of it when the process
//! ends, however it ends). Starting, joining and leaving happen one process at a time,
//! under an exclusive lock on `cluster.lock`. `started-by-crm` names the server
//! process that crm started. A process leaving stops the server only when it is the
//! last holder of `users.lock` and the server is the one crm started: so the server
//! keeps running while any `crm` process uses it, and a cluster started by hand is
//! never stopped.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use super::EmbeddedError;

/// Held exclusively while the cluster is started, joined or left.
const TRANSITION_LOCK: &str = "cluster.lock";

/// Held shared by every process using the cluster.
const USERS_LOCK: &str = "users.lock";

/// The server process crm started: its pid and start time, from `postmaster.pid`.
const STARTED_MARK: &str = "started-by-crm";

/// The exclusive right to start, join or leave the cluster, until dropped.
#[derive(Debug)]
pub(super) struct Transition {
    _lock: File,
}

impl Transition {
    /// Waits for the other processes' transitions on the cluster in `dir` to end.
    pub(super) async fn begin(dir: &Path) -> Result<Transition, EmbeddedError> {
        let path = dir.join(TRANSITION_LOCK);
        let file = open(&path)?;
        let locked = tokio::task::spawn_blocking(move || file.lock().map(|()| file)).await;
        match locked {
            Ok(Ok(file)) => Ok(Transition { _lock: file }),
            Ok(Err(source)) => Err(lock_err(path, source)),
            Err(joined) => Err(lock_err(path, io::Error::other(joined))),
        }
    }

    /// [`Transition::begin`] for code without a runtime (`Drop` guards).
    pub(super) fn begin_blocking(dir: &Path) -> Result<Transition, EmbeddedError> {
        let path = dir.join(TRANSITION_LOCK);
        let file = open(&path)?;
        file.lock().map_err(|source| lock_err(path, source))?;
        Ok(Transition { _lock: file })
    }
}

/// This process's use of the cluster, until dropped.
#[derive(Debug)]
pub(super) struct Share {
    file: File,
    path: PathBuf,
}

impl Share {
    /// Declares this process a user of the cluster in `dir` (take it during a
    /// [`Transition`], so that no process leaving misses it).
    pub(super) fn take(dir: &Path) -> Result<Share, EmbeddedError> {
        let path = dir.join(USERS_LOCK);
        let file = open(&path)?;
        file.lock_shared()
            .map_err(|source| lock_err(path.clone(), source))?;
        Ok(Share { file, path })
    }

    /// True when no other process uses the cluster (during a [`Transition`]; the share
    /// is then held exclusively, and may be lost when others use it: drop it after).
    pub(super) fn is_last(&self) -> Result<bool, EmbeddedError> {
        match self.file.try_lock() {
            Ok(()) => Ok(true),
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Error(source)) => Err(lock_err(self.path.clone(), source)),
        }
    }
}

/// Records that crm started the server now running on `pgdata`.
pub(super) fn mark_started(dir: &Path, pgdata: &Path) -> Result<(), EmbeddedError> {
    let path = dir.join(STARTED_MARK);
    let server = running_server(pgdata).unwrap_or_default();
    std::fs::write(&path, format!("{server}\n")).map_err(|source| EmbeddedError::Io {
        what: "cannot write",
        path,
        source,
    })
}

/// True when the server running on `pgdata` is the one crm started.
pub(super) fn started_by_crm(dir: &Path, pgdata: &Path) -> bool {
    let marked = std::fs::read_to_string(dir.join(STARTED_MARK)).unwrap_or_default();
    running_server(pgdata).is_some_and(|server| marked.trim() == server)
}

/// Forgets which server crm started (it is stopped).
pub(super) fn clear_mark(dir: &Path) -> Result<(), EmbeddedError> {
    let path = dir.join(STARTED_MARK);
    match std::fs::remove_file(&path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(EmbeddedError::Io {
            what: "cannot remove",
            path,
            source: err,
        }),
        _ => Ok(()),
    }
}

/// The pid and start time of the server running on `pgdata` (lines 1 and 3 of its
/// `postmaster.pid`), which tell one server process from any later one.
fn running_server(pgdata: &Path) -> Option<String> {
    let content = std::fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
    let lines: Vec<&str> = content.lines().collect();
    let (pid, started) = (lines.first()?.trim(), lines.get(2)?.trim());
    (!pid.is_empty() && !started.is_empty()).then(|| format!("{pid} {started}"))
}

fn open(path: &Path) -> Result<File, EmbeddedError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|source| EmbeddedError::Io {
            what: "cannot open",
            path: path.to_path_buf(),
            source,
        })
}

fn lock_err(path: PathBuf, source: io::Error) -> EmbeddedError {
    EmbeddedError::Io {
        what: "cannot lock",
        path,
        source,
    }
}
