//! The per-stream hash chains, checked one event at a time against its predecessor
//! in its stream (read beside it by the walk's query), so the walk keeps no state
//! per stream.

use crate::chain::{ChainedFields, GENESIS_HASH};

use super::BreakKind;

/// An event's predecessor in its stream (version − 1) as stored, if there is one.
pub(super) struct Predecessor<'a> {
    /// Its stored hash.
    pub hash: Option<&'a [u8]>,
    /// Its position.
    pub position: Option<i64>,
}

/// What the chain says about one event.
pub(super) struct Checked {
    /// The event's hash recomputed from its fields and its predecessor's stored hash.
    pub computed: [u8; 32],
    /// What is wrong with it, if anything: deleted when its predecessor is missing,
    /// reordered when its predecessor does not come before it, altered when its
    /// fields do not hash to its stored hash.
    pub verdict: Option<BreakKind>,
}

/// Checks one event against its predecessor.
pub(super) fn check(
    event: &ChainedFields<'_>,
    stored: &[u8],
    predecessor: &Predecessor<'_>,
) -> Checked {
    let (previous, missing) = match predecessor.hash {
        _ if event.version <= 1 => (&GENESIS_HASH[..], false),
        Some(hash) => (hash, false),
        None => (&GENESIS_HASH[..], true),
    };
    let computed = event.hash(previous);
    let verdict = if missing {
        Some(BreakKind::Deleted)
    } else if event.version > 1 && predecessor.position.is_some_and(|p| p >= event.position) {
        Some(BreakKind::Reordered)
    } else if computed[..] != stored[..] {
        Some(BreakKind::Altered)
    } else {
        None
    };
    Checked { computed, verdict }
}
