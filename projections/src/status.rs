//! Questions about projections: status and lag, read-your-writes, rebuild.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crm_eventlog::{Cursor, EventLog, FeedFilter};
use serde::Serialize;
use sqlx::PgPool;

use crate::checkpoint::parse_cursor;
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
    /// A rebuild beside the live tables under way, if any.
    pub rebuild: Option<RebuildProgress>,
}

/// How far a rebuild beside the live tables has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RebuildProgress {
    /// Events the rebuilt copy has applied so far.
    pub events_applied: i64,
    /// When the rebuild was requested.
    pub started_at: Option<DateTime<Utc>>,
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
    bool,
    i64,
    Option<DateTime<Utc>>,
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
                c.last_error, c.failed_position, c.events_applied, c.event_types, c.updated_at, \
                c.rebuild_cursor IS NOT NULL, c.rebuild_events, c.rebuild_started_at \
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
        rebuilding,
        rebuild_events,
        rebuild_started_at,
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
            rebuild: rebuilding.then_some(RebuildProgress {
                events_applied: rebuild_events,
                started_at: rebuild_started_at,
            }),
        });
    }
    Ok(out)
}

/// Where a read model's tables stand: when they last changed (`changed`, a value of
/// a sequence taken anew by every commit that applies events, every reset and every
/// rebuild swapped in, in the transaction that changes the tables). Two equal
/// positions mean the same tables; a position never comes back once it has moved on;
/// a checkpoint moved over events its filter passes by keeps its position.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelPosition {
    /// The read model.
    pub name: String,
    /// When its tables last changed (a value of `projections.checkpoint_changes`).
    pub changed: i64,
}

/// The positions of the read models `names` (those with a checkpoint), by name: one
/// lookup by primary key, for answers that are a function of those positions.
pub async fn model_positions(
    pool: &PgPool,
    names: &[&str],
) -> Result<Vec<ModelPosition>, ProjectionError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT name, changed FROM projections.checkpoints WHERE name = ANY($1) ORDER BY name",
    )
    .bind(names)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, changed)| ModelPosition { name, changed })
        .collect())
}

/// Counts the feed's events after `cursor` matching `filter`, up to `cap`; true when
/// there are more.
pub(crate) async fn count_after(
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

/// How long [`wait_until_reflects`] waits on a projection marked failed before it
/// gives up: longer than the first retry's backoff, so a failure the retry clears
/// costs nothing, while a poisoned event is reported within about a second.
const FAILED_GRACE: Duration = Duration::from_secs(2);

/// Waits until projection `name` reflects the event at `position` (and every event
/// before it in the feed), for read-your-writes; [`ProjectionError::Lagging`] after
/// `timeout`, or [`ProjectionError::FailedBefore`] once it has stayed marked failed on
/// an event before that position for [`FAILED_GRACE`] (it will not get past that event
/// until an operator repairs it: no use waiting on). A projection that filters events
/// reflects an event of another type as soon as it has applied every event of its
/// types before it.
///
/// Looks again as soon as a runner of this process commits a batch (`crm serve` runs
/// them beside the API); runners in other processes do not notify, so it also polls
/// the checkpoint (from 1 ms, doubling to 20 ms).
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
    let mut commits = crate::wakeups::COMMITS.watch();
    let mut failed_since: Option<Instant> = None;
    loop {
        let failure = match standing(log, name, target).await? {
            Standing::Reflects => return Ok(()),
            Standing::Behind => None,
            Standing::Failed {
                position: at,
                error,
            } => Some((at, error)),
        };
        let waited = started.elapsed();
        if let Some((failed_position, error)) = failure {
            let since = *failed_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= FAILED_GRACE || waited >= timeout {
                return Err(ProjectionError::FailedBefore {
                    name: name.to_owned(),
                    position,
                    failed_position,
                    error,
                });
            }
        } else {
            failed_since = None;
        }
        if waited >= timeout {
            return Err(ProjectionError::Lagging {
                name: name.to_owned(),
                position,
                waited,
            });
        }
        tokio::select! {
            changed = commits.changed() => {
                if changed.is_ok() {
                    commits.mark_unchanged();
                }
            }
            () = tokio::time::sleep(pause.min(timeout - waited)) => {
                pause = (pause * 2).min(Duration::from_millis(20));
            }
        }
    }
}

/// Where a projection stands against a feed cursor.
enum Standing {
    /// Its checkpoint covers the event.
    Reflects,
    /// Not yet.
    Behind,
    /// Not yet, and it is marked failed on an event (at this position, with this
    /// error): the next one it would apply.
    Failed { position: i64, error: String },
}

/// True when the projection's checkpoint covers the event at feed cursor `target`.
pub(crate) async fn reflects(
    log: &EventLog,
    name: &str,
    target: Cursor,
) -> Result<bool, ProjectionError> {
    Ok(matches!(
        standing(log, name, target).await?,
        Standing::Reflects
    ))
}

/// Whether the projection's checkpoint covers the event at feed cursor `target`, and
/// if not, whether it is stopped by a failure.
async fn standing(log: &EventLog, name: &str, target: Cursor) -> Result<Standing, ProjectionError> {
    type Row = (
        String,
        Option<Vec<String>>,
        String,
        Option<i64>,
        Option<String>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT cursor, event_types, status, failed_position, last_error \
           FROM projections.checkpoints WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(log.pool())
    .await?;
    let Some((cursor, event_types, status, failed_position, last_error)) = row else {
        return Ok(Standing::Behind);
    };
    let cursor = parse_cursor(name, &cursor)?;
    // `target` is the place just after the event, so "covered" is cursor >= target.
    let covered = if cursor >= target || event_types.is_none() {
        cursor >= target
    } else {
        // Filtered: covered when the first event of its types after the checkpoint
        // comes after the target, or there is none and the feed has read past the target.
        let page = log
            .read_feed(cursor, 1, &FeedFilter { event_types })
            .await?;
        match page.events.first() {
            Some(first) => first.cursor() > target,
            None => page.next >= target,
        }
    };
    Ok(match (covered, status.as_str(), failed_position) {
        (true, _, _) => Standing::Reflects,
        (false, "failed", Some(position)) => Standing::Failed {
            position,
            error: last_error.unwrap_or_default(),
        },
        (false, _, _) => Standing::Behind,
    })
}

/// Rebuilds a projection beside its live tables: an empty shadow copy of its tables
/// is filled from the start of the log by its active runner (in whichever process),
/// while the live tables keep answering and keep following the log; once the copy has
/// caught up it is swapped in, in one transaction. A projection that declares no
/// tables is emptied in place instead, and refills while queries see it.
pub async fn rebuild(
    pool: &PgPool,
    projection: &dyn Projection,
) -> Result<crate::RebuildRequest, ProjectionError> {
    tracing::info!(projection = projection.name(), "rebuilding projection");
    crate::shadow::request(pool, projection).await
}

/// The events a rebuild beside the live tables of projection `name` has applied so
/// far; None when no rebuild is under way (finished, or never requested).
pub async fn rebuild_progress(pool: &PgPool, name: &str) -> Result<Option<i64>, ProjectionError> {
    let row: Option<(bool, i64)> = sqlx::query_as(
        "SELECT rebuild_cursor IS NOT NULL, rebuild_events FROM projections.checkpoints WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(pending, events)| pending.then_some(events)))
}
