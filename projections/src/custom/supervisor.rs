//! Keeps the custom projections of the catalog running: starts a runner for each
//! generation to build or keep live, makes a new generation live once it has caught up
//! with the log, and drops the generations (and tables) nobody needs any more.
//!
//! Every process that runs projectors runs a supervisor; what the supervisors write
//! is idempotent, so any number of them agree. Each generation runs in one process at
//! a time, under the same advisory lock a built-in runner takes; but a supervisor
//! holds the locks of all its runners on one connection of its own ([`Locks`]), open
//! only while it runs any, and its runners take none: however many projections are
//! defined, they hold one connection besides the log's bounded pool, and give it back
//! once none is left. If that connection dies, every runner it covered stops and the
//! locks are taken anew.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crm_eventlog::EventLog;
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::catalog;
use super::definition;
use super::plan::Plan;
use super::projection::{checkpoint_name, CustomProjection};
use super::table::Tables;
use crate::error::ProjectionError;
use crate::runner::{Runner, RunnerConfig, LOCK_CLASS};
use crate::shared_feed::SharedFeed;

/// How often a supervisor looks at the catalog when nothing wakes it.
const PERIOD: Duration = Duration::from_millis(500);

/// A generation in `custom_runtime`.
#[derive(Debug, Clone)]
struct Generation {
    name: String,
    generation: i64,
    definition: Value,
    live: bool,
}

/// A runner this supervisor started.
struct Child {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// The advisory locks of this supervisor's runners, all held on one connection.
#[derive(Default)]
struct Locks {
    conn: Option<PgConnection>,
    held: HashSet<String>,
}

impl Locks {
    /// True when the connection is gone or broken: every lock it held is lost.
    async fn lost(&mut self) -> bool {
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        if sqlx::query("SELECT 1").execute(conn).await.is_ok() {
            return false;
        }
        self.conn = None;
        self.held.clear();
        true
    }

    /// Takes the lock of runner `key` (connecting first if needed); false when
    /// another process holds it.
    async fn take(&mut self, log: &EventLog, key: &str) -> Result<bool, ProjectionError> {
        if self.held.contains(key) {
            return Ok(true);
        }
        let conn = match self.conn.as_mut() {
            Some(conn) => conn,
            None => {
                let options = log.pool().connect_options();
                self.conn
                    .insert(PgConnection::connect_with(&options).await?)
            }
        };
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
            .bind(LOCK_CLASS)
            .bind(key)
            .fetch_one(conn)
            .await?;
        if got {
            self.held.insert(key.to_owned());
        }
        Ok(got)
    }

    /// Gives back the lock of runner `key` (once its runner has stopped).
    async fn release(&mut self, key: &str) {
        if !self.held.remove(key) {
            return;
        }
        if let Some(conn) = self.conn.as_mut() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1, hashtext($2))")
                .bind(LOCK_CLASS)
                .bind(key)
                .execute(conn)
                .await;
            if unlocked.is_err() {
                // Broken: closing it gives every lock back.
                self.conn = None;
                self.held.clear();
            }
        }
    }

    /// Closes the connection when no lock is held (nothing runs here).
    async fn close_if_idle(&mut self) {
        if self.held.is_empty() {
            if let Some(conn) = self.conn.take() {
                let _ = conn.close().await;
            }
        }
    }

    /// Closes the connection, giving back every lock.
    async fn close(&mut self) {
        self.held.clear();
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
    }
}

/// Runs until `shutdown`: reconciles the runners with the catalog now and then.
pub(crate) async fn run(
    log: EventLog,
    config: RunnerConfig,
    feed: SharedFeed,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut children: HashMap<String, Child> = HashMap::new();
    let mut refused: HashSet<String> = HashSet::new();
    let mut locks = Locks::default();
    let mut commits = crate::wakeups::COMMITS.watch();
    loop {
        if *shutdown.borrow() || shutdown.has_changed().is_err() {
            break;
        }
        if locks.lost().await {
            tracing::warn!(
                "custom projections: lost the locks' connection; stopping their runners"
            );
            for (_, child) in children.drain() {
                stop(child).await;
            }
        }
        let outcome = reconcile(
            &log,
            &config,
            &feed,
            &mut children,
            &mut refused,
            &mut locks,
        )
        .await;
        locks.close_if_idle().await;
        if let Err(err) = outcome {
            if err.is_transient() {
                tracing::debug!(error = %err.chain(), "custom projections: database unavailable");
            } else {
                tracing::warn!(error = %err.chain(), "custom projections: reconciling failed");
            }
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            changed = commits.changed() => {
                if changed.is_ok() {
                    commits.mark_unchanged();
                }
                // Batches commit often (every page of a build): look at most a few
                // times a second, leaving the builds the machine.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            () = tokio::time::sleep(PERIOD) => {}
        }
    }
    for (_, child) in children.drain() {
        stop(child).await;
    }
    locks.close().await;
}

async fn stop(child: Child) {
    let _ = child.shutdown.send(true);
    let _ = child.task.await;
}

/// One pass: the runtime table follows the catalog, caught-up generations become
/// live, obsolete ones are dropped, and this process runs a runner per generation.
async fn reconcile(
    log: &EventLog,
    config: &RunnerConfig,
    feed: &SharedFeed,
    children: &mut HashMap<String, Child>,
    refused: &mut HashSet<String>,
    locks: &mut Locks,
) -> Result<(), ProjectionError> {
    let pool = log.pool();
    // A runner that ended by itself (it only does on a panic) is started again.
    let ended: Vec<String> = children
        .iter()
        .filter(|(_, child)| child.task.is_finished())
        .map(|(key, _)| key.clone())
        .collect();
    for key in ended {
        if let Some(child) = children.remove(&key) {
            stop(child).await;
        }
        locks.release(&key).await;
    }
    let catalog: HashMap<String, catalog::Entry> = catalog::entries(pool)
        .await?
        .into_iter()
        .map(|e| (e.name.clone(), e))
        .collect();
    for entry in catalog.values() {
        sqlx::query(
            "INSERT INTO projections.custom_runtime (name, generation, definition) \
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(&entry.name)
        .bind(entry.generation)
        .bind(&entry.definition)
        .execute(pool)
        .await?;
    }
    let mut wanted = Vec::new();
    let mut promoted_over = HashSet::new();
    for g in generations(pool).await? {
        let current = catalog.get(&g.name).map(|e| e.generation);
        if current == Some(g.generation) {
            if !g.live
                && super::status::caught_up(log, &checkpoint_name(&g.name, g.generation)).await?
            {
                for older in promote(pool, &g).await? {
                    promoted_over.insert((g.name.clone(), older));
                }
                tracing::info!(
                    projection = g.name,
                    generation = g.generation,
                    "custom projection is live"
                );
            }
            wanted.push(g.clone());
        } else if g.live && current.is_some() {
            // Keeps answering until the generation replacing it has caught up.
            wanted.push(g.clone());
        } else {
            let key = checkpoint_name(&g.name, g.generation);
            if let Some(child) = children.remove(&key) {
                stop(child).await;
            }
            locks.release(&key).await;
            retire(pool, &g).await?;
        }
    }
    // A promotion dropped the generations before it, which this pass may have listed.
    wanted.retain(|g| !promoted_over.contains(&(g.name.clone(), g.generation)));
    let names: HashSet<String> = wanted
        .iter()
        .map(|g| checkpoint_name(&g.name, g.generation))
        .collect();
    let gone: Vec<String> = children
        .keys()
        .filter(|k| !names.contains(*k))
        .cloned()
        .collect();
    for key in gone {
        if let Some(child) = children.remove(&key) {
            stop(child).await;
        }
        locks.release(&key).await;
    }
    for g in wanted {
        let key = checkpoint_name(&g.name, g.generation);
        if children.contains_key(&key) || refused.contains(&key) {
            continue;
        }
        if !locks.take(log, &key).await? {
            // Another process runs this generation.
            continue;
        }
        let plan = match definition::parse(&g.definition).and_then(Plan::new) {
            Ok(plan) => plan,
            Err(problems) => {
                // Definitions are checked before they are appended: this one was
                // appended by older code (one naming personal data, say), or by hand.
                let error = super::describe(&problems);
                tracing::error!(
                    projection = g.name,
                    generation = g.generation,
                    error,
                    "custom projection definition refused: not built, its rows dropped"
                );
                refuse(pool, &g, &error).await?;
                refused.insert(key.clone());
                locks.release(&key).await;
                continue;
            }
        };
        let projection = std::sync::Arc::new(CustomProjection::new(&g.name, g.generation, plan));
        let (shutdown, receiver) = watch::channel(false);
        // Built in place: the analyst watches its rows and progress grow as it builds.
        let config = RunnerConfig {
            first_build_beside: None,
            ..config.clone()
        };
        let runner = Runner::new(log.clone(), projection)
            .with_config(config)
            .with_shared_feed(feed.clone());
        let task = tokio::spawn(runner.run_locked(receiver));
        children.insert(key, Child { shutdown, task });
    }
    Ok(())
}

async fn generations(pool: &PgPool) -> Result<Vec<Generation>, ProjectionError> {
    let rows: Vec<(String, i64, Value, bool)> = sqlx::query_as(
        "SELECT name, generation, definition, live FROM projections.custom_runtime \
          ORDER BY name, generation",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, generation, definition, live)| Generation {
            name,
            generation,
            definition,
            live,
        })
        .collect())
}

/// Makes `g` the live generation of its name and drops the others, in one transaction
/// (queries see the old rows or the new, never neither); the generations it dropped.
async fn promote(pool: &PgPool, g: &Generation) -> Result<Vec<i64>, ProjectionError> {
    let mut tx = pool.begin().await?;
    let older: Vec<i64> = sqlx::query_scalar(
        "SELECT generation FROM projections.custom_runtime \
          WHERE name = $1 AND generation <> $2 FOR UPDATE",
    )
    .bind(&g.name)
    .bind(g.generation)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query("UPDATE projections.custom_runtime SET live = false WHERE name = $1 AND live")
        .bind(&g.name)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE projections.custom_runtime SET live = true, live_since = now() \
          WHERE name = $1 AND generation = $2",
    )
    .bind(&g.name)
    .bind(g.generation)
    .execute(&mut *tx)
    .await?;
    for generation in &older {
        drop_generation(&mut tx, &g.name, *generation).await?;
    }
    tx.commit().await?;
    Ok(older)
}

/// A generation whose definition no longer passes the check: its tables (rows that
/// older code may have built from what the check now refuses, personal data say) are
/// dropped, and its checkpoint says `failed` with the reasons, at the start of the log
/// (`GET /projections` shows it). It stays in the runtime table until redefined or
/// dropped.
async fn refuse(pool: &PgPool, g: &Generation, error: &str) -> Result<(), ProjectionError> {
    let key = checkpoint_name(&g.name, g.generation);
    let mut tx = pool.begin().await?;
    for table in Tables::of(&g.name, g.generation).all() {
        sqlx::query(&format!("DROP TABLE IF EXISTS projections.\"{table}\""))
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(&format!(
        "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
        crate::shadow::schema_of(&key)
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO projections.checkpoints (name, version, cursor, status, last_error) \
         VALUES ($1, 1, $2, 'failed', $3) \
         ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor, status = 'failed', \
           last_error = excluded.last_error, failed_position = NULL, events_applied = 0, \
           rebuild_cursor = NULL, updated_at = now()",
    )
    .bind(&key)
    .bind(crm_eventlog::Cursor::start().to_string())
    .bind(format!("definition refused: {error}"))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Drops a generation nobody needs: its tables, checkpoint and runtime row.
async fn retire(pool: &PgPool, g: &Generation) -> Result<(), ProjectionError> {
    let mut tx = pool.begin().await?;
    drop_generation(&mut tx, &g.name, g.generation).await?;
    tx.commit().await?;
    tracing::info!(
        projection = g.name,
        generation = g.generation,
        "custom projection generation dropped"
    );
    Ok(())
}

async fn drop_generation(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    name: &str,
    generation: i64,
) -> Result<(), ProjectionError> {
    let key = checkpoint_name(name, generation);
    sqlx::query("DELETE FROM projections.custom_runtime WHERE name = $1 AND generation = $2")
        .bind(name)
        .bind(generation)
        .execute(&mut **tx)
        .await?;
    for table in Tables::of(name, generation).all() {
        sqlx::query(&format!("DROP TABLE IF EXISTS projections.\"{table}\""))
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(&format!(
        "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
        crate::shadow::schema_of(&key)
    ))
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM projections.checkpoints WHERE name = $1")
        .bind(&key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// True while generation `generation` of `name` is one the runtime table lists; a
/// runner's setup takes a share lock on it so that a drop waits for the setup.
pub(crate) async fn listed(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    name: &str,
    generation: i64,
) -> Result<bool, ProjectionError> {
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM projections.custom_runtime WHERE name = $1 AND generation = $2 FOR KEY SHARE",
    )
    .bind(name)
    .bind(generation)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(found.is_some())
}
