//! Appending events: one stream or several, atomically, with expected versions.
//!
//! An append is one `INSERT` statement in a transaction of its own, numbering and
//! hash-chaining its events from stream heads read before any write: by the same
//! statement for one event to one stream, else by a read just before it. The unique
//! index on (stream, version) refuses the insert if another append got in between.
//! So a version n+1 is only ever written by a transaction that saw version n
//! committed, and got its transaction id after that commit: the feed's
//! (tx_id, position) order keeps every stream in version order without any lock.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::chain::{canonical_json, to_micros, ChainedFields, GENESIS_HASH};
use crate::error::EventLogError;
use crate::event::{validate_name, ExpectedVersion, NewEvent};
use crate::feed::Cursor;
use crate::store::EventLog;
use crate::vault::VaultWrite;

/// How many times an append whose streams moved under it is tried again.
const MAX_ATTEMPTS: u32 = 64;

/// Events to append to one stream, with the version it must be at.
#[derive(Debug, Clone)]
pub struct StreamAppend {
    /// The stream, e.g. `deal-<uuid>`.
    pub stream: String,
    /// The version the stream must be at before the append.
    pub expected: ExpectedVersion,
    /// The events, in order.
    pub events: Vec<NewEvent>,
}

impl StreamAppend {
    /// Events for `stream`, expected at `expected`.
    pub fn new(
        stream: impl Into<String>,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Self {
        StreamAppend {
            stream: stream.into(),
            expected,
            events,
        }
    }
}

/// Where one appended event landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The event's id.
    pub event_id: Uuid,
    /// Its stream.
    pub stream: String,
    /// Its version in the stream.
    pub version: i64,
    /// Its global position.
    pub position: i64,
    /// The appending transaction's id.
    pub tx_id: i64,
    /// The database's clock at the append.
    pub recorded_at: DateTime<Utc>,
}

/// The result of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Every event of the append, in the order given.
    pub events: Vec<Appended>,
    /// True when every event was already stored and nothing was written.
    pub replayed: bool,
}

impl AppendOutcome {
    /// The global position of the append's last event.
    pub fn last_position(&self) -> i64 {
        self.events.last().map_or(0, |e| e.position)
    }

    /// The version `stream` reached with this append, if the append touched it.
    pub fn version_of(&self, stream: &str) -> Option<i64> {
        self.events
            .iter()
            .filter(|e| e.stream == stream)
            .map(|e| e.version)
            .max()
    }

    /// The feed cursor just after the append's last event.
    pub fn cursor(&self) -> Cursor {
        self.events
            .iter()
            .map(|e| Cursor::after(e.tx_id, e.position))
            .max()
            .unwrap_or_default()
    }
}

/// One event to one stream in one statement: the head is read, checked against the
/// expectation ($9: NULL any, 0 no stream, n exact), numbered and chained in SQL, and
/// `$and` (SQL starting with ` AND `, or empty) must hold too. No row back means the
/// expectation (or `$and`) failed.
macro_rules! append_one {
    ($and:expr) => {
        concat!(
            "WITH head AS ( \
                SELECT e.version, e.hash FROM eventlog.events e \
                 WHERE e.stream_id = $1 ORDER BY e.version DESC LIMIT 1) \
            INSERT INTO eventlog.events (position, event_id, stream_id, version, event_type, \
                    schema_version, occurred_at, recorded_at, data, metadata, hash) \
            SELECT p.position, $2, $1, n.version, $3, $4, $5, p.now, $6, $7, \
                   eventlog.event_hash(n.prev, $2, $1, n.version, p.position, $3, $4, $5, p.now, $10, $11) \
              FROM (SELECT nextval('eventlog.events_position_seq') AS position, \
                           clock_timestamp() AS now) p \
              LEFT JOIN head h ON true \
             CROSS JOIN LATERAL (SELECT coalesce(h.version, 0) + 1 AS version, \
                                        coalesce(h.hash, $8) AS prev) n \
             WHERE ($9::bigint IS NULL OR coalesce(h.version, 0) = $9)",
            $and,
            " RETURNING position, tx_id, version, recorded_at"
        )
    };
}

/// One event to one stream ([`append_one!`]).
const APPEND_ONE: &str = append_one!("");

/// The condition an append with streams it read but does not write adds: each of
/// them ($12 streams, $13 versions) still at the version it was read at (0: none).
macro_rules! unmoved {
    ($streams:literal, $versions:literal) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM unnest(",
            $streams,
            "::text[], ",
            $versions,
            "::bigint[]) AS c(stream, version) \
              WHERE coalesce((SELECT max(r.version) FROM eventlog.events r \
                               WHERE r.stream_id = c.stream), 0) <> c.version)"
        )
    };
}

/// [`APPEND_ONE`] that also checks streams read but not written ([`unmoved!`]).
const APPEND_ONE_CHECKED: &str = append_one!(concat!(" AND ", unmoved!("$12", "$13")));

/// For any other append: every stream's head, the positions and the clock (the
/// positions in the first row only: one copy, not one per stream).
const PREPARE: &str = "\
    WITH positions AS MATERIALIZED ( \
            SELECT array_agg(nextval('eventlog.events_position_seq')) AS positions \
              FROM generate_series(1, $2)) \
    SELECT u.ord, h.version, h.hash, \
           CASE WHEN u.ord = 1 THEN p.positions END AS positions, \
           clock_timestamp() AS now \
      FROM unnest($1::text[]) WITH ORDINALITY AS u(stream, ord) \
      LEFT JOIN LATERAL ( \
            SELECT e.version, e.hash FROM eventlog.events e \
             WHERE e.stream_id = u.stream ORDER BY e.version DESC LIMIT 1) h ON true \
     CROSS JOIN positions p \
     ORDER BY u.ord";

/// Every event of an append in one statement, numbered and chained by the caller;
/// `$where` (SQL starting with ` WHERE `, or empty) must hold for it to land.
macro_rules! insert {
    ($where:expr) => {
        concat!(
            "INSERT INTO eventlog.events (position, event_id, stream_id, version, event_type, \
                    schema_version, occurred_at, recorded_at, data, metadata, hash) \
            SELECT x.position, x.event_id, x.stream_id, x.version, x.event_type, x.schema_version, \
                   x.occurred_at, $8, x.data, x.metadata, x.hash \
              FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::int[], \
                          $7::timestamptz[], $9::jsonb[], $10::jsonb[], $11::bytea[]) \
                   AS x(position, event_id, stream_id, version, event_type, schema_version, \
                        occurred_at, data, metadata, hash)",
            $where,
            " RETURNING position, tx_id"
        )
    };
}

/// Every event of an append ([`insert!`]).
const INSERT: &str = insert!("");

/// [`INSERT`] that also checks streams read but not written ([`unmoved!`]): no
/// row back when one of them moved.
const INSERT_CHECKED: &str = insert!(concat!(" WHERE ", unmoved!("$12", "$13")));

/// Streams an append read but does not write, each with the version it was read
/// at (0: it did not exist): the append lands only if none of them moved since.
#[derive(Debug, Clone, Default)]
pub struct Unmoved {
    streams: Vec<String>,
    versions: Vec<i64>,
}

impl Unmoved {
    /// No stream to check.
    pub fn none() -> Self {
        Unmoved::default()
    }

    /// Also checks that `stream` is still at `version`.
    pub fn push(&mut self, stream: impl Into<String>, version: i64) {
        self.streams.push(stream.into());
        self.versions.push(version);
    }

    /// Is there nothing to check?
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }
}

/// Why one attempt at an append did not land.
enum Miss {
    /// A stream moved between reading its head and inserting: try again.
    Raced,
    /// Some event ids are stored already: a replay, or a duplicate.
    Seen,
    /// A real error.
    Failed(EventLogError),
}

impl From<sqlx::Error> for Miss {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            match db.constraint() {
                Some("events_stream_version_key") => return Miss::Raced,
                Some("events_event_id_key") => return Miss::Seen,
                _ => {}
            }
        }
        Miss::Failed(err.into())
    }
}

impl From<EventLogError> for Miss {
    fn from(err: EventLogError) -> Self {
        Miss::Failed(err)
    }
}

impl EventLog {
    /// Appends `events` to `stream` atomically if it is at `expected`.
    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, EventLogError> {
        self.append_multi(vec![StreamAppend::new(stream, expected, events)])
            .await
    }

    /// Appends to several streams in one transaction: all events or none, each
    /// stream checked against its own expected version.
    pub async fn append_multi(
        &self,
        batches: Vec<StreamAppend>,
    ) -> Result<AppendOutcome, EventLogError> {
        self.append_with_keys(batches, &VaultWrite::default()).await
    }

    /// [`EventLog::append_multi`] with the key vault's writes in the same
    /// transaction, after the events: keys created for their subjects' first personal
    /// data, keys that must still be live ([`EventLogError::SubjectErased`] otherwise),
    /// keys destroyed by an erasure. A refused append writes no key either.
    pub async fn append_with_keys(
        &self,
        batches: Vec<StreamAppend>,
        vault: &VaultWrite,
    ) -> Result<AppendOutcome, EventLogError> {
        self.append_checked(batches, vault, &Unmoved::none()).await
    }

    /// [`EventLog::append_with_keys`] that lands only if each stream of `unmoved`
    /// (read but not written by the appender) is still at the version it was read
    /// at, checked by the same statement that inserts: else
    /// [`EventLogError::Conflict`] naming the first stream that moved. (What a
    /// command decided on a remembered state without reading it again relies on.)
    #[tracing::instrument(name = "eventlog.append", skip_all, fields(streams = batches.len()))]
    pub async fn append_checked(
        &self,
        batches: Vec<StreamAppend>,
        vault: &VaultWrite,
        unmoved: &Unmoved,
    ) -> Result<AppendOutcome, EventLogError> {
        let prepared = Prepared::build(&batches)?;
        for attempt in 1..=MAX_ATTEMPTS {
            match self.try_append(&batches, &prepared, vault, unmoved).await {
                Ok(outcome) => {
                    self.vault.remember(vault);
                    self.notifier.poke();
                    return Ok(outcome);
                }
                Err(Miss::Raced) => {
                    tracing::debug!(attempt, "a stream moved during the append; trying again");
                    // Writers racing for one hot stream spread out a little more each time.
                    let pause = std::time::Duration::from_micros(50 * u64::from(attempt.min(20)));
                    tokio::time::sleep(pause).await;
                }
                Err(Miss::Seen) => return self.replay(&batches, &prepared).await,
                // A retry of a stored append no longer fits its expectation: still a replay.
                Err(Miss::Failed(err @ EventLogError::Conflict { .. })) => {
                    return if self.any_stored(&prepared.event_ids).await? {
                        self.replay(&batches, &prepared).await
                    } else {
                        Err(err)
                    };
                }
                Err(Miss::Failed(err)) => return Err(err),
            }
        }
        // Only appends whose streams all expect `Any` get here: another writer moved
        // one of them under every attempt.
        let stream = batches
            .first()
            .map(|b| b.stream.clone())
            .unwrap_or_default();
        let actual = self.stream_version(&stream).await?.unwrap_or(0);
        Err(EventLogError::Conflict {
            stream,
            expected: ExpectedVersion::Any,
            actual,
        })
    }

    /// One attempt: the events' statement(s) on one connection, and with vault writes
    /// all of it in one transaction, the vault's statements after the events' (so the
    /// transaction gets its id only after the stream heads were read, as the feed's
    /// order needs).
    async fn try_append(
        &self,
        batches: &[StreamAppend],
        prepared: &Prepared,
        vault: &VaultWrite,
        unmoved: &Unmoved,
    ) -> Result<AppendOutcome, Miss> {
        if vault.is_empty() {
            let mut conn = self.pool.acquire().await.map_err(EventLogError::from)?;
            return self.append_on(&mut conn, batches, prepared, unmoved).await;
        }
        let mut tx = self.pool.begin().await.map_err(EventLogError::from)?;
        let outcome = self.append_on(&mut tx, batches, prepared, unmoved).await?;
        crate::vault::apply(&mut tx, vault).await?;
        tx.commit().await.map_err(EventLogError::from)?;
        Ok(outcome)
    }

    async fn append_on(
        &self,
        conn: &mut PgConnection,
        batches: &[StreamAppend],
        prepared: &Prepared,
        unmoved: &Unmoved,
    ) -> Result<AppendOutcome, Miss> {
        match batches {
            [one] if one.events.len() == 1 => self.append_one(conn, one, prepared, unmoved).await,
            _ => self.append_many(conn, batches, prepared, unmoved).await,
        }
    }

    /// The first stream of `unmoved` that is no longer at its version, as a conflict.
    async fn moved(
        conn: &mut PgConnection,
        unmoved: &Unmoved,
    ) -> Result<Option<EventLogError>, EventLogError> {
        let moved: Option<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT c.stream, c.version, h.version FROM unnest($1::text[], $2::bigint[]) \
                    WITH ORDINALITY AS c(stream, version, ord) \
               LEFT JOIN LATERAL (SELECT max(r.version) AS version FROM eventlog.events r \
                                   WHERE r.stream_id = c.stream) h ON true \
              WHERE coalesce(h.version, 0) <> c.version ORDER BY c.ord LIMIT 1",
        )
        .bind(&unmoved.streams)
        .bind(&unmoved.versions)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(
            moved.map(|(stream, expected, actual)| EventLogError::Conflict {
                stream,
                expected: if expected == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(expected)
                },
                actual: actual.unwrap_or(0),
            }),
        )
    }

    /// The common case in one round trip: one event to one stream.
    async fn append_one(
        &self,
        conn: &mut PgConnection,
        batch: &StreamAppend,
        prepared: &Prepared,
        unmoved: &Unmoved,
    ) -> Result<AppendOutcome, Miss> {
        let sql = if unmoved.is_empty() {
            APPEND_ONE
        } else {
            APPEND_ONE_CHECKED
        };
        let mut query = sqlx::query(sql)
            .bind(&batch.stream)
            .bind(prepared.event_ids[0])
            .bind(&prepared.types[0])
            .bind(prepared.schema_versions[0])
            .bind(prepared.occurred_at[0])
            .bind(&prepared.data[0])
            .bind(&prepared.metadata[0])
            .bind(&GENESIS_HASH[..])
            .bind(batch.expected.as_db())
            .bind(&prepared.data_canonical[0])
            .bind(&prepared.metadata_canonical[0]);
        if !unmoved.is_empty() {
            query = query.bind(&unmoved.streams).bind(&unmoved.versions);
        }
        let row = query.fetch_optional(&mut *conn).await?;
        let Some(row) = row else {
            // On the connection this append holds: asking the pool for another while
            // holding one would deadlock once every connection is held by a racer.
            let actual: Option<i64> =
                sqlx::query_scalar("SELECT max(version) FROM eventlog.events WHERE stream_id = $1")
                    .bind(&batch.stream)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(EventLogError::from)?;
            let actual = actual.unwrap_or(0);
            let fits = batch.expected.as_db().is_none_or(|e| e == actual);
            if fits && !unmoved.is_empty() {
                if let Some(moved) = Self::moved(conn, unmoved).await? {
                    return Err(moved.into());
                }
            }
            return Err(EventLogError::Conflict {
                stream: batch.stream.clone(),
                expected: batch.expected,
                actual,
            }
            .into());
        };
        let appended = Appended {
            event_id: prepared.event_ids[0],
            stream: batch.stream.clone(),
            version: row.try_get("version").map_err(EventLogError::from)?,
            position: row.try_get("position").map_err(EventLogError::from)?,
            tx_id: row.try_get("tx_id").map_err(EventLogError::from)?,
            recorded_at: row.try_get("recorded_at").map_err(EventLogError::from)?,
        };
        Ok(AppendOutcome {
            events: vec![appended],
            replayed: false,
        })
    }

    /// Several events or streams: read the heads, chain here, insert in one statement.
    async fn append_many(
        &self,
        conn: &mut PgConnection,
        batches: &[StreamAppend],
        prepared: &Prepared,
        unmoved: &Unmoved,
    ) -> Result<AppendOutcome, Miss> {
        let n = prepared.event_ids.len();
        let total = i32::try_from(n)
            .map_err(|_| EventLogError::Invalid("too many events in one append".into()))?;
        let rows = sqlx::query(PREPARE)
            .bind(&prepared.streams)
            .bind(total)
            .fetch_all(&mut *conn)
            .await?;
        let mut heads = Vec::with_capacity(rows.len());
        let mut positions: Vec<i64> = Vec::new();
        let mut now = Utc::now();
        for row in &rows {
            let version: Option<i64> = row.try_get("version").map_err(EventLogError::from)?;
            let hash: Option<Vec<u8>> = row.try_get("hash").map_err(EventLogError::from)?;
            heads.push((
                version.unwrap_or(0),
                hash.unwrap_or_else(|| GENESIS_HASH.to_vec()),
            ));
            let first: Option<Vec<i64>> = row.try_get("positions").map_err(EventLogError::from)?;
            if let Some(first) = first {
                positions = first;
            }
            now = row.try_get("now").map_err(EventLogError::from)?;
        }
        positions.sort_unstable();
        if heads.len() != batches.len() || positions.len() != n {
            return Err(EventLogError::Corrupt(
                "the append's preparation returned the wrong shape".into(),
            )
            .into());
        }
        for (batch, (version, _)) in batches.iter().zip(&heads) {
            if batch.expected.as_db().is_some_and(|e| e != *version) {
                return Err(EventLogError::Conflict {
                    stream: batch.stream.clone(),
                    expected: batch.expected,
                    actual: *version,
                }
                .into());
            }
        }

        // Number and chain every event from its stream's head.
        let mut versions = Vec::with_capacity(n);
        let mut hashes = Vec::with_capacity(n);
        let mut streams = Vec::with_capacity(n);
        for (i, &stream_index) in prepared.event_stream.iter().enumerate() {
            let batch = &batches[stream_index];
            let head = &mut heads[stream_index];
            head.0 += 1;
            let fields = ChainedFields {
                event_id: prepared.event_ids[i],
                stream: &batch.stream,
                version: head.0,
                position: positions[i],
                event_type: &prepared.types[i],
                schema_version: prepared.schema_versions[i],
                occurred_at: prepared.occurred_at[i],
                recorded_at: now,
                data: &prepared.data_canonical[i],
                metadata: &prepared.metadata_canonical[i],
            };
            let hash = fields.hash(&head.1).to_vec();
            head.1.clone_from(&hash);
            versions.push(head.0);
            hashes.push(hash);
            streams.push(batch.stream.clone());
        }

        let sql = if unmoved.is_empty() {
            INSERT
        } else {
            INSERT_CHECKED
        };
        let mut query = sqlx::query(sql)
            .bind(&positions)
            .bind(&prepared.event_ids)
            .bind(&streams)
            .bind(&versions)
            .bind(&prepared.types)
            .bind(&prepared.schema_versions)
            .bind(&prepared.occurred_at)
            .bind(now)
            .bind(&prepared.data)
            .bind(&prepared.metadata)
            .bind(&hashes);
        if !unmoved.is_empty() {
            query = query.bind(&unmoved.streams).bind(&unmoved.versions);
        }
        let rows = query.fetch_all(&mut *conn).await?;
        if rows.is_empty() {
            // Only the check of the streams read but not written refuses every row.
            return Err(Self::moved(conn, unmoved).await?.map_or_else(
                || {
                    Miss::Failed(EventLogError::Corrupt(
                        "an append inserted no event and no stream moved".into(),
                    ))
                },
                Miss::from,
            ));
        }
        let mut tx_ids = HashMap::with_capacity(rows.len());
        for row in &rows {
            let position: i64 = row.try_get("position").map_err(EventLogError::from)?;
            let tx_id: i64 = row.try_get("tx_id").map_err(EventLogError::from)?;
            tx_ids.insert(position, tx_id);
        }
        let events = (0..n)
            .map(|i| Appended {
                event_id: prepared.event_ids[i],
                stream: streams[i].clone(),
                version: versions[i],
                position: positions[i],
                tx_id: tx_ids.get(&positions[i]).copied().unwrap_or_default(),
                recorded_at: now,
            })
            .collect();
        Ok(AppendOutcome {
            events,
            replayed: false,
        })
    }

    async fn any_stored(&self, event_ids: &[Uuid]) -> Result<bool, EventLogError> {
        let stored: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM eventlog.events WHERE event_id = ANY($1))",
        )
        .bind(event_ids)
        .fetch_one(&self.pool)
        .await?;
        Ok(stored)
    }

    /// An append whose event ids are stored already: the stored events if it is the
    /// same append again, else [`EventLogError::Duplicate`].
    async fn replay(
        &self,
        batches: &[StreamAppend],
        prepared: &Prepared,
    ) -> Result<AppendOutcome, EventLogError> {
        let rows = sqlx::query(
            "SELECT e.event_id, e.stream_id, e.version, e.position, e.tx_id, e.recorded_at, \
                    e.event_type, e.schema_version, e.data = x.data AS same_data \
               FROM unnest($1::uuid[], $2::jsonb[]) AS x(event_id, data) \
               JOIN eventlog.events e ON e.event_id = x.event_id",
        )
        .bind(&prepared.event_ids)
        .bind(&prepared.data)
        .fetch_all(&self.pool)
        .await?;
        let mut stored = HashMap::with_capacity(rows.len());
        for row in &rows {
            let id: Uuid = row.try_get("event_id")?;
            stored.insert(id, row);
        }
        let mut events = Vec::with_capacity(prepared.event_ids.len());
        for (i, id) in prepared.event_ids.iter().enumerate() {
            let Some(row) = stored.get(id) else {
                // Part of this append is stored, part is not: not a retry of it.
                let first = prepared.event_ids.iter().find(|id| stored.contains_key(id));
                return Err(EventLogError::Duplicate {
                    event_id: first.copied().unwrap_or(*id),
                });
            };
            let stream: String = row.try_get("stream_id")?;
            let event_type: String = row.try_get("event_type")?;
            let schema_version: i32 = row.try_get("schema_version")?;
            let same_data: bool = row.try_get("same_data")?;
            let same = stream == batches[prepared.event_stream[i]].stream
                && event_type == prepared.types[i]
                && schema_version == prepared.schema_versions[i]
                && same_data;
            if !same {
                return Err(EventLogError::Duplicate { event_id: *id });
            }
            events.push(Appended {
                event_id: *id,
                stream,
                version: row.try_get("version")?,
                position: row.try_get("position")?,
                tx_id: row.try_get("tx_id")?,
                recorded_at: row.try_get("recorded_at")?,
            });
        }
        Ok(AppendOutcome {
            events,
            replayed: true,
        })
    }
}

/// An append's events, validated, one vector per column.
struct Prepared {
    streams: Vec<String>,
    event_stream: Vec<usize>,
    event_ids: Vec<Uuid>,
    types: Vec<String>,
    schema_versions: Vec<i32>,
    occurred_at: Vec<DateTime<Utc>>,
    data: Vec<Value>,
    metadata: Vec<Value>,
    data_canonical: Vec<String>,
    metadata_canonical: Vec<String>,
}

impl Prepared {
    fn build(batches: &[StreamAppend]) -> Result<Self, EventLogError> {
        let total: usize = batches.iter().map(|b| b.events.len()).sum();
        if total == 0 {
            return Err(EventLogError::Invalid(
                "an append needs at least one event".into(),
            ));
        }
        let mut prepared = Prepared {
            streams: Vec::with_capacity(batches.len()),
            event_stream: Vec::with_capacity(total),
            event_ids: Vec::with_capacity(total),
            types: Vec::with_capacity(total),
            schema_versions: Vec::with_capacity(total),
            occurred_at: Vec::with_capacity(total),
            data: Vec::with_capacity(total),
            metadata: Vec::with_capacity(total),
            data_canonical: Vec::with_capacity(total),
            metadata_canonical: Vec::with_capacity(total),
        };
        let mut seen_streams = HashSet::new();
        let mut seen_ids = HashSet::new();
        for (index, batch) in batches.iter().enumerate() {
            validate_name("stream", &batch.stream)?;
            if !seen_streams.insert(batch.stream.as_str()) {
                return Err(EventLogError::Invalid(format!(
                    "stream {} appears twice in one append",
                    batch.stream
                )));
            }
            if batch.events.is_empty() {
                return Err(EventLogError::Invalid(format!(
                    "no events for stream {}",
                    batch.stream
                )));
            }
            if let ExpectedVersion::Exact(n) = batch.expected {
                if n < 1 {
                    return Err(EventLogError::Invalid(format!(
                        "expected version {n} of stream {}: exact versions start at 1",
                        batch.stream
                    )));
                }
            }
            prepared.streams.push(batch.stream.clone());
            for event in &batch.events {
                event.validate()?;
                if !seen_ids.insert(event.event_id) {
                    return Err(EventLogError::Invalid(format!(
                        "event id {} appears twice in one append",
                        event.event_id
                    )));
                }
                let metadata = serde_json::to_value(&event.metadata)
                    .map_err(|e| EventLogError::Invalid(format!("metadata: {e}")))?;
                prepared.event_stream.push(index);
                prepared.event_ids.push(event.event_id);
                prepared.types.push(event.event_type.clone());
                prepared.schema_versions.push(event.schema_version);
                prepared.occurred_at.push(to_micros(event.occurred_at));
                prepared.data_canonical.push(canonical_json(&event.data));
                prepared.metadata_canonical.push(canonical_json(&metadata));
                prepared.data.push(event.data.clone());
                prepared.metadata.push(metadata);
            }
        }
        Ok(prepared)
    }
}
