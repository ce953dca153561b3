//! Helpers for the end-to-end tests: the app on a fresh database ([`TestApp`]),
//! throwaway PostgreSQL clusters ([`TempCluster`]) and the like.

mod app;
pub mod company;
mod copy;
pub mod read;
pub mod routes;
pub mod scenario;

pub use app::{Answer, TestApp, ADMIN_TOKEN};
pub use copy::{copy_database, drop_database};

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crm_cli::embedded::{EmbeddedError, EmbeddedPostgres};

/// A private PostgreSQL cluster in a fresh folder under /tmp. Dropping it stops the
/// server and removes the folder, also when a test panics.
pub struct TempCluster {
    pg: EmbeddedPostgres,
    dir: PathBuf,
}

impl TempCluster {
    /// Starts a new cluster in `/tmp/crm-test-<random>` (the `crm` database created).
    pub async fn start() -> Result<TempCluster, EmbeddedError> {
        let dir = Path::new("/tmp").join(format!("crm-test-{}", uuid::Uuid::new_v4().simple()));
        match EmbeddedPostgres::start(&dir, None).await {
            Ok(pg) => Ok(TempCluster { pg, dir }),
            Err(err) => {
                // Whatever got created is of no use.
                let _ = std::fs::remove_dir_all(&dir);
                Err(err)
            }
        }
    }

    /// The running cluster.
    pub fn pg(&self) -> &EmbeddedPostgres {
        &self.pg
    }

    /// The URL of its `crm` database.
    pub fn database_url(&self) -> String {
        self.pg.database_url()
    }

    /// The folder it lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        if let Err(err) = self.pg.stop_blocking() {
            eprintln!(
                "cannot stop the test cluster in {}: {err}",
                self.dir.display()
            );
        }
        if let Err(err) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("cannot remove {}: {err}", self.dir.display());
        }
    }
}

/// Calls `attempt` until it succeeds, while `retry_on` says its error is transient,
/// for at most `within`. Returns the last error otherwise.
pub async fn retry<T, E, F, Fut>(
    within: Duration,
    retry_on: impl Fn(&E) -> bool,
    mut attempt: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match attempt().await {
            Err(err) if retry_on(&err) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}
