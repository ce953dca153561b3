//! Following the feed: events from a cursor on, waking on notifications.

use std::time::Duration;

use futures::Stream;
use tokio::sync::watch;

use crate::error::EventLogError;
use crate::event::RecordedEvent;
use crate::feed::{Cursor, FeedFilter};
use crate::store::EventLog;

/// How long a subscriber waits for a notification before reading the feed anyway.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The longest pause before reading again when committed events are held back by a
/// running transaction (whose commit may come from a writer that does not notify).
const MAX_HELD_PAUSE: Duration = Duration::from_millis(50);

/// A follower of the feed from a cursor on. Wakes within milliseconds of an append
/// (PostgreSQL `LISTEN/NOTIFY`), polls when notifications are missed, and keeps
/// going across database restarts.
pub struct Subscription {
    log: EventLog,
    cursor: Cursor,
    filter: FeedFilter,
    wakeups: watch::Receiver<u64>,
    poll_interval: Duration,
    failures: u32,
    /// True once a read has reached the end of the feed: from then on the subscription
    /// shares its reads with the others of the process ([`crate::tail`]).
    at_tail: bool,
    /// The number of the last shared read taken (0: none).
    seen: u64,
}

impl EventLog {
    /// Follows the feed after `from`, with events matching `filter`.
    /// Must be called inside a tokio runtime.
    pub fn subscribe(&self, from: Cursor, filter: FeedFilter) -> Subscription {
        let mut wakeups = self.wakeups.receiver(&self.pool);
        wakeups.mark_unchanged();
        Subscription {
            log: self.clone(),
            cursor: from,
            filter,
            wakeups,
            poll_interval: DEFAULT_POLL_INTERVAL,
            failures: 0,
            at_tail: false,
            seen: 0,
        }
    }
}

impl Subscription {
    /// Where the subscription will continue.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// The same subscription, polling at `interval` when no notification comes.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Waits for the next events (at most `max`) and advances past them.
    ///
    /// While the database is unreachable it returns [`EventLogError::Unavailable`]
    /// after a growing pause; the subscription stays valid and the next call retries
    /// from the same cursor.
    pub async fn next_batch(&mut self, max: usize) -> Result<Vec<RecordedEvent>, EventLogError> {
        if self.failures > 0 {
            let pause = Duration::from_millis(50 << self.failures.min(5));
            tokio::time::sleep(pause).await;
        }
        match self.wait_for_events(max).await {
            Ok(events) => {
                self.failures = 0;
                Ok(events)
            }
            Err(err) => {
                if err.is_unavailable() {
                    self.failures = self.failures.saturating_add(1);
                }
                Err(err)
            }
        }
    }

    async fn wait_for_events(&mut self, max: usize) -> Result<Vec<RecordedEvent>, EventLogError> {
        // Retries after a read held back by a running transaction start fast and slow down.
        let mut held_pause = Duration::from_millis(1);
        loop {
            // Anything notified before this read is covered by it.
            let wakeup = *self.wakeups.borrow_and_update();
            let page = if self.at_tail {
                // The others woken by the same notification stand here too: one read.
                let (number, page) = self
                    .log
                    .tail
                    .page(&self.log, self.cursor, max, wakeup, self.seen)
                    .await?;
                self.seen = number;
                crate::tail::filtered(&page, &self.filter)
            } else {
                // Catching up: a read of its own, filtered by the database.
                self.log.read_feed(self.cursor, max, &self.filter).await?
            };
            self.at_tail |= page.caught_up;
            self.cursor = page.next;
            if !page.events.is_empty() {
                return Ok(page.events);
            }
            if !page.caught_up {
                // A filtered read stopped at its scan window: read on at once.
                continue;
            }
            let pause = if page.held_back {
                let pause = held_pause.min(self.poll_interval);
                held_pause = (held_pause * 2).min(MAX_HELD_PAUSE);
                pause
            } else {
                self.poll_interval
            };
            if let Ok(Err(_)) = tokio::time::timeout(pause, self.wakeups.changed()).await {
                // The listener is gone: poll.
                tokio::time::sleep(pause).await;
            }
        }
    }

    /// The subscription as a stream of single events; errors are yielded and the
    /// stream goes on (a database restart shows as a few `Unavailable` items).
    pub fn into_stream(self) -> impl Stream<Item = Result<RecordedEvent, EventLogError>> {
        futures::stream::unfold(
            (self, std::collections::VecDeque::new()),
            |(mut sub, mut buffered)| async move {
                if let Some(event) = buffered.pop_front() {
                    return Some((Ok(event), (sub, buffered)));
                }
                match sub.next_batch(1000).await {
                    Ok(events) => {
                        buffered.extend(events);
                        let first = buffered.pop_front()?;
                        Some((Ok(first), (sub, buffered)))
                    }
                    Err(err) => Some((Err(err), (sub, buffered))),
                }
            },
        )
    }
}
