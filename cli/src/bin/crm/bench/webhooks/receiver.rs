//! The benchmark's webhook receiver: an axum app on a loopback port that answers
//! `POST /<hook>` with 200 at once, and counts each event's arrivals per hook (by
//! the payload's `event_id`) with the time of its first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use super::super::web::Served;

/// One event as a hook received it.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// The event's position in the log (from the payload).
    pub position: i64,
    /// How many times it came.
    pub count: u32,
    /// When it first came.
    pub first: Instant,
}

/// Each hook's events by id.
type Book = Arc<Mutex<HashMap<String, HashMap<Uuid, Arrival>>>>;

/// The part of a payload the receiver reads.
#[derive(Deserialize)]
struct Probe {
    event_id: Uuid,
    position: i64,
}

/// A running receiver.
pub struct Receiver {
    served: Served,
    book: Book,
}

impl Receiver {
    /// Starts a receiver on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let book = Book::default();
        let app = axum::Router::new()
            .route("/{hook}", axum::routing::post(arrive))
            .with_state(Arc::clone(&book));
        Ok(Receiver {
            served: Served::start(app).await?,
            book,
        })
    }

    /// The URL of `hook`.
    pub fn url(&self, hook: &str) -> String {
        format!("{}/{hook}", self.served.base)
    }

    /// What `hook` received so far, by event id.
    pub fn arrivals(&self, hook: &str) -> HashMap<Uuid, Arrival> {
        let book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        book.get(hook).cloned().unwrap_or_default()
    }

    /// How many distinct events `hook` received.
    pub fn distinct(&self, hook: &str) -> usize {
        let book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        book.get(hook).map_or(0, HashMap::len)
    }

    /// Waits until every hook of `hooks` received `events` distinct events; the
    /// latest first arrival among them.
    pub async fn wait_for(
        &self,
        hooks: &[String],
        events: usize,
        within: Duration,
    ) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + within;
        while hooks.iter().any(|hook| self.distinct(hook) < events) {
            anyhow::ensure!(
                Instant::now() < deadline,
                "not every hook received {events} events within {within:?}: {:?}",
                hooks.iter().map(|h| self.distinct(h)).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        hooks
            .iter()
            .flat_map(|hook| self.arrivals(hook).into_values().map(|a| a.first))
            .max()
            .ok_or_else(|| anyhow::anyhow!("no event received"))
    }

    /// Stops the receiver.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.served.stop().await
    }
}

async fn arrive(State(book): State<Book>, Path(hook): Path<String>, body: Bytes) -> StatusCode {
    let now = Instant::now();
    let Ok(probe) = serde_json::from_slice::<Probe>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut book = book.lock().unwrap_or_else(PoisonError::into_inner);
    book.entry(hook)
        .or_default()
        .entry(probe.event_id)
        .and_modify(|a| a.count += 1)
        .or_insert(Arrival {
            position: probe.position,
            count: 1,
            first: now,
        });
    StatusCode::OK
}
