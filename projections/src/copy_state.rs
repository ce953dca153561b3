//! State a projection keeps in memory across the batches of a copy being filled beside
//! the live tables (a rebuild, a first build beside), so that each batch need not look
//! up again in the copy's tables what the batches before it wrote there.
//!
//! The state is only ever a cache of what the copy's tables hold: every batch still
//! writes its rows, so a rebuild resumed after a restart (with no state) or driven by
//! another process comes out the same. A state is used for a batch only when it was
//! left by the batch just before it on the same copy: same database, same shadow
//! schema (a rebuild started again makes a new one), and the copy's count of applied
//! events (`projections.checkpoints.rebuild_events`, moved in each batch's
//! transaction) exactly what it was once that batch had applied. A batch rolled
//! back, or batches applied by another process meanwhile, make the counts differ and
//! the state is dropped.

use std::collections::HashMap;
use std::sync::Mutex;

use sqlx::{Postgres, Transaction};

use crate::error::ProjectionError;

/// The copy a state belongs to: a database and the oid of the copy's shadow schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Copy {
    database: String,
    schema: i64,
}

/// A state and the copy's applied-event count it matches.
struct Slot<T> {
    events: i64,
    state: T,
}

/// The most copies whose states are kept at once (one per rebuild under way in the
/// process; tests run many databases side by side). More, and all are dropped.
const MOST_COPIES: usize = 16;

/// The in-memory states of one projection's copies, one per copy being filled.
pub(crate) struct CopyStates<T> {
    slots: Mutex<Option<HashMap<Copy, Slot<T>>>>,
}

/// A state taken for one batch of a copy; give it back with [`CopyStates::keep`]
/// once the batch is applied.
pub(crate) struct Taken<T> {
    copy: Copy,
    /// The copy's applied-event count before the batch.
    events: i64,
    /// The state as the batches before left it.
    pub(crate) state: T,
    /// True when `state` is what the copy's batches so far left (kept by the batch
    /// just before, or a new one for a copy still empty); false when it is a new one
    /// for a copy that already holds rows (resumed, or filled by another process).
    pub(crate) valid: bool,
}

impl<T: Default> CopyStates<T> {
    /// No state yet.
    pub(crate) const fn new() -> Self {
        CopyStates {
            slots: Mutex::new(None),
        }
    }

    /// The state for a batch of the copy `tx` fills (its schema first in
    /// `search_path`) of projection `name`: the one the previous batch left when it is
    /// still valid, else a new one (valid when the copy is still empty).
    pub(crate) async fn take(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        name: &str,
    ) -> Result<Taken<T>, ProjectionError> {
        let (database, schema, events): (String, i64, i64) = sqlx::query_as(
            "SELECT current_database()::text, to_regnamespace(current_schema())::oid::int8, \
                    coalesce(c.rebuild_events, -1) \
               FROM projections.checkpoints c WHERE c.name = $1",
        )
        .bind(name)
        .fetch_one(&mut **tx)
        .await?;
        let copy = Copy { database, schema };
        let kept = self
            .slots
            .lock()
            .ok()
            .and_then(|mut slots| slots.as_mut()?.remove(&copy));
        let (state, valid) = match kept {
            Some(slot) if slot.events == events => (slot.state, true),
            _ => (T::default(), events == 0),
        };
        Ok(Taken {
            copy,
            events,
            state,
            valid,
        })
    }

    /// Keeps `taken`'s state, as the batch of `applied` events leaves it, for the
    /// copy's next batch (a state that was not valid is not kept).
    pub(crate) fn keep(&self, taken: Taken<T>, applied: usize) {
        if taken.events < 0 || !taken.valid {
            return;
        }
        let events = taken.events + i64::try_from(applied).unwrap_or(i64::MAX);
        if let Ok(mut slots) = self.slots.lock() {
            let slots = slots.get_or_insert_with(HashMap::new);
            if slots.len() >= MOST_COPIES {
                slots.clear();
            }
            slots.insert(
                taken.copy,
                Slot {
                    events,
                    state: taken.state,
                },
            );
        }
    }

    /// Drops the state of the copy `tx` fills (once it has caught up: its last
    /// batches go through `apply`).
    pub(crate) async fn drop_copy(
        &self,
        tx: &mut Transaction<'_, Postgres>,
    ) -> Result<(), ProjectionError> {
        let (database, schema): (String, i64) = sqlx::query_as(
            "SELECT current_database()::text, to_regnamespace(current_schema())::oid::int8",
        )
        .fetch_one(&mut **tx)
        .await?;
        if let Ok(mut slots) = self.slots.lock() {
            if let Some(slots) = slots.as_mut() {
                slots.remove(&Copy { database, schema });
            }
        }
        Ok(())
    }
}
