//! Questions about projections: status and lag, read-your-writes, rebuild.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crm_eventlog::{Cursor, EventLog, FeedFilter};
use serde::Serialize;
use sqlx::PgPool;

use crate::checkpoint::{self, parse_cursor};
use crate::error::ProjectionError;
use crate::projection::Projection;
use crate::runner::LOCK_CLASS;

/// The most events [`status`] counts behind a projection: beyond it, `lag_events` is
/// this cap and `lag_capped` is true. (The log has no counting API yet, so lag is
/// counted by reading the feed; the cap keeps a status call cheap.)
pub const LAG_COUNT_CAP: usize = 10_000;

/// One projection's state, as `GET /projections` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectionStatus {
    /// The projection's name.
    pub name: String,
    /// The version its tables were built with.
    pub version: i32,
    /// `running`, `failed` (retrying with backoff) or `stopped`.
    pub status: String,
    /// True when some runner (in any process) holds its lock right now.
    pub active: bool,
    /// Events of its types in the feed after its checkpoint (at most [`LAG_COUNT_CAP`]).
    pub lag_events: i64,
    /// True when there are more than `lag_events`.
    pub lag_capped: bool,
    /// When failed: the error.
    pub last_error: Option<String>,
    /// When failed: the position of the event it failed on.
    pub failed_position: Option<i64>,
    /// Events applied since its last (re)build.
    pub events_applied: i64,
    /// When its checkpoint last changed.
    pub updated_at: DateTime<Utc>,
}

type Row = (
    String,
    i32,
    String,
    String,
    bool,
    Option<String>,
    Option<i64>,
    i64,
    Option<Vec<String>>,
    DateTime<Utc>,
);

/// Every projection that has a checkpoint, by name, with its lag.
pub async fn status(
    pool: &PgPool,
    log: &EventLog,
) -> Result<Vec<ProjectionStatus>, ProjectionError> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT c.name, c.version, c.status, c.cursor, \
                EXISTS (SELECT 1 FROM pg_locks l \
                         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
                           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                           AND l.classid::bigint = $1 \
                           AND l.objid::bigint = (hashtext(c.name)::bigint & 4294967295)) AS active, \
                c.last_error, c.failed_position, c.events_applied, c.event_types, c.updated_at \
           FROM projections.checkpoints c ORDER BY c.name",
    )
    .bind(i64::from(LOCK_CLASS))
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (
        name,
        version,
        status,
        cursor,
        active,
        last_error,
        failed_position,
        events_applied,
        event_types,
        updated_at,
    ) in rows
    {
        let cursor = parse_cursor(&name, &cursor)?;
        let filter = FeedFilter { event_types };
        let (lag, capped) = count_after(log, cursor, &filter, LAG_COUNT_CAP).await?;
        out.push(ProjectionStatus {
            name,
            version,
            status,
            active,
            lag_events: i64::try_from(lag).unwrap_or(i64::MAX),
            lag_capped: capped,
            last_error,
            failed_position,
            events_applied,
            updated_at,
        });
    }
    Ok(out)
}

/// Counts the feed's events after `cursor` matching `filter`, up to `cap`; true when
/// there are more.
async fn count_after(
    log: &EventLog,
    mut cursor: Cursor,
    filter: &FeedFilter,
    cap: usize,
) -> Result<(usize, bool), ProjectionError> {
    let mut count = 0;
    loop {
        let page = log
            .read_feed(cursor, (cap - count).min(1_000) + 1, filter)
            .await?;
        let taken = page.events.len().min(cap - count);
        count += taken;
        if taken < page.events.len() {
            return Ok((count, true));
        }
        cursor = page.next;
        if page.caught_up {
            return Ok((count, false));
        }
        if count >= cap {
            return Ok((count, true));
        }
    }
}

/// Waits until projection `name` reflects the event at `position` (and every event
/// before it in the feed), for read-your-writes; [`ProjectionError::Lagging`] after
/// `timeout`. A projection that filters events reflects an event of another type
/// as soon as it has applied every event of its types before it.
///
/// Polls the checkpoint (from 1 ms, doubling to 20 ms): checkpoints are written in
/// the projection's transactions, which do not notify.
pub async fn wait_until_reflects(
    log: &EventLog,
    name: &str,
    position: i64,
    timeout: Duration,
) -> Result<(), ProjectionError> {
    let started = Instant::now();
    let target = log
        .cursor_of(position)
        .await?
        .ok_or(ProjectionError::UnknownEvent(position))?;
    let mut pause = Duration::from_millis(1);
    loop {
        if reflects(log, name, target).await? {
            return Ok(());
        }
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(ProjectionError::Lagging {
                name: name.to_owned(),
                position,
                waited,
            });
        }
        tokio::time::sleep(pause.min(timeout - waited)).await;
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// True when the projection's checkpoint covers the event at feed cursor `target`.
async fn reflects(log: &EventLog, name: &str, target: Cursor) -> Result<bool, ProjectionError> {
    let row: Option<(String, Option<Vec<String>>)> =
        sqlx::query_as("SELECT cursor, event_types FROM projections.checkpoints WHERE name = $1")
            .bind(name)
            .fetch_optional(log.pool())
            .await?;
    let Some((cursor, event_types)) = row else {
        return Ok(false);
    };
    let cursor = parse_cursor(name, &cursor)?;
    // `target` is the place just after the event, so "covered" is cursor >= target.
    if cursor >= target || event_types.is_none() {
        return Ok(cursor >= target);
    }
    // Filtered: covered when the first event of its types after the checkpoint comes
    // after the target, or there is none and the feed has read past the target.
    let page = log
        .read_feed(cursor, 1, &FeedFilter { event_types })
        .await?;
    Ok(match page.events.first() {
        Some(first) => first.cursor() > target,
        None => page.next >= target,
    })
}

/// Rebuilds a projection in place: in one transaction, empties its tables
/// ([`Projection::reset`]) and puts its checkpoint back at the start of the feed; its
/// active runner (in whichever process) notices within its health-check interval
/// (or after a failure's backoff) and replays the log in ordinary batches, each
/// committed on its own. Queries see the tables empty, then filling up.
///
/// Rebuilding beside the live tables and swapping when caught up, so queries keep
/// answering, is for later.
pub async fn rebuild(pool: &PgPool, projection: &dyn Projection) -> Result<(), ProjectionError> {
    tracing::info!(projection = projection.name(), "rebuilding projection");
    checkpoint::reset(pool, projection).await
}
