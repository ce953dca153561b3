//! The web app's one follower of the log: started when the first page opens its live
//! stream ([`super::live`]), it follows the feed once for every viewer (the event log's
//! subscription: `LISTEN/NOTIFY`, with polling when a notification is missed), waits
//! once per batch (at most [`WAIT`]) until every read model reflects the batch, and
//! publishes a [`Batch`]: its last position and the managers its events concern. Each
//! viewer filters the batches by his reach; nothing is asked per viewer.
//!
//! The managers an event concerns: the managers it names (`DomainEvent::references`),
//! its actor when a manager, and the readers (who answers for it, who watches it) of the
//! entity whose stream it is, both before the batch and after it (so that whoever a
//! client, deal, lead or task was handed away from hears of it too). The streams of a
//! batch are read in one query.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crm_domain::{DomainEvent, EntityKind};
use crm_eventlog::{Cursor, EventLog, EventLogError, FeedFilter, RecordedEvent, Subscription};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::access::Reach;
use crate::error::ApiError;
use crate::state::AppState;

/// How long a batch waits for the read models before it is announced anyway.
pub const WAIT: Duration = Duration::from_secs(2);

/// The most events read from the feed at once.
const BATCH: usize = 1000;

/// How many batches a viewer may fall behind before he is told to refetch.
const CAPACITY: usize = 256;

/// The first pause after a feed error other than "unavailable", doubled up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(1);

/// The longest pause between retries after a feed error.
const MAX_PAUSE: Duration = Duration::from_secs(10);

/// Whom a batch concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Concerned {
    /// These managers (the union over the batch's events).
    Managers(Arc<BTreeSet<Uuid>>),
    /// Anyone: the batch could not be judged (an undecodable event, a failed read), so
    /// it is announced to every viewer, whose page refetches within his reach.
    Anyone,
}

/// What the follower publishes for each batch of appended events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The position of the batch's last event.
    pub last: i64,
    /// Whom its events concern.
    pub concerned: Concerned,
}

impl Batch {
    /// Is the batch in the reach of a viewer who reaches `reach`?
    pub fn reaches(&self, reach: &Reach) -> bool {
        match (reach, &self.concerned) {
            (Reach::All, _) | (_, Concerned::Anyone) => true,
            (Reach::Managers(mine), Concerned::Managers(them)) => {
                mine.iter().any(|m| them.contains(m))
            }
        }
    }
}

/// The follower's handle: where viewers subscribe. Its task ends once the handle is
/// gone (at its next wake-up).
#[derive(Debug)]
pub struct Follower {
    sender: broadcast::Sender<Batch>,
    latest: AtomicI64,
}

impl Follower {
    /// Starts following the log of `state` after its last event.
    pub async fn start(state: &AppState) -> Result<Arc<Follower>, ApiError> {
        let log = &state.log;
        let start = match log.last_position().await? {
            Some(position) => log.cursor_of(position).await?.unwrap_or_else(Cursor::start),
            None => Cursor::start(),
        };
        let (sender, _) = broadcast::channel(CAPACITY);
        let follower = Arc::new(Follower {
            sender,
            latest: AtomicI64::new(0),
        });
        let subscription = log.subscribe(start, FeedFilter::default());
        tokio::spawn(follow(
            state.clone(),
            subscription,
            Arc::downgrade(&follower),
        ));
        Ok(follower)
    }

    /// The batches published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Batch> {
        self.sender.subscribe()
    }

    /// The last position published (0 before any).
    pub fn latest(&self) -> i64 {
        self.latest.load(Ordering::Relaxed)
    }
}

/// Follows the feed for `follower` until it is gone.
async fn follow(state: AppState, mut subscription: Subscription, follower: Weak<Follower>) {
    let mut pause = FIRST_PAUSE;
    let mut failing = false;
    loop {
        let read = subscription.next_batch(BATCH).await;
        let Some(follower) = follower.upgrade() else {
            return;
        };
        let events = match read {
            Ok(events) => {
                pause = FIRST_PAUSE;
                failing = false;
                events
            }
            Err(err) if err.is_unavailable() => {
                // The subscription pauses, growing, before its next read.
                tracing::debug!(error = %err, "live: the feed is unavailable; retrying");
                continue;
            }
            Err(err) => {
                complain(&err, failing);
                failing = true;
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
                continue;
            }
        };
        let Some(last) = events.last().map(|e| e.position) else {
            continue;
        };
        if follower.sender.receiver_count() == 0 {
            // No one watches: nothing to wait for or judge.
            follower.latest.store(last, Ordering::Relaxed);
            continue;
        }
        let (_, concerned) = tokio::join!(
            crate::read_model::every_read_model(&state, last, WAIT),
            concerned(&state.log, &events),
        );
        follower.latest.store(last, Ordering::Relaxed);
        // No receiver left since: nothing to do.
        let _ = follower.sender.send(Batch { last, concerned });
    }
}

/// Logs a feed error: at warn for the first of a run of failures, then at debug.
fn complain(err: &EventLogError, failing: bool) {
    if failing {
        tracing::debug!(error = %err, "live: reading the feed failed again");
    } else {
        tracing::warn!(error = %err, "live: reading the feed failed; retrying with a growing pause");
    }
}

/// The managers `batch` concerns (see the module's documentation).
pub async fn concerned(log: &EventLog, batch: &[RecordedEvent]) -> Concerned {
    let mut managers = BTreeSet::new();
    // Each stream of the batch, with the first of its versions in the batch.
    let mut streams: BTreeMap<&str, i64> = BTreeMap::new();
    for stored in batch {
        if let Some(actor) = stored.metadata.actor.as_deref() {
            managers.extend(Uuid::parse_str(actor).ok());
        }
        let Ok(event) = DomainEvent::from_stored(
            &stored.event_type,
            stored.schema_version,
            stored.data.clone(),
        ) else {
            return Concerned::Anyone;
        };
        managers.extend(
            event
                .references()
                .into_iter()
                .filter(|(kind, _)| *kind == EntityKind::Manager)
                .map(|(_, id)| id),
        );
        streams
            .entry(stored.stream.as_str())
            .or_insert(stored.version);
    }
    match stream_readers(log, &streams).await {
        Ok(readers) => managers.extend(readers),
        Err(err) => {
            tracing::debug!(error = %err, "live: reading the batch's streams failed");
            return Concerned::Anyone;
        }
    }
    Concerned::Managers(Arc::new(managers))
}

/// The readers of each stream's entity, before its `first` version of the batch and as
/// it stands: one query for every stream.
async fn stream_readers(
    log: &EventLog,
    first: &BTreeMap<&str, i64>,
) -> Result<BTreeSet<Uuid>, ApiError> {
    let whole: Vec<(String, i64)> = first.keys().map(|s| ((*s).to_owned(), 0)).collect();
    let mut readers = BTreeSet::new();
    for (stream, events) in log.read_streams_after(&whole).await? {
        let Some((kind, _)) = EntityKind::parse_stream(&stream) else {
            continue;
        };
        let from = first.get(stream.as_str()).copied().unwrap_or(i64::MAX);
        let before = events.iter().take_while(|e| e.version < from).count();
        let events = crate::routes::streams::decoded(events)?;
        for cut in [&events[..before], &events[..]] {
            readers.extend(crate::routes::streams::readers(kind, cut).unwrap_or_default());
        }
    }
    Ok(readers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_reaches_everyone_or_the_viewers_of_a_manager_it_concerns() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let batch = Batch {
            last: 7,
            concerned: Concerned::Managers(Arc::new([a, b].into_iter().collect())),
        };
        assert!(batch.reaches(&Reach::All));
        assert!(batch.reaches(&Reach::Managers(vec![c, b])));
        assert!(!batch.reaches(&Reach::Managers(vec![c])));
        assert!(!batch.reaches(&Reach::Managers(Vec::new())));
        let unknown = Batch {
            last: 7,
            concerned: Concerned::Anyone,
        };
        assert!(unknown.reaches(&Reach::Managers(vec![c])));
    }
}
