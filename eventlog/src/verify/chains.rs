//! The per-stream hash chains, checked in feed order: one small state per stream.

use std::collections::HashMap;

use crate::chain::{ChainedFields, GENESIS_HASH};
use crate::feed::Cursor;

use super::{BadEvent, BreakKind};

/// Where one stream's chain stands (kept small: one per stream of the log).
struct StreamState {
    next_version: i64,
    previous_hash: [u8; 32],
    previous_position: i64,
    /// The stream's first bad event, its feed slot, and what was seen after it.
    first_bad: Option<Box<(Cursor, BadEvent)>>,
    gap: bool,
    backwards: bool,
}

/// What the chain says about one event.
pub(super) struct Checked {
    /// The event's hash recomputed from its fields and its predecessor's stored hash.
    pub computed: [u8; 32],
    /// The version the chain expected.
    pub expected_version: i64,
}

/// Every stream's chain.
#[derive(Default)]
pub(super) struct Chains {
    streams: HashMap<String, StreamState>,
}

impl Chains {
    /// Streams seen.
    pub fn streams(&self) -> u64 {
        self.streams.len() as u64
    }

    /// Checks the next event of its stream in feed order.
    pub fn check(&mut self, slot: Cursor, event: &ChainedFields<'_>, stored: &[u8]) -> Checked {
        let state = self
            .streams
            .entry(event.stream.to_owned())
            .or_insert_with(|| StreamState {
                next_version: 1,
                previous_hash: GENESIS_HASH,
                previous_position: 0,
                first_bad: None,
                gap: false,
                backwards: false,
            });
        let computed = event.hash(&state.previous_hash);
        let expected_version = state.next_version;
        let gap = event.version > expected_version;
        let backwards =
            event.version < expected_version || event.position <= state.previous_position;
        if state.first_bad.is_some() {
            state.gap |= gap;
            state.backwards |= backwards;
        } else if gap || backwards || computed[..] != stored[..] {
            state.gap = gap;
            state.backwards = backwards;
            state.first_bad = Some(Box::new((
                slot,
                BadEvent {
                    kind: BreakKind::Altered,
                    stream: Some(event.stream.to_owned()),
                    version: Some(event.version),
                    expected_version: Some(expected_version),
                    position: event.position,
                    event_id: event.event_id,
                    found_by: "chain",
                },
            )));
        }
        state.next_version = event.version + 1;
        state.previous_position = event.position;
        // A stored hash of the wrong length has already failed the comparison above.
        state.previous_hash = [0; 32];
        let n = stored.len().min(32);
        state.previous_hash[..n].copy_from_slice(&stored[..n]);
        Checked {
            computed,
            expected_version,
        }
    }

    /// The first bad event of each broken stream with its feed slot: reordered when
    /// the stream went back in versions or positions after it, else deleted when
    /// versions were skipped, else altered.
    pub fn finish(self) -> Vec<(Cursor, BadEvent)> {
        self.streams
            .into_values()
            .filter_map(|state| {
                let (slot, mut bad) = *state.first_bad?;
                bad.kind = if state.backwards {
                    BreakKind::Reordered
                } else if state.gap {
                    BreakKind::Deleted
                } else {
                    BreakKind::Altered
                };
                Some((slot, bad))
            })
            .collect()
    }
}
