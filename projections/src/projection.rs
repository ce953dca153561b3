//! What a projection is: a named, versioned unit that owns tables and applies events.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{Postgres, Transaction};

use crate::error::ProjectionError;
use crate::event::FeedEvent;

/// A read model built from the feed.
///
/// **Tables.** A projection owns its tables. Read models of this crate create them in
/// this crate's migrations (`projections/migrations`, versions `2026112220xxxx`);
/// [`Projection::setup`] exists for idempotent DDL (`CREATE TABLE IF NOT EXISTS`) of
/// projections defined elsewhere, such as tests. Only the projection's code writes
/// them, and only inside the transactions the runtime hands it.
///
/// **Schemas.** [`Projection::tables`] names its tables in schema `projections`. Its
/// `apply` and `reset` refer to them *unqualified*: the runtime sets `search_path` to
/// the live schema, or to a rebuild's shadow schema (tables made `LIKE` the live
/// ones) while a rebuild runs beside the live copy, then swaps them in.
///
/// **Transactions.** `apply` runs inside the transaction that also moves the
/// projection's checkpoint: it must not commit, and should do set-based writes (one
/// statement per table per batch where it can) so the transaction stays short.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// The projection's unique, stable name (the checkpoint's key and the lock's).
    fn name(&self) -> &str;

    /// The version of its code and tables: a different version than the checkpoint's
    /// resets its tables and replays the whole log.
    fn version(&self) -> i32;

    /// The tables it owns in schema `projections` (unqualified names).
    fn tables(&self) -> Vec<&str>;

    /// The indexes (by name) its `apply` looks rows up by, besides primary keys and
    /// unique constraints. A rebuild beside the live tables fills its copy with only
    /// these and the unique ones, and builds the others (indexes for queries) in one go
    /// once the copy has caught up: cheaper than keeping them up to date row by row.
    fn apply_indexes(&self) -> Vec<&str> {
        Vec::new()
    }

    /// The event types it reads (the feed filter); None for every event.
    fn event_types(&self) -> Option<Vec<String>> {
        None
    }

    /// Creates its tables if they are missing. Runs in its own transaction each time a
    /// runner becomes active, before anything else; the default does nothing.
    async fn setup(&self, _tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        Ok(())
    }

    /// Applies a batch of events, in feed order, to its tables inside `tx`. Each event
    /// comes decoded (once per process, for every projection that reads it).
    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError>;

    /// Applies a batch to a copy being filled beside the live tables (a rebuild, a
    /// first build beside): the same as [`Projection::apply`] unless the projection
    /// keeps work for [`Projection::finish_copy`]. The default is `apply`.
    async fn apply_copy(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError> {
        self.apply(tx, events).await
    }

    /// Completes a copy filled by [`Projection::apply_copy`] once it has caught up
    /// (before its tables are made logged, indexed and swapped in), inside `tx` with
    /// the copy's schema first in `search_path`; it runs once per process driving the
    /// copy, and the batches after it (the copy catching up for the swap) go through
    /// `apply`. A rebuild resumed after a restart may call `apply_copy` after an earlier
    /// `finish_copy`, then `finish_copy` again. After it, the copy must equal what
    /// `apply` would have made. The default does nothing.
    async fn finish_copy(
        &self,
        _tx: &mut Transaction<'_, Postgres>,
    ) -> Result<(), ProjectionError> {
        Ok(())
    }

    /// Empties its tables for a rebuild, inside `tx` (with its checkpoint's reset).
    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError>;
}
