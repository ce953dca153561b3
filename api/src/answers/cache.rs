//! The bounded map of answers: one computation per key at a time, the others wait for
//! it; entries dropped oldest first once the bytes or the entries kept pass a bound.
//!
//! Why not LRU (or a crate such as moka): a key names the read models' positions, so
//! an entry is dead as soon as one of them moves; the oldest entries are the likeliest
//! dead, and dropping them first costs O(1) with nothing to update on a hit. A crate
//! would add a dependency tree for what is a map, a queue and `tokio`'s `OnceCell`
//! (which already makes concurrent misses of one key wait for one computation).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::http::HeaderMap;
use tokio::sync::OnceCell;

/// What names an answer: a digest of its route, query, caller and read models' positions.
pub type Key = [u8; 32];

/// A 200 answer as the handler gave it: its headers and its body.
#[derive(Debug)]
pub struct Answer {
    /// The handler's headers (its `Content-Type`).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The bytes the answer holds (body and headers), as the bound counts them.
    fn size(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        self.body.len() + headers + std::mem::size_of::<Key>()
    }
}

/// A slot: the answer once computed, and which insertion of the key it is.
struct Slot {
    cell: Arc<OnceCell<Arc<Answer>>>,
    generation: u64,
    bytes: usize,
}

/// The map, the order keys came in, and the bytes kept.
#[derive(Default)]
struct Inner {
    slots: HashMap<Key, Slot>,
    order: VecDeque<(Key, u64)>,
    bytes: usize,
    generation: u64,
}

/// A bounded cache of answers (see the module's documentation).
pub struct AnswerCache {
    inner: Mutex<Inner>,
    max_bytes: usize,
    max_entries: usize,
    /// Random per cache (per server process): mixed into every key, so that no tag
    /// outlives the process that made it (a new build may answer otherwise at the
    /// same read-model positions).
    salt: [u8; 16],
}

/// The default bound on the bytes kept: 64 MiB.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

/// The default bound on the answers kept.
pub const DEFAULT_MAX_ENTRIES: usize = 4096;

impl Default for AnswerCache {
    fn default() -> Self {
        AnswerCache::new(DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES)
    }
}

impl AnswerCache {
    /// A cache keeping at most `max_bytes` of answers and `max_entries` answers (an
    /// answer larger than an eighth of `max_bytes` is given, not kept; 0 keeps none).
    pub fn new(max_bytes: usize, max_entries: usize) -> Self {
        AnswerCache {
            inner: Mutex::default(),
            max_bytes,
            max_entries,
            salt: *uuid::Uuid::new_v4().as_bytes(),
        }
    }

    /// What this cache mixes into every key: a tag made by another process (an
    /// earlier build, before a restart) never matches one of its own.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The answers kept now, and their bytes.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        let kept = inner
            .slots
            .values()
            .filter(|s| s.cell.initialized())
            .count();
        (kept, inner.bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer under `key`: the one kept, or the one another request is computing
    /// (waited for), or `compute`'s. An `Err` from `compute` (an answer not to keep)
    /// is returned to this caller only and nothing is kept; a request waiting on the
    /// same key then computes its own. True with the answer when this call computed it.
    pub async fn get_or_compute<E, F, Fut>(
        &self,
        key: Key,
        compute: F,
    ) -> Result<(Arc<Answer>, bool), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Answer, E>>,
    {
        let (cell, generation) = self.slot(key);
        let mut computed = false;
        let result = cell
            .get_or_try_init(|| {
                computed = true;
                async { compute().await.map(Arc::new) }
            })
            .await
            .cloned();
        match result {
            Ok(answer) => {
                if computed {
                    self.admit(key, generation, &answer);
                }
                Ok((answer, computed))
            }
            Err(err) => {
                self.forget_empty(key, generation);
                Err(err)
            }
        }
    }

    /// The slot of `key`, made when there is none.
    fn slot(&self, key: Key) -> (Arc<OnceCell<Arc<Answer>>>, u64) {
        let mut inner = self.lock();
        if let Some(slot) = inner.slots.get(&key) {
            return (Arc::clone(&slot.cell), slot.generation);
        }
        inner.generation += 1;
        let generation = inner.generation;
        let cell = Arc::new(OnceCell::new());
        inner.slots.insert(
            key,
            Slot {
                cell: Arc::clone(&cell),
                generation,
                bytes: 0,
            },
        );
        inner.order.push_back((key, generation));
        self.evict(&mut inner);
        (cell, generation)
    }

    /// Counts a computed answer against the bound, dropping the oldest over it.
    fn admit(&self, key: Key, generation: u64, answer: &Answer) {
        let bytes = answer.size();
        let mut inner = self.lock();
        let Some(slot) = inner
            .slots
            .get_mut(&key)
            .filter(|s| s.generation == generation)
        else {
            return; // dropped while it was computed
        };
        if bytes > self.max_bytes / 8 {
            inner.slots.remove(&key);
            return;
        }
        slot.bytes = bytes;
        inner.bytes += bytes;
        self.evict(&mut inner);
    }

    /// Drops the slot of a computation that failed, unless another one filled it.
    fn forget_empty(&self, key: Key, generation: u64) {
        let mut inner = self.lock();
        if inner
            .slots
            .get(&key)
            .is_some_and(|s| s.generation == generation && !s.cell.initialized())
        {
            inner.slots.remove(&key);
        }
    }

    /// Drops the oldest slots while over a bound; forgets stale places in the order.
    fn evict(&self, inner: &mut Inner) {
        while inner.bytes > self.max_bytes || inner.slots.len() > self.max_entries {
            let Some((key, generation)) = inner.order.pop_front() else {
                break;
            };
            if inner
                .slots
                .get(&key)
                .is_some_and(|s| s.generation == generation)
            {
                if let Some(slot) = inner.slots.remove(&key) {
                    inner.bytes -= slot.bytes;
                }
            }
        }
        // Places of slots dropped after a failure stay in the order: sweep them out.
        if inner.order.len() > 2 * self.max_entries + 16 {
            let Inner { slots, order, .. } = inner;
            order.retain(|(key, generation)| {
                slots.get(key).is_some_and(|s| s.generation == *generation)
            });
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_cache_salts_its_keys_its_own_way() {
        let (one, other) = (AnswerCache::default(), AnswerCache::new(1, 1));
        assert_ne!(one.salt(), other.salt());
        assert_eq!(one.salt().len(), 16);
    }

    fn answer(body: &'static str) -> Answer {
        Answer {
            headers: HeaderMap::new(),
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    async fn get(cache: &AnswerCache, key: u8, body: &'static str) -> (String, bool) {
        let (a, computed) = cache
            .get_or_compute([key; 32], || async { Ok::<_, ()>(answer(body)) })
            .await
            .unwrap();
        (String::from_utf8(a.body.to_vec()).unwrap(), computed)
    }

    #[tokio::test]
    async fn a_key_is_computed_once_and_kept() {
        let cache = AnswerCache::default();
        assert_eq!(get(&cache, 1, "a").await, ("a".into(), true));
        assert_eq!(get(&cache, 1, "b").await, ("a".into(), false));
        assert_eq!(get(&cache, 2, "b").await, ("b".into(), true));
        assert_eq!(cache.usage().0, 2);
    }

    #[tokio::test]
    async fn a_failed_computation_keeps_nothing() {
        let cache = AnswerCache::default();
        let failed = cache
            .get_or_compute([3; 32], || async { Err::<Answer, _>("no") })
            .await;
        assert_eq!(failed.err(), Some("no"));
        assert_eq!(cache.usage(), (0, 0));
        assert_eq!(get(&cache, 3, "c").await, ("c".into(), true));
    }

    #[tokio::test]
    async fn the_oldest_go_first_past_the_bounds() {
        let cache = AnswerCache::new(1 << 20, 2);
        get(&cache, 1, "a").await;
        get(&cache, 2, "b").await;
        get(&cache, 3, "c").await;
        assert_eq!(cache.usage().0, 2);
        assert!(get(&cache, 1, "a2").await.1, "the oldest was dropped");
        assert!(!get(&cache, 3, "x").await.1, "the newest is kept");
        let none = AnswerCache::new(0, 10);
        get(&none, 1, "a").await;
        assert_eq!(none.usage(), (0, 0));
    }

    #[tokio::test]
    async fn concurrent_misses_of_one_key_wait_for_one_computation() {
        let cache = Arc::new(AnswerCache::default());
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (cache, runs) = (Arc::clone(&cache), Arc::clone(&runs));
                tokio::spawn(async move {
                    cache
                        .get_or_compute([9; 32], || async move {
                            runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                            Ok::<_, ()>(answer("once"))
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
