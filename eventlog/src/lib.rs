//! The event log of the CRM on PostgreSQL: the system of record.
//!
//! Every fact is an immutable event in `eventlog.events`, appended to its entity's
//! stream with an expected version ([`EventLog::append`], [`EventLog::append_multi`]),
//! idempotent by event id, hash-chained per stream ([`EventLog::verify`]). Readers take
//! one stream ([`EventLog::read_stream`], [`EventLog::read_stream_until`]) or the
//! global feed ([`EventLog::read_feed`], [`EventLog::subscribe`]), which delivers every
//! committed event exactly once and each stream in version order.
//!
//! The crate knows envelopes with JSON payloads, not the domain's event types.

mod append;
mod error;
mod event;
mod feed;
mod notify;
mod read;
mod store;
mod subscription;
mod verify;

pub use append::{AppendOutcome, Appended, StreamAppend};
pub use error::EventLogError;
pub use event::{ExpectedVersion, Metadata, NewEvent, RecordedEvent, Source};
pub use feed::{Cursor, FeedFilter, FeedPage};
pub use notify::CHANNEL;
pub use read::StreamBound;
pub use store::EventLog;
pub use subscription::{Subscription, DEFAULT_POLL_INTERVAL};
pub use verify::{BreakKind, CanonicalEvent, ChainBreak, VerifyReport, GENESIS_HASH};

/// The log's schema migrations (versions 2026112200xxxx belong to this crate). Other
/// crates keep their own migrations in the same database, so those are not "missing".
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate::Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("./migrations")
};
