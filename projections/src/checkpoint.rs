//! The checkpoints table: each projection's cursor, moved in the same transaction as
//! the writes of the events it covers.

use std::sync::Arc;

use crm_eventlog::Cursor;
use sqlx::PgPool;

use crate::error::ProjectionError;
use crate::event::FeedEvent;
use crate::projection::Projection;

/// Parses a stored cursor.
pub(crate) fn parse_cursor(name: &str, text: &str) -> Result<Cursor, ProjectionError> {
    text.parse().map_err(|_| ProjectionError::Corrupt {
        name: name.to_owned(),
        reason: format!("bad cursor {text:?}"),
    })
}

/// The schema of the live read models.
pub(crate) const LIVE_SCHEMA: &str = "projections";

/// Points the transaction's unqualified table names at `schema`, makes its lookups
/// use indexes, and lets it commit without waiting for the disk (until it ends).
pub(crate) async fn use_schema(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    schema: &str,
) -> Result<(), ProjectionError> {
    // Batches look rows up by key. A table filling up during a (re)build has stale
    // statistics that make the planner scan it whole for each batch: forbid that.
    // A batch's writes and its checkpoint commit together: a crash that loses the last
    // commits before they reach the disk loses both, and the batches are applied again
    // from the log. So no batch needs to wait for the WAL flush.
    sqlx::query(
        "SELECT set_config('search_path', $1, true), set_config('enable_seqscan', 'off', true), \
                set_config('synchronous_commit', 'off', true)",
    )
    .bind(format!("\"{schema}\", public"))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Undoes [`use_schema`] for the rest of the transaction: the server's defaults again
/// (a swap that applied events to a copy then must reach the disk before it commits).
pub(crate) async fn leave_schema(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
) -> Result<(), ProjectionError> {
    for setting in ["search_path", "enable_seqscan", "synchronous_commit"] {
        sqlx::query(&format!("SET LOCAL {setting} TO DEFAULT"))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Runs the projection's `setup` in a transaction of its own.
pub(crate) async fn setup(
    pool: &PgPool,
    projection: &dyn Projection,
) -> Result<(), ProjectionError> {
    let mut tx = pool.begin().await?;
    projection.setup(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Makes the checkpoint ready for an active runner: creates it at the start of the
/// feed, resets the projection when its version changed, records the feed filter.
/// Returns the cursor to continue after.
pub(crate) async fn activate(
    pool: &PgPool,
    projection: &dyn Projection,
) -> Result<Cursor, ProjectionError> {
    let name = projection.name();
    sqlx::query(
        "INSERT INTO projections.checkpoints (name, version, cursor, status, event_types) \
         VALUES ($1, $2, $3, 'running', $4) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(projection.version())
    .bind(Cursor::start().to_string())
    .bind(projection.event_types())
    .execute(pool)
    .await?;
    let (version, cursor): (i32, String) =
        sqlx::query_as("SELECT version, cursor FROM projections.checkpoints WHERE name = $1")
            .bind(name)
            .fetch_one(pool)
            .await?;
    if version != projection.version() {
        tracing::info!(
            projection = name,
            from = version,
            to = projection.version(),
            "projection version changed: rebuilding"
        );
        reset(pool, projection).await?;
        return Ok(Cursor::start());
    }
    sqlx::query(
        "UPDATE projections.checkpoints \
            SET event_types = $2, \
                status = CASE WHEN status = 'stopped' THEN 'running' ELSE status END \
          WHERE name = $1",
    )
    .bind(name)
    .bind(projection.event_types())
    .execute(pool)
    .await?;
    parse_cursor(name, &cursor)
}

/// Empties the projection's tables and puts its checkpoint back at the start of the
/// feed, in one transaction.
pub(crate) async fn reset(
    pool: &PgPool,
    projection: &dyn Projection,
) -> Result<(), ProjectionError> {
    let name = projection.name();
    let mut tx = pool.begin().await?;
    // Lock the row first, as a commit does, so the two serialize in one order.
    sqlx::query(
        "INSERT INTO projections.checkpoints (name, version, cursor, status) \
         VALUES ($1, $2, $3, 'running') ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(projection.version())
    .bind(Cursor::start().to_string())
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT 1 FROM projections.checkpoints WHERE name = $1 FOR UPDATE")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    use_schema(&mut tx, LIVE_SCHEMA).await?;
    projection.reset(&mut tx).await?;
    sqlx::query(
        "UPDATE projections.checkpoints \
            SET version = $2, cursor = $3, events_applied = 0, event_types = $4, \
                changed = nextval('projections.checkpoint_changes'), \
                status = 'running', last_error = NULL, failed_position = NULL, updated_at = now() \
          WHERE name = $1",
    )
    .bind(name)
    .bind(projection.version())
    .bind(Cursor::start().to_string())
    .bind(projection.event_types())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Committed {
    /// The events are applied and the checkpoint is at `next`.
    Done,
    /// The checkpoint was not at the expected cursor (a rebuild, or another runner):
    /// nothing was applied.
    Fenced,
}

/// In one transaction: checks that the checkpoint is at `expected`, applies `events`
/// and moves the checkpoint to `next`.
pub(crate) async fn commit(
    pool: &PgPool,
    projection: &dyn Projection,
    events: &[Arc<FeedEvent>],
    expected: Cursor,
    next: Cursor,
) -> Result<Committed, ProjectionError> {
    let name = projection.name();
    let mut tx = pool.begin().await?;
    let (first, last) = crate::repairs::span(events);
    let row: Option<(String, Vec<String>)> = sqlx::query_as(&format!(
        "SELECT c.cursor, {} FROM projections.checkpoints c WHERE c.name = $1 FOR UPDATE OF c",
        crate::repairs::AMONG
    ))
    .bind(name)
    .bind(first)
    .bind(last)
    .fetch_optional(&mut *tx)
    .await?;
    let (stored, repaired) = match row {
        Some((text, repaired)) => (Some(parse_cursor(name, &text)?), repaired),
        None => (None, Vec::new()),
    };
    if stored != Some(expected) {
        tx.rollback().await?;
        return Ok(Committed::Fenced);
    }
    // Events an operator told this read model to skip or sanitize (crm projection).
    let events = crate::repairs::honour(events, &repaired);
    if !events.is_empty() {
        use_schema(&mut tx, LIVE_SCHEMA).await?;
        if let Err(err) = projection.apply(&mut tx, &events).await {
            // Rolling back explicitly returns a clean connection to the pool.
            let _ = tx.rollback().await;
            return Err(err);
        }
    }
    let applied = i64::try_from(events.len()).unwrap_or(i64::MAX);
    sqlx::query(
        "UPDATE projections.checkpoints \
            SET cursor = $2, events_applied = events_applied + $3, status = 'running', \
                changed = CASE WHEN $3 > 0 THEN nextval('projections.checkpoint_changes') \
                               ELSE changed END, \
                last_error = NULL, failed_position = NULL, updated_at = now() \
          WHERE name = $1",
    )
    .bind(name)
    .bind(next.to_string())
    .bind(applied)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    crate::wakeups::COMMITS.announce();
    Ok(Committed::Done)
}

/// Marks the projection failed on the event at `position` (if its checkpoint is still
/// where the runner left it).
pub(crate) async fn record_failure(
    pool: &PgPool,
    name: &str,
    expected: Cursor,
    position: i64,
    error: &str,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE projections.checkpoints \
            SET status = 'failed', failed_position = $3, last_error = $4, updated_at = now() \
          WHERE name = $1 AND cursor = $2",
    )
    .bind(name)
    .bind(expected.to_string())
    .bind(position)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks a running projection stopped (its runner shut down).
pub(crate) async fn mark_stopped(pool: &PgPool, name: &str) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE projections.checkpoints SET status = 'stopped', updated_at = now() \
          WHERE name = $1 AND status = 'running'",
    )
    .bind(name)
    .execute(pool)
    .await?;
    Ok(())
}

/// A projection's checkpoint as a runner's health check sees it.
pub(crate) struct Stored {
    /// The live copy's cursor.
    pub(crate) cursor: Cursor,
    /// True while a rebuild beside the live copy is under way.
    pub(crate) rebuilding: bool,
}

/// The stored checkpoint of a projection, if it has one (one query).
pub(crate) async fn stored(pool: &PgPool, name: &str) -> Result<Option<Stored>, ProjectionError> {
    let row: Option<(String, bool)> = sqlx::query_as(
        "SELECT cursor, rebuild_cursor IS NOT NULL FROM projections.checkpoints WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    row.map(|(text, rebuilding)| {
        Ok(Stored {
            cursor: parse_cursor(name, &text)?,
            rebuilding,
        })
    })
    .transpose()
}
