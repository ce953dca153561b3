//! The projector runtime (checkpoints, batches, rebuilds) and every read model the API
//! queries: funnels, manager KPIs, conversion, overdue lists, client cards.
//!
//! Each read model owns its tables through this crate's migrations and is built only
//! from the event log's feed (`crm_eventlog::EventLog::subscribe`), so any of them can
//! be dropped and rebuilt from the log and come out identical.
//!
//! # The runtime
//!
//! - A [`Projection`] is a named, versioned unit that applies batches of events to its
//!   own tables inside a transaction the runtime gives it.
//! - A [`Runner`] drives one projection: it reads a batch from the feed *outside* any
//!   write transaction, then in one short transaction applies it and moves the
//!   projection's checkpoint (`projections.checkpoints`) past it, so a crash at any
//!   instant neither loses nor repeats an event's effect. The checkpoint's cursor is
//!   also a fence: a commit whose expected cursor is not the stored one applies
//!   nothing, so even two runners that both believed they were active could not
//!   double-apply.
//! - Only one runner per projection is active across processes: it holds a
//!   session-level advisory lock (`pg_try_advisory_lock(LOCK_CLASS, hashtext(name))`)
//!   on a dedicated connection; others wait as standbys and retry every second.
//! - A projection whose `apply` fails stops alone (status `failed`, the exact event's
//!   position, the error) and retries with backoff, its tables still answering; an
//!   operator gets it past that event with a [`repair`] (skip or sanitize it, recorded
//!   for good); a [`ProjectorSet`] runs many.
//! - [`status`], [`wait_until_reflects`] and [`rebuild`] serve the API and the CLI.

mod batch;
mod calendar;
mod checkpoint;
pub mod clients;
mod copy_state;
pub mod custom;
pub mod day;
pub mod deals;
mod entity_status;
mod error;
mod event;
pub mod interactions;
pub mod leads;
pub mod managers;
mod names;
pub mod personal;
mod projection;
pub mod repairs;
pub mod rules;
mod runner;
pub mod sales;
mod set;
mod shadow;
mod shared_feed;
mod status;
pub mod tasks;
mod threads;
pub mod total;
mod wakeups;

pub use entity_status::UnknownStatus;
pub use error::ProjectionError;
pub use event::FeedEvent;
pub use projection::Projection;
pub use repairs::{repair, Repair, RepairAction};
pub use runner::{Runner, RunnerConfig, LOCK_CLASS};
pub use set::{ProjectorSet, RunningProjectors};
pub use shadow::RebuildRequest;
pub use status::{
    model_positions, rebuild, rebuild_progress, status, wait_until_reflects, ModelPosition,
    ProjectionStatus, RebuildProgress, LAG_COUNT_CAP,
};
pub use total::Total;

use sqlx::PgPool;

/// This crate's schema migrations (the versions in `projections/migrations/`). Other
/// crates keep their own migrations in the same database, so those are not "missing".
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate::Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("./migrations")
};

/// Applies the event log's migrations, then this crate's.
pub async fn migrate(pool: &PgPool) -> Result<(), ProjectionError> {
    crm_eventlog::MIGRATOR.run(pool).await?;
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// The built-in read models, which `crm serve` and `crm project` keep live; each
/// report's read model registers here.
pub fn builtin() -> Vec<std::sync::Arc<dyn Projection>> {
    vec![
        std::sync::Arc::new(deals::Deals),
        std::sync::Arc::new(tasks::Tasks),
        std::sync::Arc::new(leads::Leads),
        std::sync::Arc::new(managers::ManagerKpisProjection),
        std::sync::Arc::new(clients::Clients),
        std::sync::Arc::new(interactions::Interactions),
        std::sync::Arc::new(rules::Rules),
        std::sync::Arc::new(sales::Sales),
        std::sync::Arc::new(custom::Catalog),
    ]
}
