//! Requests in flight, bounded: at most [`Limits::max_concurrent`] at once over all
//! clients (beyond: 503 `overloaded`) and [`Limits::per_client`] for one client, its
//! bearer token or else its address (beyond: 429 `too_many_requests`). A request
//! waits at most [`Limits::queue_wait`] for a slot, then is refused with
//! `Retry-After`: nothing queues without bound.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::body::HttpBody;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// The default of [`Limits::max_concurrent`] for a pool of `db_connections`: twice
/// the pool (a request holds a connection for part of its time only), at least 8.
pub fn default_max_concurrent(db_connections: u32) -> usize {
    usize::try_from(db_connections)
        .unwrap_or(usize::MAX)
        .saturating_mul(2)
        .max(8)
}

/// The limits on requests in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Requests handled at once over all clients; 0: no limit.
    pub max_concurrent: usize,
    /// Requests handled at once for one client (bearer token, else address); 0: no limit.
    pub per_client: usize,
    /// How long a request waits for a free slot before it is refused.
    pub queue_wait: Duration,
}

impl Limits {
    /// `max_concurrent` requests at once, three quarters of them for one client, each
    /// waiting up to a second for a slot.
    pub fn new(max_concurrent: usize) -> Self {
        Limits {
            max_concurrent,
            per_client: (max_concurrent * 3 / 4).max(1),
            queue_wait: Duration::from_secs(1),
        }
    }
}

impl Default for Limits {
    /// [`Limits::new`] for the server's default pool of 32 connections.
    fn default() -> Self {
        Limits::new(default_max_concurrent(32))
    }
}

/// The seconds a refused client is told to wait (`Retry-After`).
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// The shared state of the limiting middleware.
#[derive(Debug, Clone)]
pub struct Limiter {
    limits: Limits,
    global: Arc<Semaphore>,
    clients: Arc<ClientSlots>,
}

/// One semaphore per client with requests in flight; forgotten when it has none.
#[derive(Debug, Default)]
struct ClientSlots {
    slots: Mutex<HashMap<u64, Arc<Semaphore>>>,
}

impl ClientSlots {
    fn semaphore(&self, key: u64, size: usize) -> Option<Arc<Semaphore>> {
        let mut slots = self.slots.lock().ok()?;
        Some(
            slots
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(size)))
                .clone(),
        )
    }

    /// Forgets `key`'s semaphore when nobody holds or waits on it any more.
    fn release(&self, key: u64) {
        if let Ok(mut slots) = self.slots.lock() {
            if slots.get(&key).is_some_and(|s| Arc::strong_count(s) == 1) {
                slots.remove(&key);
            }
        }
    }
}

/// The slots one request holds; dropping it frees them.
struct Held {
    client: Option<(u64, Arc<ClientSlots>, OwnedSemaphorePermit)>,
    _global: Option<OwnedSemaphorePermit>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some((key, clients, permit)) = self.client.take() {
            drop(permit);
            clients.release(key);
        }
    }
}

impl Limiter {
    /// A limiter enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        let size = if limits.max_concurrent == 0 {
            Semaphore::MAX_PERMITS
        } else {
            limits.max_concurrent.min(Semaphore::MAX_PERMITS)
        };
        Limiter {
            global: Arc::new(Semaphore::new(size)),
            clients: Arc::default(),
            limits,
        }
    }

    async fn acquire(&self, key: u64) -> Result<Held, ApiError> {
        let wait = self.limits.queue_wait;
        let client = if self.limits.per_client == 0 {
            None
        } else {
            let size = self.limits.per_client.min(Semaphore::MAX_PERMITS);
            let semaphore = self
                .clients
                .semaphore(key, size)
                .ok_or_else(|| ApiError::internal("the client slots' lock is poisoned"))?;
            let permit = tokio::time::timeout(wait, semaphore.acquire_owned()).await;
            match permit {
                Ok(Ok(permit)) => Some((key, self.clients.clone(), permit)),
                _ => {
                    self.clients.release(key);
                    return Err(ApiError::TooManyRequests {
                        retry_after: RETRY_AFTER_SECONDS,
                    });
                }
            }
        };
        // From here on `held` gives the client's slot back if the global one is refused.
        let mut held = Held {
            client,
            _global: None,
        };
        if self.limits.max_concurrent > 0 {
            match tokio::time::timeout(wait, self.global.clone().acquire_owned()).await {
                Ok(Ok(permit)) => held._global = Some(permit),
                _ => {
                    return Err(ApiError::Overloaded {
                        retry_after: RETRY_AFTER_SECONDS,
                    })
                }
            }
        }
        Ok(held)
    }
}

/// Who a request is from, for the per-client limit: its bearer token (hashed), else
/// the address it came from.
fn client_key(request: &Request) -> u64 {
    let mut hasher = DefaultHasher::new();
    match request.headers().get(header::AUTHORIZATION) {
        Some(token) => {
            0u8.hash(&mut hasher);
            token.as_bytes().hash(&mut hasher);
        }
        None => {
            1u8.hash(&mut hasher);
            request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
                .hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// Paths never limited: liveness must answer while the server is busy.
fn exempt(request: &Request) -> bool {
    request.uri().path() == "/health/live"
}

/// The middleware: holds a slot for the request (and for a streamed response's body
/// until it is sent), or refuses it with 503 or 429 and `Retry-After`.
pub async fn layer(State(limiter): State<Limiter>, request: Request, next: Next) -> Response {
    if exempt(&request) {
        return next.run(request).await;
    }
    let held = match limiter.acquire(client_key(&request)).await {
        Ok(held) => held,
        Err(refused) => return refused.into_response(),
    };
    let response = next.run(request).await;
    if response.body().size_hint().exact().is_some() {
        // Answered in full: the slot is free as soon as the handler is done.
        return response;
    }
    // A streamed body (an export): the slot is held until the stream ends or is dropped.
    let (parts, body) = response.into_parts();
    let stream = body.into_data_stream().map(move |chunk| {
        let _slot = &held;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn limits(max_concurrent: usize, per_client: usize) -> Limits {
        Limits {
            max_concurrent,
            per_client,
            queue_wait: Duration::from_millis(10),
        }
    }

    #[tokio::test]
    async fn a_full_server_refuses_with_overloaded_and_recovers() {
        let limiter = Limiter::new(limits(2, 0));
        let a = limiter.acquire(1).await.unwrap();
        let _b = limiter.acquire(2).await.unwrap();
        let refused = limiter.acquire(3).await.err().unwrap();
        assert_eq!(refused.code(), "overloaded");
        assert_eq!(refused.status().as_u16(), 503);
        drop(a);
        assert!(limiter.acquire(3).await.is_ok());
    }

    #[tokio::test]
    async fn one_client_cannot_take_every_slot() {
        let limiter = Limiter::new(limits(4, 2));
        let _a = limiter.acquire(7).await.unwrap();
        let b = limiter.acquire(7).await.unwrap();
        let refused = limiter.acquire(7).await.err().unwrap();
        assert_eq!(refused.code(), "too_many_requests");
        assert_eq!(refused.status().as_u16(), 429);
        // Another client still gets in.
        assert!(limiter.acquire(8).await.is_ok());
        drop(b);
        assert!(limiter.acquire(7).await.is_ok());
    }

    #[tokio::test]
    async fn a_client_without_requests_in_flight_is_forgotten() {
        let limiter = Limiter::new(limits(4, 2));
        let held = limiter.acquire(7).await.unwrap();
        assert_eq!(limiter.clients.slots.lock().unwrap().len(), 1);
        drop(held);
        assert_eq!(limiter.clients.slots.lock().unwrap().len(), 0);
    }

    #[test]
    fn the_default_follows_the_pool() {
        assert_eq!(default_max_concurrent(32), 64);
        assert_eq!(default_max_concurrent(1), 8);
        assert_eq!(Limits::new(64).per_client, 48);
    }
}
