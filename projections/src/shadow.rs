//! Rebuilding beside the live copy: a shadow schema filled from the start of the feed
//! while the live tables keep answering, swapped in once it has caught up.
//!
//! The state lives in the projection's checkpoint row (`rebuild_cursor`,
//! `rebuild_events`): a rebuild survives restarts and resumes where it stopped. Only
//! the projection's active runner drives it, so one process at a time writes either
//! copy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_eventlog::{Cursor, EventLog, FeedFilter};
use sqlx::{PgPool, Postgres, Transaction};
use tracing::Instrument;

use crate::checkpoint::{leave_schema, parse_cursor, use_schema, LIVE_SCHEMA};
use crate::error::ProjectionError;
use crate::event::FeedEvent;
use crate::projection::Projection;
use crate::shared_feed::SharedReader;

/// What a rebuild request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebuildRequest {
    /// A shadow copy was started; the active runner fills it and swaps it in.
    Beside,
    /// A rebuild beside the live copy was already under way; it goes on.
    AlreadyRunning,
    /// The projection declares no tables of its own, or has applied nothing yet: it
    /// was emptied in place and its runner builds it from the start.
    InPlace,
}

/// The shadow schema of projection `name`.
pub(crate) fn schema_of(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("projections_rebuild_{safe}")
}

/// Starts rebuilding `projection` beside its live tables: creates an empty shadow copy
/// of each of its tables and records the rebuild in its checkpoint, in one transaction.
pub async fn request(
    pool: &PgPool,
    projection: &dyn Projection,
) -> Result<RebuildRequest, ProjectionError> {
    let name = projection.name();
    if projection.tables().is_empty() {
        crate::checkpoint::reset(pool, projection).await?;
        return Ok(RebuildRequest::InPlace);
    }
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO projections.checkpoints (name, version, cursor, status, event_types) \
         VALUES ($1, $2, $3, 'running', $4) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(projection.version())
    .bind(Cursor::start().to_string())
    .bind(projection.event_types())
    .execute(&mut *tx)
    .await?;
    let (live, running): (String, Option<String>) = sqlx::query_as(
        "SELECT cursor, rebuild_cursor FROM projections.checkpoints WHERE name = $1 FOR UPDATE",
    )
    .bind(name)
    .fetch_one(&mut *tx)
    .await?;
    if running.is_some() {
        return Ok(RebuildRequest::AlreadyRunning);
    }
    if parse_cursor(name, &live)? == Cursor::start() {
        // Nothing built yet: the live build from the start is the rebuild.
        tx.rollback().await?;
        crate::checkpoint::reset(pool, projection).await?;
        return Ok(RebuildRequest::InPlace);
    }
    begin_beside(tx, projection).await?;
    Ok(RebuildRequest::Beside)
}

/// Starts the first build of `projection` beside its (empty) live tables, when its
/// checkpoint is still at the start of the feed and no rebuild is under way: the
/// shadow copy is filled without its query indexes, vacuumed, indexed in one pass and
/// swapped in, as a rebuild is, rather than growing the live tables and their every
/// index row by row. True when such a build is (now) under way.
pub(crate) async fn first_build(
    pool: &PgPool,
    projection: &dyn Projection,
) -> Result<bool, ProjectionError> {
    if projection.tables().is_empty() {
        return Ok(false);
    }
    let mut tx = pool.begin().await?;
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT cursor, rebuild_cursor FROM projections.checkpoints WHERE name = $1 FOR UPDATE",
    )
    .bind(projection.name())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((live, running)) = row else {
        return Ok(false);
    };
    if running.is_some() {
        return Ok(true);
    }
    if parse_cursor(projection.name(), &live)? != Cursor::start() {
        return Ok(false);
    }
    begin_beside(tx, projection).await?;
    Ok(true)
}

/// Creates the empty shadow copy of each of `projection`'s tables (without the indexes
/// only queries use) and records the rebuild in its checkpoint, committing `tx`, which
/// holds the checkpoint row.
async fn begin_beside(
    mut tx: Transaction<'_, Postgres>,
    projection: &dyn Projection,
) -> Result<(), ProjectionError> {
    let name = projection.name();
    let schema = schema_of(name);
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
        .execute(&mut *tx)
        .await?;
    for table in projection.tables() {
        // Unlogged while it fills: no WAL for the rows each batch writes and rewrites;
        // made logged table by table once filled, before the swap (see `set_logged`).
        sqlx::query(&format!(
            "CREATE UNLOGGED TABLE \"{schema}\".\"{table}\" \
               (LIKE {LIVE_SCHEMA}.\"{table}\" INCLUDING ALL)"
        ))
        .execute(&mut *tx)
        .await?;
        // Storage parameters (fillfactor, …) are not part of LIKE: copy them too.
        let options: Option<Vec<String>> = sqlx::query_scalar(
            "SELECT c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
              WHERE n.nspname = $1 AND c.relname = $2",
        )
        .bind(LIVE_SCHEMA)
        .bind(table)
        .fetch_optional(&mut *tx)
        .await?
        .flatten();
        if let Some(options) = options.filter(|o| !o.is_empty()) {
            sqlx::query(&format!(
                "ALTER TABLE \"{schema}\".\"{table}\" SET ({})",
                options.join(", ")
            ))
            .execute(&mut *tx)
            .await?;
        }
        defer_query_indexes(&mut tx, projection, &schema, table).await?;
    }
    // A crash of PostgreSQL empties unlogged tables: this row goes with them, and a
    // rebuild resumed without it starts again from the beginning (see `lost`).
    sqlx::query(&format!(
        "CREATE UNLOGGED TABLE \"{schema}\".\"{ALIVE}\" AS SELECT true AS alive"
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE projections.checkpoints \
            SET rebuild_cursor = $2, rebuild_events = 0, rebuild_started_at = now() \
          WHERE name = $1",
    )
    .bind(name)
    .bind(Cursor::start().to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    crate::wakeups::REBUILDS.announce();
    tracing::info!(
        projection = name,
        schema,
        "rebuilding beside the live tables"
    );
    Ok(())
}

/// The shadow's cursor, when a rebuild is under way.
pub(crate) async fn pending(pool: &PgPool, name: &str) -> Result<Option<Cursor>, ProjectionError> {
    let text: Option<Option<String>> =
        sqlx::query_scalar("SELECT rebuild_cursor FROM projections.checkpoints WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    text.flatten().map(|t| parse_cursor(name, &t)).transpose()
}

/// Fills the shadow copy page by page (pages of the whole feed of `page_size` events,
/// shared with the other rebuilds of the process), then swaps it in; returns once
/// swapped (or when the rebuild was cancelled or restarted by someone else). Runs as a
/// task of the active runner, beside its live batches, on `pool`: the rebuilds'
/// connections ([`crate::shared_feed::SharedFeed::rebuild_pool`]), which never append,
/// so the feed does not wait for their transactions.
pub(crate) async fn drive(
    log: EventLog,
    pool: PgPool,
    reader: SharedReader,
    projection: &dyn Projection,
    page_size: usize,
) -> Result<(), ProjectionError> {
    let name = projection.name();
    let pool = &pool;
    let types = projection.event_types();
    let Some(mut cursor) = pending(pool, name).await? else {
        return Ok(());
    };
    if cursor != Cursor::start() && lost(pool, projection, cursor).await? {
        tracing::warn!(
            projection = name,
            "the rebuilt copy was lost (a crash of the database): rebuilding from the start"
        );
        cursor = Cursor::start();
    }
    let started = Instant::now();
    let (mut reading, mut applying) = (Duration::ZERO, Duration::ZERO);
    // Made logged, vacuumed and indexed: done once; while the live copy keeps ahead of
    // it, the copy only takes the events since and tries the swap again.
    let mut finished: Option<(Duration, Duration)> = None;
    loop {
        let at = Instant::now();
        let page = reader.page(cursor, page_size).await?;
        let events = page.of_types(types.as_deref());
        reading += at.elapsed();
        let at = Instant::now();
        let turn = crate::wakeups::LIVE.turn().await;
        // Once finished (the copy's deferred work done), batches are applied as live.
        let mode = if finished.is_none() {
            Apply::Copy
        } else {
            Apply::Live
        };
        let applied = match apply_batch(pool, projection, mode, cursor, &events, page.next)
            .instrument(tracing::info_span!(
                "projection.rebuild_batch",
                projection = name,
                events = events.len()
            ))
            .await
        {
            Err(err) if !err.is_transient() => {
                return Err(failed_event(pool, projection, mode, cursor, &events, err).await)
            }
            other => other?,
        };
        drop(turn);
        if !applied {
            // Cancelled or restarted by another request: nothing more to do here.
            return Ok(());
        }
        applying += at.elapsed();
        cursor = page.next;
        if page.caught_up && page.len < page_size {
            let (logging, indexing) = match finished {
                Some(done) => done,
                None => {
                    let _turn = crate::wakeups::LIVE.turn().await;
                    let at = Instant::now();
                    finish_copy(pool, projection).await?;
                    set_logged(pool, projection).await?;
                    let logging = at.elapsed();
                    let at = Instant::now();
                    vacuum(pool, projection).await?;
                    build_query_indexes(pool, projection).await?;
                    let done = (logging, at.elapsed());
                    finished = Some(done);
                    done
                }
            };
            if swap(&log, pool, projection, cursor).await? {
                tracing::info!(
                    projection = name,
                    seconds = started.elapsed().as_secs_f64(),
                    waiting_for_pages = reading.as_secs_f64(),
                    applying = applying.as_secs_f64(),
                    made_logged = logging.as_secs_f64(),
                    vacuumed_and_indexed = indexing.as_secs_f64(),
                    "rebuild done"
                );
                return Ok(());
            }
        }
    }
}

/// The table of a shadow schema whose one row says its unlogged tables survived.
const ALIVE: &str = "_rebuild_alive";

/// True (and the rebuild started again, empty, at the start of the feed) when the
/// shadow copy of a rebuild that had reached `cursor` was lost: its unlogged tables
/// were emptied by a crash of the database, or it predates them.
async fn lost(
    pool: &PgPool,
    projection: &dyn Projection,
    cursor: Cursor,
) -> Result<bool, ProjectionError> {
    let name = projection.name();
    let schema = schema_of(name);
    let mut tx = pool.begin().await?;
    let row: Option<Option<String>> = sqlx::query_scalar(
        "SELECT rebuild_cursor FROM projections.checkpoints WHERE name = $1 FOR UPDATE",
    )
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    if row.flatten() != Some(cursor.to_string()) {
        // Moved on by someone else: the next round of the caller sees it.
        return Ok(false);
    }
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(format!("\"{schema}\".\"{ALIVE}\""))
        .fetch_one(&mut *tx)
        .await?;
    if exists {
        let alive: bool = sqlx::query_scalar(&format!(
            "SELECT EXISTS (SELECT 1 FROM \"{schema}\".\"{ALIVE}\")"
        ))
        .fetch_one(&mut *tx)
        .await?;
        if alive {
            return Ok(false);
        }
    }
    begin_beside(tx, projection).await?;
    Ok(true)
}

/// Lets the projection complete its caught-up copy (see [`Projection::finish_copy`]),
/// in a transaction of its own in the shadow schema.
async fn finish_copy(pool: &PgPool, projection: &dyn Projection) -> Result<(), ProjectionError> {
    let mut tx = pool.begin().await?;
    use_schema(&mut tx, &schema_of(projection.name())).await?;
    projection.finish_copy(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Makes the filled shadow tables logged (each rewritten once into the WAL, in a
/// transaction of its own so none holds the feed back long), so the copy swapped in
/// survives a crash.
async fn set_logged(pool: &PgPool, projection: &dyn Projection) -> Result<(), ProjectionError> {
    let schema = schema_of(projection.name());
    for table in projection.tables() {
        sqlx::query(&format!("ALTER TABLE \"{schema}\".\"{table}\" SET LOGGED"))
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// After a batch of a rebuild failed: applies its events one by one to find the one
/// that fails, and names its position in the error (for `crm projection skip`), the
/// events before it staying applied. The rebuild is retried from there.
async fn failed_event(
    pool: &PgPool,
    projection: &dyn Projection,
    mode: Apply,
    mut cursor: Cursor,
    events: &[Arc<FeedEvent>],
    err: ProjectionError,
) -> ProjectionError {
    for event in events {
        let next = event.stored.cursor();
        match apply_batch(
            pool,
            projection,
            mode,
            cursor,
            std::slice::from_ref(event),
            next,
        )
        .await
        {
            Ok(true) => cursor = next,
            Ok(false) => break,
            Err(err) if err.is_transient() => return err,
            Err(err) => {
                let position = event.stored.position;
                tracing::error!(
                    projection = projection.name(),
                    position,
                    error = %err.chain(),
                    "rebuild failed on an event"
                );
                return ProjectionError::failed(format!(
                    "rebuild failed on the event at position {position}: {}",
                    err.chain()
                ));
            }
        }
    }
    err
}

/// How a rebuild's batch is applied to its copy.
#[derive(Debug, Clone, Copy)]
enum Apply {
    /// `Projection::apply_copy`: while the copy is filled (its deferred work, such as
    /// the deals' rollups, done once by `finish_copy`).
    Copy,
    /// `Projection::apply`: after `finish_copy`, while the copy catches up for the swap.
    Live,
}

/// Applies `events` to the shadow copy and moves its cursor from `expected` to
/// `next`, in one transaction; false when the shadow's cursor was not `expected`.
///
/// The checkpoint row, which the live batches of the same projection lock and update,
/// is locked only by the last statement (the cursor moved on the condition that it is
/// still `expected`), so a live batch never waits for a rebuild's batch to be applied.
async fn apply_batch(
    pool: &PgPool,
    projection: &dyn Projection,
    mode: Apply,
    expected: Cursor,
    events: &[Arc<FeedEvent>],
    next: Cursor,
) -> Result<bool, ProjectionError> {
    let name = projection.name();
    let mut tx = pool.begin().await?;
    let Some(repaired) = fence(&mut tx, name, expected, events).await? else {
        return Ok(false);
    };
    let events = crate::repairs::honour(events, &repaired);
    if !events.is_empty() {
        use_schema(&mut tx, &schema_of(name)).await?;
        match mode {
            Apply::Copy => projection.apply_copy(&mut tx, &events).await?,
            Apply::Live => projection.apply(&mut tx, &events).await?,
        }
    }
    let moved = sqlx::query(
        "UPDATE projections.checkpoints \
            SET rebuild_cursor = $2, rebuild_events = rebuild_events + $3 \
          WHERE name = $1 AND rebuild_cursor = $4",
    )
    .bind(name)
    .bind(next.to_string())
    .bind(i64::try_from(events.len()).unwrap_or(i64::MAX))
    .bind(expected.to_string())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        // Cancelled, swapped or restarted meanwhile: nothing of this batch stays.
        tx.rollback().await?;
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// When the shadow's cursor is `expected` (read without locking the row: the batch's
/// last statement checks it again as it moves it): the repairs recorded among
/// `events` (see `crate::repairs::AMONG`); None otherwise.
async fn fence(
    tx: &mut Transaction<'_, Postgres>,
    name: &str,
    expected: Cursor,
    events: &[Arc<FeedEvent>],
) -> Result<Option<Vec<String>>, ProjectionError> {
    let (first, last) = crate::repairs::span(events);
    let row: Option<(Option<String>, Vec<String>)> = sqlx::query_as(&format!(
        "SELECT c.rebuild_cursor, {} FROM projections.checkpoints c WHERE c.name = $1",
        crate::repairs::AMONG
    ))
    .bind(name)
    .bind(first)
    .bind(last)
    .fetch_optional(&mut **tx)
    .await?;
    let expected = expected.to_string();
    Ok(row.and_then(|(cursor, repaired)| {
        (cursor.as_deref() == Some(expected.as_str())).then_some(repaired)
    }))
}

/// Drops the indexes of shadow table `table` that only queries use: every one but the
/// unique ones and the projection's `apply_indexes`. [`build_query_indexes`] makes
/// them again once the copy is filled.
async fn defer_query_indexes(
    tx: &mut Transaction<'_, Postgres>,
    projection: &dyn Projection,
    schema: &str,
    table: &str,
) -> Result<(), ProjectionError> {
    let live = index_names(tx, LIVE_SCHEMA, table).await?;
    let shadow: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT i.relname::text, regexp_replace(pg_get_indexdef(i.oid), '^.*? USING ', ''), \
                x.indisunique \
           FROM pg_index x \
           JOIN pg_class i ON i.oid = x.indexrelid \
           JOIN pg_class t ON t.oid = x.indrelid \
           JOIN pg_namespace n ON n.oid = t.relnamespace \
          WHERE n.nspname = $1 AND t.relname = $2",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(&mut **tx)
    .await?;
    for (name, definition, unique) in shadow {
        let needed = live.iter().any(|(live, d)| {
            *d == definition && projection.apply_indexes().contains(&live.as_str())
        });
        if !unique && !needed {
            sqlx::query(&format!("DROP INDEX \"{schema}\".\"{name}\""))
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// Builds the indexes of the live tables that their shadow copies lack (see
/// [`defer_query_indexes`]), each in one pass over the filled table and in a
/// transaction of its own (a write transaction holds the feed back while it runs).
async fn build_query_indexes(
    pool: &PgPool,
    projection: &dyn Projection,
) -> Result<(), ProjectionError> {
    let schema = schema_of(projection.name());
    for table in projection.tables() {
        let mut tx = pool.begin().await?;
        let live = index_names(&mut tx, LIVE_SCHEMA, table).await?;
        let shadow = index_names(&mut tx, &schema, table).await?;
        tx.commit().await?;
        for (_, definition) in live {
            if !shadow.iter().any(|(_, d)| *d == definition) {
                let mut tx = pool.begin().await?;
                sqlx::query("SET LOCAL maintenance_work_mem = '256MB'")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(&format!(
                    "CREATE INDEX ON \"{schema}\".\"{table}\" USING {definition}"
                ))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
        }
    }
    Ok(())
}

/// Vacuums the freshly filled shadow tables (so index-only scans work from the swap
/// on, rather than after autovacuum's next visit) and gives the planner their
/// statistics. Runs before the query indexes exist, which then need no cleanup.
async fn vacuum(pool: &PgPool, projection: &dyn Projection) -> Result<(), ProjectionError> {
    let schema = schema_of(projection.name());
    for table in projection.tables() {
        sqlx::query(&format!("VACUUM (ANALYZE) \"{schema}\".\"{table}\""))
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// How long the swap waits for a lock before giving up and trying again: under
/// PostgreSQL's `deadlock_timeout` (1 s by default), so that a query waiting behind it
/// is never the one a deadlock check aborts.
const SWAP_LOCK_TIMEOUT: &str = "200ms";

/// [`swap_now`], which gives way (false, after a pause) when queries hold the live
/// tables longer than [`SWAP_LOCK_TIMEOUT`].
async fn swap(
    log: &EventLog,
    pool: &PgPool,
    projection: &dyn Projection,
    shadow: Cursor,
) -> Result<bool, ProjectionError> {
    match swap_now(log, pool, projection, shadow).await {
        Err(ProjectionError::Database(sqlx::Error::Database(err)))
            if err.code().as_deref() == Some("55P03") =>
        {
            tracing::debug!(
                projection = projection.name(),
                "live tables busy: swapping later"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            Ok(false)
        }
        other => other,
    }
}

/// The most events the swap applies to the shadow copy itself (those the live runner
/// applied since the shadow's last batch); more, and the rebuild reads on first.
const SWAP_CATCH_UP: usize = 1_000;

/// Swaps the shadow copy in: in one transaction, locks the checkpoint (live batches
/// wait from here on), applies to the copy the few events the live runner applied
/// since the copy's last batch, locks every live table, drops them, moves the shadow
/// ones into the live schema under the live indexes' names and moves the checkpoint to
/// the shadow's cursor. Under a steady flow of commands the live copy is nearly always
/// a few events ahead of a batch read a moment before: catching up under the lock
/// lets the swap happen at the first try instead of racing the live runner. False
/// when the live copy is further ahead than [`SWAP_CATCH_UP`] events (the caller
/// reads on and tries again).
async fn swap_now(
    log: &EventLog,
    pool: &PgPool,
    projection: &dyn Projection,
    shadow: Cursor,
) -> Result<bool, ProjectionError> {
    let name = projection.name();
    let schema = schema_of(name);
    let mut tx = pool.begin().await?;
    // Queries on the live tables finish first; do not queue new ones behind us long.
    sqlx::query(&format!("SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'"))
        .execute(&mut *tx)
        .await?;
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT cursor, rebuild_cursor FROM projections.checkpoints WHERE name = $1 FOR UPDATE",
    )
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((live, Some(stored))) = row else {
        return Ok(true);
    };
    if stored != shadow.to_string() {
        return Ok(true);
    }
    let live = parse_cursor(name, &live)?;
    if live > shadow && !catch_up_in_swap(log, &mut tx, projection, shadow, live).await? {
        return Ok(false);
    }
    // Every live table before changing any.
    let live_tables: Vec<String> = projection
        .tables()
        .iter()
        .map(|t| format!("{LIVE_SCHEMA}.\"{t}\""))
        .collect();
    sqlx::query(&format!(
        "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
        live_tables.join(", ")
    ))
    .execute(&mut *tx)
    .await?;
    for table in projection.tables() {
        let indexes = index_names(&mut tx, LIVE_SCHEMA, table).await?;
        let fresh = index_names(&mut tx, &schema, table).await?;
        sqlx::query(&format!("DROP TABLE {LIVE_SCHEMA}.\"{table}\""))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!(
            "ALTER TABLE \"{schema}\".\"{table}\" SET SCHEMA {LIVE_SCHEMA}"
        ))
        .execute(&mut *tx)
        .await?;
        // Give the moved indexes the names migrations know them by.
        for (old, definition) in &indexes {
            if let Some((new, _)) = fresh.iter().find(|(_, d)| d == definition) {
                if new != old {
                    sqlx::query(&format!(
                        "ALTER INDEX {LIVE_SCHEMA}.\"{new}\" RENAME TO \"{old}\""
                    ))
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
    }
    sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE projections.checkpoints \
            SET cursor = rebuild_cursor, events_applied = rebuild_events, rebuild_cursor = NULL, \
                changed = nextval('projections.checkpoint_changes'), \
                status = 'running', last_error = NULL, failed_position = NULL, updated_at = now() \
          WHERE name = $1",
    )
    .bind(name)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    crate::wakeups::COMMITS.announce();
    tracing::info!(projection = name, "rebuilt copy swapped in");
    Ok(true)
}

/// In the swap's transaction, which holds the checkpoint row: applies to the shadow
/// copy the events of the projection's types after `shadow` up to `live` (those the
/// live runner applied since the copy's last batch, so below the feed's bound) and
/// moves the shadow's cursor to `live`. False, applying nothing, when they are more
/// than [`SWAP_CATCH_UP`] or the feed does not deliver them all now.
async fn catch_up_in_swap(
    log: &EventLog,
    tx: &mut Transaction<'_, Postgres>,
    projection: &dyn Projection,
    shadow: Cursor,
    live: Cursor,
) -> Result<bool, ProjectionError> {
    let name = projection.name();
    let filter = FeedFilter {
        event_types: projection.event_types(),
    };
    let (mut at, mut events) = (shadow, Vec::new());
    while at < live {
        let mut page = log.read_feed(at, SWAP_CATCH_UP, &filter).await?;
        let reached = page.next >= live;
        page.events.retain(|e| e.cursor() <= live);
        if events.len() + page.events.len() > SWAP_CATCH_UP || (page.caught_up && !reached) {
            return Ok(false);
        }
        crate::personal::reveal(log, &mut page.events).await?;
        events.extend(
            page.events
                .into_iter()
                .map(|e| Arc::new(FeedEvent::decode(e))),
        );
        if page.next <= at {
            return Ok(false);
        }
        at = page.next;
    }
    let (first, last) = crate::repairs::span(&events);
    let repaired: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT {} FROM projections.checkpoints c WHERE c.name = $1",
        crate::repairs::AMONG
    ))
    .bind(name)
    .bind(first)
    .bind(last)
    .fetch_one(&mut **tx)
    .await?;
    let events = crate::repairs::honour(&events, &repaired);
    if !events.is_empty() {
        use_schema(tx, &schema_of(name)).await?;
        projection.apply(tx, &events).await?;
        // Back to the defaults for the swap itself (it must reach the disk).
        leave_schema(tx).await?;
    }
    sqlx::query(
        "UPDATE projections.checkpoints \
            SET rebuild_cursor = $2, rebuild_events = rebuild_events + $3 WHERE name = $1",
    )
    .bind(name)
    .bind(live.to_string())
    .bind(i64::try_from(events.len()).unwrap_or(i64::MAX))
    .execute(&mut **tx)
    .await?;
    tracing::debug!(
        projection = name,
        events = events.len(),
        "live copy ahead: its last events applied in the swap"
    );
    Ok(true)
}

/// The indexes of `schema.table`: each one's name and its definition without the name
/// and the schema (what an index made `LIKE` it shares).
async fn index_names(
    tx: &mut Transaction<'_, Postgres>,
    schema: &str,
    table: &str,
) -> Result<Vec<(String, String)>, ProjectionError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.relname::text, \
                regexp_replace(pg_get_indexdef(i.oid), '^.*? USING ', '') \
           FROM pg_index x \
           JOIN pg_class i ON i.oid = x.indexrelid \
           JOIN pg_class t ON t.oid = x.indrelid \
           JOIN pg_namespace n ON n.oid = t.relnamespace \
          WHERE n.nspname = $1 AND t.relname = $2 \
          ORDER BY i.relname",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows)
}
