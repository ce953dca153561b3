//! Verifying the hash chains: recompute every event's hash from its stored fields.
//!
//! Nothing is trusted but the stored rows: each event's hash is recomputed from its
//! fields and its predecessor's stored hash.

use futures::TryStreamExt;
use serde::Serialize;
use sqlx::Row;
use uuid::Uuid;

use crate::chain::{canonical_json, ChainedFields, GENESIS_HASH};
use crate::error::EventLogError;
use crate::store::EventLog;

/// What is wrong with an event found by [`EventLog::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// Its stored fields no longer hash to its stored hash, or its hash no longer
    /// follows from the previous event's.
    Altered,
    /// Versions before it are missing: events were deleted.
    Missing,
    /// Its stream's events are no longer in the order they were appended.
    Reordered,
}

/// The first bad event of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// What is wrong.
    pub kind: BreakKind,
    /// The stream.
    pub stream: String,
    /// The bad event's version as stored.
    pub version: i64,
    /// The version the chain expected there.
    pub expected_version: i64,
    /// The bad event's position.
    pub position: i64,
    /// The bad event's id.
    pub event_id: Uuid,
}

/// The result of walking every chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Streams walked.
    pub streams: u64,
    /// Events checked.
    pub events: u64,
    /// The first bad event of each broken stream, in stream order.
    pub breaks: Vec<ChainBreak>,
}

impl VerifyReport {
    /// True when every chain verified.
    pub fn is_intact(&self) -> bool {
        self.breaks.is_empty()
    }

    /// The earliest bad event in the log (by position).
    pub fn first_break(&self) -> Option<&ChainBreak> {
        self.breaks.iter().min_by_key(|b| b.position)
    }
}

/// The walk through one stream.
struct StreamWalk {
    stream: String,
    next_version: i64,
    previous_hash: Vec<u8>,
    previous_position: i64,
    first_bad: Option<ChainBreak>,
    reordered: bool,
    gap: bool,
}

impl StreamWalk {
    fn new(stream: String) -> Self {
        StreamWalk {
            stream,
            next_version: 1,
            previous_hash: GENESIS_HASH.to_vec(),
            previous_position: 0,
            first_bad: None,
            reordered: false,
            gap: false,
        }
    }

    fn finish(self) -> Option<ChainBreak> {
        let mut first = self.first_bad?;
        if self.gap {
            first.kind = BreakKind::Missing;
        } else if self.reordered {
            first.kind = BreakKind::Reordered;
        }
        Some(first)
    }
}

impl EventLog {
    /// Walks every stream's hash chain and reports the first bad event of each.
    #[tracing::instrument(name = "eventlog.verify", skip_all)]
    pub async fn verify(&self) -> Result<VerifyReport, EventLogError> {
        self.verify_with_progress(|_| {}).await
    }

    /// [`EventLog::verify`], calling `progress` with the number of events checked so far
    /// every 10,000 events.
    pub async fn verify_with_progress(
        &self,
        mut progress: impl FnMut(u64),
    ) -> Result<VerifyReport, EventLogError> {
        let mut report = VerifyReport::default();
        let mut rows = sqlx::query(
            "SELECT position, event_id, stream_id, version, event_type, schema_version, \
                    occurred_at, recorded_at, data, metadata, hash \
               FROM eventlog.events ORDER BY stream_id, version",
        )
        .fetch(&self.pool);
        let mut walk: Option<StreamWalk> = None;
        while let Some(row) = rows.try_next().await? {
            let stream: String = row.try_get("stream_id")?;
            if walk.as_ref().is_none_or(|w| w.stream != stream) {
                if let Some(done) = walk.take().and_then(StreamWalk::finish) {
                    report.breaks.push(done);
                }
                report.streams += 1;
                walk = Some(StreamWalk::new(stream.clone()));
            }
            let Some(w) = walk.as_mut() else { continue };
            let data = canonical_json(&row.try_get::<serde_json::Value, _>("data")?);
            let metadata = canonical_json(&row.try_get::<serde_json::Value, _>("metadata")?);
            let stored: Vec<u8> = row.try_get("hash")?;
            let event = ChainedFields {
                event_id: row.try_get("event_id")?,
                stream: &stream,
                version: row.try_get("version")?,
                position: row.try_get("position")?,
                event_type: &row.try_get::<String, _>("event_type")?,
                schema_version: row.try_get("schema_version")?,
                occurred_at: row.try_get("occurred_at")?,
                recorded_at: row.try_get("recorded_at")?,
                data: &data,
                metadata: &metadata,
            };
            report.events += 1;
            if report.events % 10_000 == 0 {
                progress(report.events);
            }
            let gap = event.version != w.next_version;
            let reordered = event.position <= w.previous_position;
            w.gap |= gap;
            w.reordered |= reordered;
            if w.first_bad.is_none() {
                let computed = event.hash(&w.previous_hash);
                if gap || reordered || computed[..] != stored[..] {
                    w.first_bad = Some(ChainBreak {
                        kind: BreakKind::Altered,
                        stream: stream.clone(),
                        version: event.version,
                        expected_version: w.next_version,
                        position: event.position,
                        event_id: event.event_id,
                    });
                }
            }
            w.next_version = event.version + 1;
            w.previous_position = event.position;
            w.previous_hash = stored;
        }
        if let Some(done) = walk.take().and_then(StreamWalk::finish) {
            report.breaks.push(done);
        }
        progress(report.events);
        Ok(report)
    }
}
