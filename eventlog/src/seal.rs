//! Seals over the global feed: a chained hash over each range of settled events in
//! feed order, keeping each event's position, id and hash so that a verifier can name
//! the event that was altered, deleted, inserted or moved behind the log's back.
//!
//! A seal takes the events after the previous seal's range, in (tx_id, position)
//! order, from transactions older than the oldest still running: nothing can later
//! commit inside a sealed range. Sealing reads the log like any feed reader and
//! writes one row; appends never wait for it. Two sealers racing for the same range
//! both try to write the same `seq`: the primary key keeps one, the other reads on.

use sha2::{Digest, Sha256};
use sqlx::Row;
use uuid::Uuid;

use crate::error::EventLogError;
use crate::feed::Cursor;
use crate::store::EventLog;

/// The most events one seal covers unless told otherwise.
pub const DEFAULT_SEAL_SIZE: usize = 10_000;

/// Bytes per sealed event: position (8, big-endian), event id (16), hash (32).
pub(crate) const ENTRY_LEN: usize = 56;

/// One sealed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub position: i64,
    pub event_id: Uuid,
    pub hash: [u8; 32],
}

impl Entry {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.position.to_be_bytes());
        out.extend_from_slice(self.event_id.as_bytes());
        out.extend_from_slice(&self.hash);
    }

    /// The entry at index `i` of a seal's `entries` (None past the end).
    pub fn read(entries: &[u8], i: usize) -> Option<Entry> {
        let record = entries.get(i * ENTRY_LEN..(i + 1) * ENTRY_LEN)?;
        let position = i64::from_be_bytes(record[..8].try_into().ok()?);
        let event_id = Uuid::from_slice(&record[8..24]).ok()?;
        let hash = record[24..].try_into().ok()?;
        Some(Entry {
            position,
            event_id,
            hash,
        })
    }
}

/// A seal as stored.
#[derive(Debug, Clone)]
pub(crate) struct StoredSeal {
    pub seq: i64,
    pub end: Cursor,
    pub settled_below: Option<i64>,
    pub event_count: i32,
    pub entries: Vec<u8>,
    pub range_hash: Vec<u8>,
    pub prev_hash: Vec<u8>,
    pub seal_hash: Vec<u8>,
}

impl StoredSeal {
    /// The columns [`StoredSeal::from_row`] reads.
    pub const COLUMNS: &'static str = "seq, end_tx_id, end_position, settled_below, event_count, \
                                       entries, range_hash, prev_hash, seal_hash";

    /// Decodes a row selected with [`StoredSeal::COLUMNS`].
    pub fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, EventLogError> {
        Ok(StoredSeal {
            seq: row.try_get("seq")?,
            end: Cursor::after(row.try_get("end_tx_id")?, row.try_get("end_position")?),
            settled_below: row.try_get("settled_below")?,
            event_count: row.try_get("event_count")?,
            entries: row.try_get("entries")?,
            range_hash: row.try_get("range_hash")?,
            prev_hash: row.try_get("prev_hash")?,
            seal_hash: row.try_get("seal_hash")?,
        })
    }

    /// What is wrong with this seal as the successor of a seal `seq - 1` whose hash is
    /// `previous` (None: it is intact).
    pub fn defect(&self, expected_seq: i64, previous: &[u8]) -> Option<String> {
        if self.seq != expected_seq {
            return Some(format!(
                "seal {expected_seq} is missing (the next seal is {})",
                self.seq
            ));
        }
        if self.prev_hash != previous {
            return Some("its previous hash is not the previous seal's hash".into());
        }
        let count = usize::try_from(self.event_count).unwrap_or(0);
        if count == 0 || self.entries.len() != count * ENTRY_LEN {
            return Some("its entries do not match its event count".into());
        }
        if range_hash(&self.entries)[..] != self.range_hash[..] {
            return Some("its entries no longer hash to its range hash".into());
        }
        if Entry::read(&self.entries, count - 1).map(|e| e.position) != Some(self.end.position()) {
            return Some("its last entry is not its end".into());
        }
        let computed = seal_hash(
            previous,
            self.seq,
            self.end,
            self.settled_below,
            self.event_count,
            &self.range_hash,
        );
        if computed[..] != self.seal_hash[..] {
            return Some("its fields no longer hash to its seal hash".into());
        }
        None
    }
}

/// sha256 of a seal's entries.
fn range_hash(entries: &[u8]) -> [u8; 32] {
    Sha256::digest(entries).into()
}

/// sha256(previous seal hash || seq, end cursor, settled_below, count, one per line || range hash).
fn seal_hash(
    previous: &[u8],
    seq: i64,
    end: Cursor,
    settled_below: Option<i64>,
    count: i32,
    range_hash: &[u8],
) -> [u8; 32] {
    let settled = settled_below.map_or_else(String::new, |x| x.to_string());
    let text = format!(
        "{seq}\n{}\n{}\n{settled}\n{count}\n",
        end.tx_id(),
        end.position()
    );
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(text.as_bytes());
    hasher.update(range_hash);
    hasher.finalize().into()
}

/// What one call of [`EventLog::seal`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SealReport {
    /// Seals written.
    pub seals: u64,
    /// Events they cover.
    pub events: u64,
    /// The last seal's number after the call (0: no seal yet).
    pub last_seq: i64,
}

/// What one attempt to write the next seal did.
enum Attempt {
    Sealed { seq: i64, events: u64 },
    Raced,
    NothingSettled { last_seq: i64 },
}

impl EventLog {
    /// Seals every settled event not sealed yet, in seals of at most `max_per_seal`
    /// events; safe to run from several processes at once.
    #[tracing::instrument(name = "eventlog.seal", skip(self))]
    pub async fn seal(&self, max_per_seal: usize) -> Result<SealReport, EventLogError> {
        let mut report = SealReport::default();
        loop {
            match self.seal_next(max_per_seal.clamp(1, 100_000)).await? {
                Attempt::Sealed { seq, events } => {
                    report.seals += 1;
                    report.events += events;
                    report.last_seq = seq;
                }
                Attempt::Raced => tracing::debug!("another sealer wrote that seal first"),
                Attempt::NothingSettled { last_seq } => {
                    report.last_seq = last_seq;
                    return Ok(report);
                }
            }
        }
    }

    /// Writes the seal after the last one over up to `max` settled events.
    async fn seal_next(&self, max: usize) -> Result<Attempt, EventLogError> {
        let last: Option<(i64, i64, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, end_tx_id, end_position, seal_hash FROM eventlog.seals \
             ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let (last_seq, after, previous) = match last {
            Some((seq, tx_id, position, hash)) => (seq, Cursor::after(tx_id, position), hash),
            None => (0, Cursor::start(), crate::chain::GENESIS_HASH.to_vec()),
        };
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        // One more than `max`: whether the seal takes every settled event.
        let rows = sqlx::query(
            "WITH bound AS MATERIALIZED ( \
                 SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin) \
             SELECT b.xmin AS bound_xmin, e.tx_id, e.position, e.event_id, e.hash \
               FROM bound b LEFT JOIN LATERAL ( \
                   SELECT tx_id, position, event_id, hash FROM eventlog.events e \
                    WHERE (e.tx_id, e.position) > ($1, $2) AND e.tx_id < b.xmin \
                    ORDER BY e.tx_id, e.position LIMIT $3) e ON true",
        )
        .bind(after.tx_id())
        .bind(after.position())
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut bound = 0i64;
        let mut entries = Vec::with_capacity(rows.len().min(max) * ENTRY_LEN);
        let mut end = after;
        let mut count = 0usize;
        for row in rows.iter() {
            bound = row.try_get("bound_xmin")?;
            let Some(position) = row.try_get::<Option<i64>, _>("position")? else {
                break;
            };
            if count == max {
                break;
            }
            let stored: Vec<u8> = row.try_get("hash")?;
            let mut hash = [0u8; 32];
            let n = stored.len().min(32);
            hash[..n].copy_from_slice(&stored[..n]);
            Entry {
                position,
                event_id: row.try_get("event_id")?,
                hash,
            }
            .write(&mut entries);
            end = Cursor::after(row.try_get("tx_id")?, position);
            count += 1;
        }
        if count == 0 {
            return Ok(Attempt::NothingSettled { last_seq });
        }
        let settled_below = (rows.len() <= max).then_some(bound);
        let event_count = i32::try_from(count)
            .map_err(|_| EventLogError::Invalid("a seal holds at most 2^31 events".into()))?;
        let range = range_hash(&entries);
        let seq = last_seq + 1;
        let hash = seal_hash(&previous, seq, end, settled_below, event_count, &range);
        let written = sqlx::query(
            "INSERT INTO eventlog.seals (seq, end_tx_id, end_position, settled_below, \
                 event_count, entries, range_hash, prev_hash, seal_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (seq) DO NOTHING",
        )
        .bind(seq)
        .bind(end.tx_id())
        .bind(end.position())
        .bind(settled_below)
        .bind(event_count)
        .bind(&entries)
        .bind(&range[..])
        .bind(&previous)
        .bind(&hash[..])
        .execute(&self.pool)
        .await?
        .rows_affected();
        if written == 0 {
            return Ok(Attempt::Raced);
        }
        tracing::debug!(seq, events = count, "sealed");
        Ok(Attempt::Sealed {
            seq,
            events: count as u64,
        })
    }
}
