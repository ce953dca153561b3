//! The global feed: every event exactly once, each stream in version order.
//!
//! Positions come from a sequence, and transactions can commit out of sequence
//! order, so "position > last seen" could skip an event that commits late. The
//! feed instead orders by (transaction id, position) and only reads transactions
//! older than the oldest one still running that may append to this log: nothing can
//! later appear before a cursor it has handed out.
//!
//! Transactions that cannot append do not hold the feed back (see [`FEED_BOUND`]):
//! those of other databases of the cluster, autovacuum's, and those of connections
//! made [`non_appending`] (a read model's rebuild, whose batches, index builds and
//! `SET LOGGED` can run for seconds; the live batches of the read models, each of
//! which would otherwise hold back every other one). A trigger refuses an append from such a
//! connection, so the promise holds.

use std::fmt;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::Row;

use crate::error::EventLogError;
use crate::event::{event_columns, row_to_event, RecordedEvent};
use crate::store::EventLog;

/// The most events a filtered feed read scans (in feed order) for one page.
const FILTER_WINDOW: i64 = 20_000;

/// The `application_name` prefix of connections that never append to the log (see
/// [`non_appending`]): the feed does not wait for their transactions.
pub const NON_APPENDING: &str = "crm-no-append";

/// `options` for connections that promise never to append to the log, named
/// `crm-no-append:<what>` (then ` <name>` when `options` had one): the feed does not
/// wait for their transactions to end (a long write of a read model's rebuild does not
/// hold back the events committed meanwhile), and the log refuses an append made
/// through them.
pub fn non_appending(options: &PgConnectOptions, what: &str) -> PgConnectOptions {
    let name = match options.get_application_name() {
        Some(name) => format!("{NON_APPENDING}:{what} {name}"),
        None => format!("{NON_APPENDING}:{what}"),
    };
    options.clone().application_name(&name)
}

/// A query's one row `bound`: the feed's bound, the oldest transaction id still
/// running that may append to this database's log (the snapshot's `xmax` when none;
/// events of transactions below it are all visible, committed or never to be). A
/// running transaction is passed over only when a backend of
/// `pg_stat_activity` shows it as its own and cannot append here: it is connected to
/// another database, it is an autovacuum worker, or its connection is
/// [`non_appending`]. A transaction that ended between the snapshot and that look is
/// not found and keeps the bound (too low, never too high). `pg_stat_activity` shows
/// 32-bit ids, the snapshot 64-bit ones: compared modulo 2^32 (two running
/// transactions are never 2^31 apart).
pub(crate) const FEED_BOUND: &str = "SELECT COALESCE( \
        (SELECT min(x::text::bigint) FROM pg_snapshot_xip(s.snap) x \
          WHERE NOT EXISTS ( \
              SELECT 1 FROM pg_stat_activity a \
               WHERE a.backend_xid IS NOT NULL \
                 AND a.backend_xid::text::bigint = x::text::bigint % 4294967296 \
                 AND (a.datname IS DISTINCT FROM current_database() \
                      OR a.backend_type = 'autovacuum worker' \
                      OR a.application_name LIKE 'crm-no-append%'))), \
        pg_snapshot_xmax(s.snap)::text::bigint) AS xmin \
       FROM (SELECT pg_current_snapshot() AS snap) s";

/// An opaque place in the feed: the feed continues after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cursor {
    tx_id: i64,
    position: i64,
}

impl Cursor {
    /// The beginning of the feed.
    pub fn start() -> Self {
        Cursor::default()
    }

    /// The place just after the event appended by `tx_id` at `position`.
    pub fn after(tx_id: i64, position: i64) -> Self {
        Cursor { tx_id, position }
    }

    /// The transaction id of the event the cursor is after.
    pub fn tx_id(self) -> i64 {
        self.tx_id
    }

    /// The position of the event the cursor is after.
    pub fn position(self) -> i64 {
        self.position
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v1.{}.{}", self.tx_id, self.position)
    }
}

impl FromStr for Cursor {
    type Err = EventLogError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || EventLogError::Invalid(format!("not a feed cursor: {s:?}"));
        let mut parts = s.split('.');
        if parts.next() != Some("v1") {
            return Err(bad());
        }
        let tx_id: i64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let position: i64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        if parts.next().is_some() || tx_id < 0 || position < 0 {
            return Err(bad());
        }
        Ok(Cursor { tx_id, position })
    }
}

/// Which transactions had committed when a snapshot was taken (PostgreSQL's
/// `pg_current_snapshot()`, written `xmin:xmax:running,…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    xmin: i64,
    xmax: i64,
    running: Vec<i64>,
}

impl Snapshot {
    /// Whether `event` had been committed when the snapshot was taken.
    pub fn saw(&self, event: &RecordedEvent) -> bool {
        let tx = event.tx_id;
        tx < self.xmin || (tx < self.xmax && !self.running.contains(&tx))
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let running: Vec<String> = self.running.iter().map(i64::to_string).collect();
        write!(f, "{}:{}:{}", self.xmin, self.xmax, running.join(","))
    }
}

impl FromStr for Snapshot {
    type Err = EventLogError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || EventLogError::Invalid(format!("not a snapshot: {s:?}"));
        let mut parts = s.split(':');
        let xmin: i64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let xmax: i64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let running = parts.next().ok_or_else(bad)?;
        let running = running
            .split(',')
            .filter(|x| !x.is_empty())
            .map(|x| x.parse().map_err(|_| bad()))
            .collect::<Result<Vec<i64>, _>>()?;
        if parts.next().is_some() || xmin > xmax {
            return Err(bad());
        }
        Ok(Snapshot {
            xmin,
            xmax,
            running,
        })
    }
}

/// Which events a feed read returns; the default is every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedFilter {
    /// Only events of these types (None: all types).
    pub event_types: Option<Vec<String>>,
}

impl FeedFilter {
    /// Only events of the given types.
    pub fn types<I, S>(types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        FeedFilter {
            event_types: Some(types.into_iter().map(Into::into).collect()),
        }
    }
}

/// One page of the feed.
#[derive(Debug, Clone)]
pub struct FeedPage {
    /// The events, in feed order.
    pub events: Vec<RecordedEvent>,
    /// Where the next read continues.
    pub next: Cursor,
    /// True when the read reached the end of what is readable now.
    pub caught_up: bool,
    /// True when committed events exist past the end, held back by a transaction
    /// that is still running; reading again shortly will return them.
    pub held_back: bool,
}

impl EventLog {
    /// The feed cursor just after the event at `position` (None: no such event):
    /// what a reader must have passed to have seen that event.
    pub async fn cursor_of(&self, position: i64) -> Result<Option<Cursor>, EventLogError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT tx_id, position FROM eventlog.events WHERE position = $1")
                .bind(position)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(tx_id, position)| Cursor::after(tx_id, position)))
    }

    /// Whether the feed can deliver the event at `position` now (None: no such
    /// event): its transaction is below the feed's bound, so a reader paging through
    /// the feed meets it. A committed event is held back while an older transaction
    /// that may append is still running ([`FEED_BOUND`]).
    pub async fn feed_delivers(&self, position: i64) -> Result<Option<bool>, EventLogError> {
        let delivers: Option<bool> = sqlx::query_scalar(&format!(
            "WITH bound AS MATERIALIZED ({FEED_BOUND}) \
             SELECT e.tx_id < b.xmin FROM eventlog.events e, bound b WHERE e.position = $1"
        ))
        .bind(position)
        .fetch_optional(&self.pool)
        .await?;
        Ok(delivers)
    }

    /// Where a follower starts that wants the events committed from now on: a
    /// cursor before every event not committed yet, and the snapshot that says
    /// which of the events after the cursor were committed already (to skip).
    /// The cursor alone cannot say it: the feed's bound is cluster-wide, so events
    /// committed before now may lie after it.
    pub async fn feed_now(&self) -> Result<(Cursor, Snapshot), EventLogError> {
        let text: String = sqlx::query_scalar("SELECT pg_current_snapshot()::text")
            .fetch_one(&self.pool)
            .await?;
        let snapshot: Snapshot = text.parse()?;
        Ok((
            Cursor::after(snapshot.xmin.saturating_sub(1), i64::MAX),
            snapshot,
        ))
    }

    /// The position of the latest event committed and visible now (None: empty log).
    pub async fn last_position(&self) -> Result<Option<i64>, EventLogError> {
        let last: Option<i64> = sqlx::query_scalar("SELECT max(position) FROM eventlog.events")
            .fetch_one(&self.pool)
            .await?;
        Ok(last)
    }

    /// How many events of each type the log holds (committed and visible now), in one
    /// pass over the log.
    pub async fn count_by_type(
        &self,
    ) -> Result<std::collections::BTreeMap<String, i64>, EventLogError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT event_type, count(*) FROM eventlog.events GROUP BY event_type")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().collect())
    }

    /// Reads up to `limit` events after `after`, in feed order.
    ///
    #[tracing::instrument(name = "eventlog.read_feed", skip_all, fields(after = %after, limit))]
    pub async fn read_feed(
        &self,
        after: Cursor,
        limit: usize,
        filter: &FeedFilter,
    ) -> Result<FeedPage, EventLogError> {
        let limit = i64::try_from(limit.clamp(1, 100_000)).unwrap_or(100_000);
        // A filtered read scans at most `window` events in feed order (the planner,
        // left alone, would fetch and sort every match after the cursor: quadratic over
        // a rebuild). A page may then hold fewer than `limit` events without being at
        // the end; `next` still moves past everything scanned.
        let window = limit.saturating_mul(4).max(FILTER_WINDOW);
        let rows = sqlx::query(&format!(
            // `held`: is anything visible beyond the bound? (Evaluated once, by index.)
            "WITH bound AS MATERIALIZED ( \
                 SELECT x.xmin, \
                        (SELECT h.tx_id FROM eventlog.events h WHERE h.tx_id >= x.xmin \
                          ORDER BY h.tx_id LIMIT 1) IS NOT NULL AS held \
                   FROM ({FEED_BOUND}) x), \
             scan_end AS MATERIALIZED ( \
                 SELECT w.tx_id, w.position FROM eventlog.events w, bound b \
                  WHERE $3::text[] IS NOT NULL AND (w.tx_id, w.position) > ($1, $2) \
                    AND w.tx_id < b.xmin \
                  ORDER BY w.tx_id, w.position OFFSET $5 LIMIT 1) \
             SELECT b.xmin AS bound_xmin, b.held, \
                    (SELECT tx_id FROM scan_end) AS end_tx_id, \
                    (SELECT position FROM scan_end) AS end_position, {} \
               FROM bound b \
               LEFT JOIN LATERAL ( \
                   SELECT * FROM eventlog.events e \
                    WHERE (e.tx_id, e.position) > ($1, $2) AND e.tx_id < b.xmin \
                      AND ($3::text[] IS NULL OR e.event_type = ANY($3)) \
                      AND (NOT EXISTS (SELECT 1 FROM scan_end) \
                           OR (e.tx_id, e.position) <= (SELECT s.tx_id, s.position FROM scan_end s)) \
                    ORDER BY e.tx_id, e.position \
                    LIMIT $4) e ON true",
            event_columns!()
        ))
        .bind(after.tx_id)
        .bind(after.position)
        .bind(filter.event_types.as_deref())
        .bind(limit)
        .bind(window - 1)
        .fetch_all(&self.pool)
        .await?;

        // Columns by place: bound_xmin, held, end_tx_id, end_position (the same in every
        // row), then the event's (null when the page is empty).
        let (mut bound_xmin, mut held_back, mut scan_end) = (0i64, false, None);
        if let Some(row) = rows.first() {
            bound_xmin = row.try_get(0)?;
            held_back = row.try_get(1)?;
            let end: (Option<i64>, Option<i64>) = (row.try_get(2)?, row.try_get(3)?);
            if let (Some(tx_id), Some(position)) = end {
                scan_end = Some(Cursor::after(tx_id, position));
            }
        }
        let events = decode_rows(rows).await?;
        if let Some(end) = scan_end {
            // The window ended before the log did: the page is short but not the end.
            let next = if (events.len() as i64) < limit {
                end
            } else {
                events.last().map_or(end, RecordedEvent::cursor)
            };
            return Ok(FeedPage {
                events,
                next,
                caught_up: false,
                held_back,
            });
        }
        let caught_up = (events.len() as i64) < limit;
        let mut next = events.last().map_or(after, RecordedEvent::cursor);
        if caught_up && filter.event_types.is_some() {
            // Skip past the events the filter passed over, so the next read does not scan them again.
            let tail: Option<(i64, i64)> = sqlx::query_as(
                "SELECT tx_id, position FROM eventlog.events WHERE tx_id < $1 \
                 ORDER BY tx_id DESC, position DESC LIMIT 1",
            )
            .bind(bound_xmin)
            .fetch_optional(&self.pool)
            .await?;
            if let Some((tx_id, position)) = tail {
                next = next.max(Cursor::after(tx_id, position));
            }
        }
        Ok(FeedPage {
            events,
            next,
            caught_up,
            held_back,
        })
    }
}

/// Rows a page decodes on two threads at once: decoding JSON is most of a long
/// catch-up's reading, and the database has little to do meanwhile.
const PARALLEL_DECODE: usize = 2_000;

/// The events of a feed page's rows, in order (rows without an event are skipped).
async fn decode_rows(
    mut rows: Vec<sqlx::postgres::PgRow>,
) -> Result<Vec<RecordedEvent>, EventLogError> {
    fn decode(rows: &[sqlx::postgres::PgRow]) -> Result<Vec<RecordedEvent>, EventLogError> {
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let position: Option<i64> = row.try_get(4)?;
            if position.is_some() {
                events.push(row_to_event(row)?);
            }
        }
        Ok(events)
    }
    if rows.len() < PARALLEL_DECODE {
        return decode(&rows);
    }
    let second = rows.split_off(rows.len() / 2);
    let other = tokio::task::spawn_blocking(move || decode(&second));
    let mut events = decode(&rows)?;
    drop(rows);
    let rest = other
        .await
        .map_err(|e| EventLogError::Corrupt(format!("decoding a feed page failed: {e}")))??;
    events.extend(rest);
    Ok(events)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn event(tx_id: i64) -> RecordedEvent {
        RecordedEvent {
            position: 1,
            tx_id,
            event_id: uuid::Uuid::nil(),
            stream: "s-1".into(),
            version: 1,
            event_type: "T".into(),
            schema_version: 1,
            occurred_at: chrono::Utc::now(),
            recorded_at: chrono::Utc::now(),
            data: serde_json::Value::Null,
            metadata: Default::default(),
            hash: Vec::new(),
        }
    }

    #[test]
    fn a_snapshot_saw_what_had_committed_and_not_what_was_running_or_came_later() {
        let snapshot: Snapshot = "100:105:101,103".parse().unwrap();
        assert_eq!(snapshot.to_string(), "100:105:101,103");
        for (tx, saw) in [
            (99, true),
            (100, true),
            (101, false),
            (102, true),
            (103, false),
            (104, true),
            (105, false),
            (200, false),
        ] {
            assert_eq!(snapshot.saw(&event(tx)), saw, "{tx}");
        }
        let empty: Snapshot = "7:7:".parse().unwrap();
        assert!(empty.saw(&event(6)) && !empty.saw(&event(7)));
        for bad in ["", "1:2", "2:1:", "a:b:", "1:2:x", "1:2:3:4"] {
            assert!(bad.parse::<Snapshot>().is_err(), "{bad:?}");
        }
    }
}
