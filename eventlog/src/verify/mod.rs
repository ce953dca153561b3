//! Verifying the log: one walk through the feed checks every stream's hash chain and
//! every seal, and names the earliest event that was altered, deleted, inserted or
//! reordered behind the log's back.
//!
//! Nothing is trusted but the stored rows: each event's hash is recomputed from its
//! fields and its predecessor's stored hash, and compared with what its seal kept.
//! The walk reads pages in feed order inside one read-only repeatable-read
//! transaction (one snapshot; without a transaction id it holds no feed back), each
//! event with its stream predecessor's hash and position. Memory is one page and one
//! seal, whatever the size of the log.

mod chains;
mod record;
mod seals;
mod verifier;

use serde::Serialize;
use sqlx::Row;
use uuid::Uuid;

use crate::chain::{canonical_json, ChainedFields};
use crate::error::EventLogError;
use crate::feed::Cursor;
use crate::store::EventLog;

use chains::Predecessor;
use seals::{SealWalk, Walked};

pub use record::{RecordedVerification, Trigger};
pub use verifier::{Verifier, VerifierOptions};

/// Events read per page of the walk.
const PAGE: i64 = 5_000;

/// What was done to an event behind the log's back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// Its stored fields no longer hash to its stored or sealed hash.
    Altered,
    /// It is gone (named from its seal, or seen as a gap in its stream's versions).
    Deleted,
    /// It sits in a sealed range, but no seal has it.
    Inserted,
    /// It is no longer where it was: another position, feed order or version order.
    Reordered,
}

/// The earliest bad event found by [`EventLog::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadEvent {
    /// What was done to it.
    pub kind: BreakKind,
    /// Its stream (None: a deleted event named by its seal alone).
    pub stream: Option<String>,
    /// Its version as stored (None as for `stream`).
    pub version: Option<i64>,
    /// For an event after a gap in its stream: the version missing before it.
    pub expected_version: Option<i64>,
    /// Its position (a deleted event's: the sealed one).
    pub position: i64,
    /// Its id.
    pub event_id: Uuid,
    /// `seal` or `chain`: which check named it.
    pub found_by: &'static str,
}

/// A seal that is missing or no longer what was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SealBreak {
    /// The seal's number.
    pub seq: i64,
    /// What is wrong with it.
    pub detail: String,
}

/// The newest seal: publish its hash elsewhere to make the seals themselves evident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SealHead {
    /// Its number.
    pub seq: i64,
    /// Its hash, hex.
    pub hash: String,
}

/// The result of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Streams walked (counted by their first events).
    pub streams: u64,
    /// Events checked against their chains.
    pub events: u64,
    /// Seals checked.
    pub seals: u64,
    /// Events in the sealed part of the feed.
    pub events_sealed: u64,
    /// Events after the last seal, checked by their chains only.
    pub unsealed_events: u64,
    /// Streams whose chain is broken.
    pub broken_streams: u64,
    /// The earliest bad event in feed order.
    pub first_bad: Option<BadEvent>,
    /// The first bad seal.
    pub bad_seal: Option<SealBreak>,
    /// The newest seal.
    pub last_seal: Option<SealHead>,
    /// The highest position the walk covered (None: an empty log).
    pub through_position: Option<i64>,
}

impl VerifyReport {
    /// True when every chain and every seal verified.
    pub fn is_intact(&self) -> bool {
        self.first_bad.is_none() && self.bad_seal.is_none()
    }
}

impl EventLog {
    /// Checks every stream's hash chain and every seal in one walk of the feed.
    #[tracing::instrument(name = "eventlog.verify", skip_all)]
    pub async fn verify(&self) -> Result<VerifyReport, EventLogError> {
        self.verify_with_progress(|_| {}).await
    }

    /// [`EventLog::verify`], calling `progress` with the number of events checked so
    /// far after each page.
    pub async fn verify_with_progress(
        &self,
        mut progress: impl FnMut(u64),
    ) -> Result<VerifyReport, EventLogError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let mut seals = SealWalk::start(&mut tx).await?;
        let mut broken = std::collections::HashSet::new();
        let mut first_chain_break: Option<(Cursor, BadEvent)> = None;
        let mut report = VerifyReport::default();
        let mut cursor = Cursor::start();
        loop {
            let rows = sqlx::query(
                "SELECT e.position, e.tx_id, e.event_id, e.stream_id, e.version, e.event_type, \
                        e.schema_version, e.occurred_at, e.recorded_at, e.data, e.metadata, \
                        e.hash, p.hash AS prev_hash, p.position AS prev_position \
                   FROM (SELECT * FROM eventlog.events WHERE (tx_id, position) > ($1, $2) \
                          ORDER BY tx_id, position LIMIT $3) e \
                   LEFT JOIN eventlog.events p \
                          ON p.stream_id = e.stream_id AND p.version = e.version - 1 \
                  ORDER BY e.tx_id, e.position",
            )
            .bind(cursor.tx_id())
            .bind(cursor.position())
            .bind(PAGE)
            .fetch_all(&mut *tx)
            .await?;
            for row in &rows {
                let stream: String = row.try_get("stream_id")?;
                let event_type: String = row.try_get("event_type")?;
                let data = canonical_json(&row.try_get::<serde_json::Value, _>("data")?);
                let metadata = canonical_json(&row.try_get::<serde_json::Value, _>("metadata")?);
                let stored: Vec<u8> = row.try_get("hash")?;
                let prev_hash: Option<Vec<u8>> = row.try_get("prev_hash")?;
                let event = ChainedFields {
                    event_id: row.try_get("event_id")?,
                    stream: &stream,
                    version: row.try_get("version")?,
                    position: row.try_get("position")?,
                    event_type: &event_type,
                    schema_version: row.try_get("schema_version")?,
                    occurred_at: row.try_get("occurred_at")?,
                    recorded_at: row.try_get("recorded_at")?,
                    data: &data,
                    metadata: &metadata,
                };
                cursor = Cursor::after(row.try_get("tx_id")?, event.position);
                report.events += 1;
                report.through_position = report.through_position.max(Some(event.position));
                if event.version == 1 {
                    report.streams += 1;
                }
                let predecessor = Predecessor {
                    hash: prev_hash.as_deref(),
                    position: row.try_get("prev_position")?,
                };
                let checked = chains::check(&event, &stored, &predecessor);
                if let Some(kind) = checked.verdict {
                    if broken.insert(stream.clone()) && first_chain_break.is_none() {
                        first_chain_break = Some((
                            cursor,
                            BadEvent {
                                kind,
                                stream: Some(stream.clone()),
                                version: Some(event.version),
                                expected_version: (kind == BreakKind::Deleted)
                                    .then_some(event.version - 1),
                                position: event.position,
                                event_id: event.event_id,
                                found_by: "chain",
                            },
                        ));
                    }
                }
                let walked = Walked {
                    slot: cursor,
                    position: event.position,
                    event_id: event.event_id,
                    stream: &stream,
                    version: event.version,
                    chain_verdict: checked.verdict,
                    stored_hash: &stored,
                    computed_hash: &checked.computed,
                };
                seals.check(&mut tx, &walked).await?;
            }
            progress(report.events);
            if (rows.len() as i64) < PAGE {
                break;
            }
        }
        seals.finish(&mut tx, cursor).await?;
        tx.rollback().await?;

        report.seals = seals.seals;
        report.events_sealed = seals.events_sealed;
        report.unsealed_events = seals.unsealed_events;
        report.bad_seal = seals.bad_seal.take();
        report.last_seal = seals.last_seal.take().map(|(seq, hash)| SealHead {
            seq,
            hash: hex::encode(hash),
        });
        report.broken_streams = broken.len() as u64;
        let mut found: Vec<_> = first_chain_break.into_iter().collect();
        // The earliest in feed order; where a seal and a chain name the same place,
        // the seal's finding (it knows deletions and moves exactly).
        found.extend(seals.finding.take());
        report.first_bad = found
            .into_iter()
            .min_by_key(|(slot, bad)| (*slot, bad.found_by != "seal"))
            .map(|(_, bad)| bad);
        if !report.is_intact() {
            tracing::warn!(first_bad = ?report.first_bad, bad_seal = ?report.bad_seal, "the log failed verification");
        }
        Ok(report)
    }
}
