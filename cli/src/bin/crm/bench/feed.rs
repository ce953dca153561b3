//! Reading the feed to a known position: pages in feed order, waiting while
//! transactions elsewhere on the server (the feed's bound is cluster-wide) hold its
//! end back.

use std::time::{Duration, Instant};

use crm_eventlog::{Cursor, EventLog, FeedFilter, RecordedEvent};

/// Reads the feed after a cursor until it has passed a position.
pub struct FeedTo {
    log: EventLog,
    cursor: Cursor,
    last: i64,
    done: bool,
}

impl FeedTo {
    /// The events after `from` until the one at position `last` (the log's last, say).
    pub fn new(log: &EventLog, from: Cursor, last: i64) -> Self {
        FeedTo {
            log: log.clone(),
            cursor: from,
            last,
            done: from.position() >= last,
        }
    }

    /// The next page of at most 5,000 events; None once `last` was passed.
    pub async fn next_page(&mut self) -> anyhow::Result<Option<Vec<RecordedEvent>>> {
        let deadline = Instant::now() + Duration::from_secs(600);
        while !self.done {
            let page = self
                .log
                .read_feed(self.cursor, 5_000, &FeedFilter::default())
                .await?;
            self.cursor = page.next;
            self.done = page.events.iter().any(|e| e.position == self.last);
            if !page.events.is_empty() {
                return Ok(Some(page.events));
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the feed did not reach position {} within 10 minutes",
                self.last
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(None)
    }
}
