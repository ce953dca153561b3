//! The seals, checked beside the feed walk: each sealed event must come next, with
//! its sealed position, id and hash; the seals themselves must chain.

use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::error::EventLogError;
use crate::feed::Cursor;
use crate::seal::{Entry, StoredSeal};

use super::{BadEvent, BreakKind, SealBreak};

/// An event of the walk as the seals see it.
pub(super) struct Walked<'a> {
    pub slot: Cursor,
    pub position: i64,
    pub event_id: Uuid,
    pub stream: &'a str,
    pub version: i64,
    pub chain_verdict: Option<BreakKind>,
    pub stored_hash: &'a [u8],
    pub computed_hash: &'a [u8; 32],
}

/// What comes next in the seals.
enum Next {
    Entry(Entry),
    Exhausted,
    Broken,
}

/// The walk through the seals.
pub(super) struct SealWalk {
    /// The last seal's end: every event up to it in feed order is sealed.
    region_end: Option<Cursor>,
    /// Every event with a smaller tx_id is sealed.
    settled_below: Option<i64>,
    current: Option<StoredSeal>,
    index: usize,
    next_seq: i64,
    previous_hash: Vec<u8>,
    exhausted: bool,
    /// False once a seal is broken or an event did not match: the rest is unaligned.
    active: bool,
    pub seals: u64,
    pub events_sealed: u64,
    pub unsealed_events: u64,
    pub bad_seal: Option<SealBreak>,
    pub finding: Option<(Cursor, BadEvent)>,
    pub last_seal: Option<(i64, Vec<u8>)>,
}

impl SealWalk {
    /// Reads where the sealed region ends.
    pub async fn start(conn: &mut PgConnection) -> Result<Self, EventLogError> {
        let last: Option<(i64, i64, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, end_tx_id, end_position, seal_hash FROM eventlog.seals \
             ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(&mut *conn)
        .await?;
        let settled_below: Option<i64> =
            sqlx::query_scalar("SELECT max(settled_below) FROM eventlog.seals")
                .fetch_one(&mut *conn)
                .await?;
        Ok(SealWalk {
            region_end: last
                .as_ref()
                .map(|(_, tx, pos, _)| Cursor::after(*tx, *pos)),
            settled_below,
            current: None,
            index: 0,
            next_seq: 1,
            previous_hash: crate::chain::GENESIS_HASH.to_vec(),
            exhausted: false,
            active: true,
            seals: 0,
            events_sealed: 0,
            unsealed_events: 0,
            bad_seal: None,
            finding: None,
            last_seal: last.map(|(seq, _, _, hash)| (seq, hash)),
        })
    }

    fn in_region(&self, slot: Cursor) -> bool {
        self.region_end.is_some_and(|end| slot <= end)
            || self.settled_below.is_some_and(|b| slot.tx_id() < b)
    }

    /// Loads and checks the next seal (false: none left, or it is broken).
    async fn load_next(&mut self, conn: &mut PgConnection) -> Result<bool, EventLogError> {
        if self.exhausted || self.bad_seal.is_some() {
            return Ok(false);
        }
        let row = sqlx::query(&format!(
            "SELECT {} FROM eventlog.seals WHERE seq >= $1 ORDER BY seq LIMIT 1",
            StoredSeal::COLUMNS
        ))
        .bind(self.next_seq)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else {
            self.exhausted = true;
            self.current = None;
            return Ok(false);
        };
        let seal = StoredSeal::from_row(&row)?;
        if let Some(detail) = seal.defect(self.next_seq, &self.previous_hash) {
            self.bad_seal = Some(SealBreak {
                seq: self.next_seq,
                detail,
            });
            self.active = false;
            self.current = None;
            return Ok(false);
        }
        self.seals += 1;
        self.next_seq = seal.seq + 1;
        self.previous_hash = seal.seal_hash.clone();
        self.current = Some(seal);
        self.index = 0;
        Ok(true)
    }

    async fn next_entry(&mut self, conn: &mut PgConnection) -> Result<Next, EventLogError> {
        loop {
            if let Some(entry) = self
                .current
                .as_ref()
                .and_then(|s| Entry::read(&s.entries, self.index))
            {
                return Ok(Next::Entry(entry));
            }
            if !self.load_next(conn).await? {
                return Ok(if self.bad_seal.is_some() {
                    Next::Broken
                } else {
                    Next::Exhausted
                });
            }
        }
    }

    /// Checks the next event of the feed against the seals.
    pub async fn check(
        &mut self,
        conn: &mut PgConnection,
        event: &Walked<'_>,
    ) -> Result<(), EventLogError> {
        if !self.in_region(event.slot) {
            self.unsealed_events += 1;
            return Ok(());
        }
        self.events_sealed += 1;
        if !self.active {
            return Ok(());
        }
        let entry = match self.next_entry(conn).await? {
            Next::Broken => return Ok(()),
            Next::Exhausted => None,
            Next::Entry(entry) => Some(entry),
        };
        let found = |kind| BadEvent {
            kind,
            stream: Some(event.stream.to_owned()),
            version: Some(event.version),
            expected_version: None,
            position: event.position,
            event_id: event.event_id,
            found_by: "seal",
        };
        let bad = match entry {
            Some(x) if x.event_id == event.event_id && x.position == event.position => {
                self.index += 1;
                if x.hash[..] == event.stored_hash[..] && x.hash == *event.computed_hash {
                    return Ok(());
                }
                if event.chain_verdict == Some(BreakKind::Reordered) {
                    found(BreakKind::Reordered)
                } else {
                    found(BreakKind::Altered)
                }
            }
            // The sealed event is here under another position.
            Some(x) if x.event_id == event.event_id => found(BreakKind::Reordered),
            Some(x) => match locate(conn, x.event_id).await? {
                None => BadEvent {
                    kind: BreakKind::Deleted,
                    stream: None,
                    version: None,
                    expected_version: None,
                    position: x.position,
                    event_id: x.event_id,
                    found_by: "seal",
                },
                Some(_) if is_sealed(conn, event.event_id).await? => found(BreakKind::Reordered),
                Some(_) => found(BreakKind::Inserted),
            },
            None if is_sealed(conn, event.event_id).await? => found(BreakKind::Reordered),
            None => found(BreakKind::Inserted),
        };
        self.finding = Some((event.slot, bad));
        self.active = false;
        Ok(())
    }

    /// After the walk: a sealed event never met was deleted (or moved out of the
    /// sealed region); the seals not reached yet are checked too.
    pub async fn finish(
        &mut self,
        conn: &mut PgConnection,
        end: Cursor,
    ) -> Result<(), EventLogError> {
        if self.active {
            if let Next::Entry(x) = self.next_entry(conn).await? {
                let bad = match locate(conn, x.event_id).await? {
                    Some((position, stream, version)) => BadEvent {
                        kind: BreakKind::Reordered,
                        stream: Some(stream),
                        version: Some(version),
                        expected_version: None,
                        position,
                        event_id: x.event_id,
                        found_by: "seal",
                    },
                    None => BadEvent {
                        kind: BreakKind::Deleted,
                        stream: None,
                        version: None,
                        expected_version: None,
                        position: x.position,
                        event_id: x.event_id,
                        found_by: "seal",
                    },
                };
                self.finding = Some((end, bad));
                self.active = false;
            }
        }
        self.current = None;
        while self.load_next(conn).await? {}
        Ok(())
    }
}

/// Where the event `event_id` is stored now (None: nowhere).
async fn locate(
    conn: &mut PgConnection,
    event_id: Uuid,
) -> Result<Option<(i64, String, i64)>, EventLogError> {
    let row =
        sqlx::query("SELECT position, stream_id, version FROM eventlog.events WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|r| {
        Ok((
            r.try_get("position")?,
            r.try_get("stream_id")?,
            r.try_get("version")?,
        ))
    })
    .transpose()
}

/// Whether any seal holds the event `event_id`.
async fn is_sealed(conn: &mut PgConnection, event_id: Uuid) -> Result<bool, EventLogError> {
    let sealed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM eventlog.seals WHERE position($1::bytea IN entries) > 0)",
    )
    .bind(&event_id.as_bytes()[..])
    .fetch_one(&mut *conn)
    .await?;
    Ok(sealed)
}
