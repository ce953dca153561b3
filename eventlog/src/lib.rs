//! The event log of the CRM on PostgreSQL: the system of record.
//!
//! Every fact is an immutable event in `eventlog.events`, appended to its entity's
//! stream with an expected version ([`EventLog::append`], [`EventLog::append_multi`]),
//! idempotent by event id, hash-chained per stream and sealed in feed-order ranges ([`EventLog::seal`],
//! [`EventLog::verify`]). Readers take
//! one stream ([`EventLog::read_stream`], [`EventLog::read_stream_until`]), a few
//! streams interleaved by position ([`EventLog::read_streams_by_position`]), or the
//! global feed ([`EventLog::read_feed`], [`EventLog::subscribe`]), which delivers every
//! committed event exactly once and each stream in version order.
//!
//! The crate knows envelopes with JSON payloads, not the domain's event types.
//! Personal values arrive encrypted by the caller under their subject's key from
//! the [`Vault`] (`vault.subject_keys`, apart from the log; [`pii`] is the cipher);
//! an append creates or destroys keys in its own transaction ([`VaultWrite`]), and
//! readers decrypt with [`Vault::reveal`].
//!
//! Appends take no lock: each is one `INSERT` whose versions come from stream heads
//! read just before, and the unique (stream, version) index refuses it if a stream
//! moved meanwhile. The feed orders by (transaction id, position) and reads only
//! transactions older than the oldest still running (see `feed`).

mod append;
pub mod baseline;
mod chain;
mod error;
mod event;
mod feed;
mod notify;
pub mod pii;
mod read;
mod seal;
mod sealer;
mod store;
mod subscription;
mod tail;
mod vault;
mod verify;

pub use append::{AppendOutcome, Appended, StreamAppend, Unmoved};
pub use chain::{canonical_json, ChainedFields, GENESIS_HASH};
pub use error::EventLogError;
pub use event::{ExpectedVersion, Metadata, NewEvent, RecordedEvent, Source};
pub use feed::{non_appending, Cursor, FeedFilter, FeedPage, Snapshot, NON_APPENDING};
pub use notify::CHANNEL;
pub use pii::{SubjectKey, ERASED};
pub use read::StreamBound;
pub use seal::{SealReport, DEFAULT_SEAL_SIZE};
pub use sealer::{Sealer, SealerOptions};
pub use store::EventLog;
pub use subscription::{Subscription, DEFAULT_POLL_INTERVAL};
pub use tail::TailStats;
pub use vault::{Freshness, KeyState, Vault, VaultWrite, WriteKeys, KEY_TTL};
pub use verify::{
    BadEvent, BreakKind, RecordedVerification, SealBreak, SealHead, Trigger, Verifier,
    VerifierOptions, VerifyReport,
};

/// The log's schema migrations (the files of eventlog/migrations belong to this crate). Other
/// crates keep their own migrations in the same database, so those are not "missing".
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate::Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("./migrations")
};
