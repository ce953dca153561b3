//! The key vault: one key per data subject in `vault.subject_keys`, apart from the
//! log. A key is created with the first append that stores personal data of its
//! subject, in that append's transaction; erasure sets it to NULL (a tombstone with
//! `erased_at`, so the subject never silently gets a new key) in the transaction
//! that appends the erasure event. Readers turn encrypted values back into plaintext
//! with [`Vault::reveal`], or into [`ERASED`] once the key is gone.
//!
//! Keys are cached in the process: a live key for [`KEY_TTL`] (so another process's
//! erasure is seen within that time even by a process that reads no feed), an
//! erased one for good. Erasing through this process, or [`Vault::forget`] (called
//! when an erasure event is seen in the feed), drops a key at once. Answers to
//! people use [`Vault::reveal_current`], which also asks the vault whether a cached
//! live key was destroyed since (one query), so that no process shows a value after
//! another process's erasure has answered.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::error::EventLogError;
use crate::event::RecordedEvent;
use crate::pii::{self, SubjectKey, ERASED};

/// How long a live key is trusted from the cache before it is read again.
pub const KEY_TTL: Duration = Duration::from_secs(5);

/// The most keys cached before the cache is emptied (rather than grow without end).
const CACHE_CAPACITY: usize = 500_000;

/// The process's cache of keys, and when the live keys past [`KEY_TTL`] were last
/// dropped from it.
#[derive(Default)]
struct KeyCache {
    keys: HashMap<Uuid, Cached>,
    swept: Option<Instant>,
}

impl KeyCache {
    /// Drops, at most once per [`KEY_TTL`], the live keys older than that (they would
    /// be read again anyway), and gives their memory back: the cache holds the
    /// subjects of the last few seconds and the erased ones, not every subject a
    /// rebuild has met.
    fn sweep(&mut self, now: Instant) {
        if self
            .swept
            .is_some_and(|at| now.saturating_duration_since(at) < KEY_TTL)
        {
            return;
        }
        self.swept = Some(now);
        self.keys.retain(|_, c| {
            c.state == KeyState::Erased || now.saturating_duration_since(c.at) < KEY_TTL
        });
        if self.keys.capacity() > 4 * self.keys.len().max(1024) {
            self.keys.shrink_to_fit();
        }
    }
}

/// What the vault holds for a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// The subject's key: its values can be read.
    Live(SubjectKey),
    /// The key was destroyed (or never existed): its values read as [`ERASED`].
    Erased,
}

/// The vault's writes that go with an append, in the append's transaction.
#[derive(Debug, Clone, Default)]
pub struct VaultWrite {
    /// Keys to create (the first personal data of these subjects).
    pub create: Vec<(Uuid, SubjectKey)>,
    /// Subjects whose existing keys encrypted data of the append: they must still be
    /// live when it commits (a concurrent erasure refuses the append).
    pub live: Vec<Uuid>,
    /// Subjects whose keys are destroyed with the append.
    pub erase: Vec<Uuid>,
}

impl VaultWrite {
    /// True when the append touches no key.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.live.is_empty() && self.erase.is_empty()
    }
}

/// Keys to encrypt an append's personal values with (see [`Vault::keys_for_write`]).
#[derive(Debug, Clone, Default)]
pub struct WriteKeys {
    keys: HashMap<Uuid, SubjectKey>,
    created: HashSet<Uuid>,
}

impl WriteKeys {
    /// The key of `subject`, if it was asked for.
    pub fn key(&self, subject: Uuid) -> Option<&SubjectKey> {
        self.keys.get(&subject)
    }

    /// The vault writes the append must carry: the new keys, and the old ones checked live.
    pub fn into_write(self) -> VaultWrite {
        let mut write = VaultWrite::default();
        for (subject, key) in self.keys {
            if self.created.contains(&subject) {
                write.create.push((subject, key));
            } else {
                write.live.push(subject);
            }
        }
        write.create.sort_by_key(|(s, _)| *s);
        write.live.sort();
        write
    }
}

/// How far [`Vault::states`] trusts the process's cache of live keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// A live key cached less than [`KEY_TTL`] ago is used as it is.
    Cached,
    /// A cached live key is checked against the vault: destroyed since, it is erased.
    Current,
}

#[derive(Debug, Clone)]
struct Cached {
    state: KeyState,
    at: Instant,
}

/// The key vault of one database, with the process's key cache. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    pool: PgPool,
    cache: Arc<Mutex<KeyCache>>,
}

impl Vault {
    /// The vault on the log's database.
    pub(crate) fn new(pool: PgPool) -> Self {
        Vault {
            pool,
            cache: Arc::default(),
        }
    }

    /// The states of these subjects' keys: from the cache, the rest in one query.
    /// A subject without a row reads as erased (its values cannot be decrypted).
    /// With [`Freshness::Current`], the live keys taken from the cache are checked
    /// against the vault too (one more query): a key destroyed by another process
    /// reads erased at once rather than within [`KEY_TTL`].
    pub async fn states(
        &self,
        subjects: &HashSet<Uuid>,
        freshness: Freshness,
    ) -> Result<HashMap<Uuid, KeyState>, EventLogError> {
        let mut states = HashMap::with_capacity(subjects.len());
        let mut missing = Vec::new();
        let mut cached_live = Vec::new();
        if let Ok(cache) = self.cache.lock() {
            for subject in subjects {
                match cache.keys.get(subject) {
                    Some(c) if c.state == KeyState::Erased || c.at.elapsed() < KEY_TTL => {
                        if c.state != KeyState::Erased {
                            cached_live.push(*subject);
                        }
                        states.insert(*subject, c.state.clone());
                    }
                    _ => missing.push(*subject),
                }
            }
        } else {
            missing.extend(subjects.iter().copied());
        }
        if freshness == Freshness::Current && !cached_live.is_empty() {
            for subject in destroyed(&self.pool, &cached_live).await? {
                self.forget(subject);
                missing.push(subject);
            }
        }
        if missing.is_empty() {
            return Ok(states);
        }
        let loaded = load(&self.pool, &missing).await?;
        let now = Instant::now();
        if let Ok(mut cache) = self.cache.lock() {
            cache.sweep(now);
            if cache.keys.len() + missing.len() > CACHE_CAPACITY {
                cache.keys.clear();
            }
            for subject in &missing {
                let state = match loaded.get(subject) {
                    Some(Some(key)) => KeyState::Live(key.clone()),
                    // A row without a key: erased for good. No row: not cached, a
                    // key may yet be created for it.
                    Some(None) => KeyState::Erased,
                    None => continue,
                };
                cache.keys.insert(*subject, Cached { state, at: now });
            }
        }
        for subject in missing {
            let state = match loaded.get(&subject) {
                Some(Some(key)) => KeyState::Live(key.clone()),
                _ => KeyState::Erased,
            };
            states.insert(subject, state);
        }
        Ok(states)
    }

    /// Replaces every encrypted value in these events' payloads by its plaintext, or
    /// by [`ERASED`] when its subject's key is gone. Plaintext values (a log written
    /// before encryption) pass through. The hash stays the stored event's. Live keys
    /// come from the cache (see [`Vault::reveal_current`] for answers).
    pub async fn reveal(&self, events: &mut [RecordedEvent]) -> Result<(), EventLogError> {
        self.reveal_as(events, Freshness::Cached).await
    }

    /// [`Vault::reveal`] with every key as the vault holds it now: a key destroyed
    /// by any process reads erased at once. For answers shown to people.
    pub async fn reveal_current(&self, events: &mut [RecordedEvent]) -> Result<(), EventLogError> {
        self.reveal_as(events, Freshness::Current).await
    }

    async fn reveal_as(
        &self,
        events: &mut [RecordedEvent],
        freshness: Freshness,
    ) -> Result<(), EventLogError> {
        let mut subjects = HashSet::new();
        for event in events.iter() {
            collect_subjects(&event.data, &mut subjects);
        }
        if subjects.is_empty() {
            return Ok(());
        }
        let states = self.states(&subjects, freshness).await?;
        for event in events.iter_mut() {
            reveal_value(&states, &mut event.data, "");
        }
        Ok(())
    }

    /// The same as [`Vault::reveal`] for one JSON value.
    pub async fn reveal_json(&self, value: &mut Value) -> Result<(), EventLogError> {
        let mut subjects = HashSet::new();
        collect_subjects(value, &mut subjects);
        if subjects.is_empty() {
            return Ok(());
        }
        let states = self.states(&subjects, Freshness::Cached).await?;
        reveal_value(&states, value, "");
        Ok(())
    }

    /// Keys to encrypt new personal data of `subjects` with, read from the vault
    /// (not the cache): existing keys, and new ones for subjects that have none (to
    /// be created by the append, see [`WriteKeys::into_write`]). A subject whose key
    /// was destroyed is refused: [`EventLogError::SubjectErased`].
    pub async fn keys_for_write(&self, subjects: &[Uuid]) -> Result<WriteKeys, EventLogError> {
        let mut keys = WriteKeys::default();
        if subjects.is_empty() {
            return Ok(keys);
        }
        let loaded = load(&self.pool, subjects).await?;
        for subject in subjects {
            match loaded.get(subject) {
                Some(Some(key)) => {
                    keys.keys.insert(*subject, key.clone());
                }
                Some(None) => return Err(EventLogError::SubjectErased { subject: *subject }),
                None => {
                    keys.keys.insert(*subject, SubjectKey::generate());
                    keys.created.insert(*subject);
                }
            }
        }
        Ok(keys)
    }

    /// Drops `subject`'s key from this process's cache (an erasure was seen).
    pub fn forget(&self, subject: Uuid) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.keys.remove(&subject);
        }
    }

    /// Remembers what an append just wrote to the vault.
    pub(crate) fn remember(&self, write: &VaultWrite) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        let now = Instant::now();
        for (subject, key) in &write.create {
            cache.keys.insert(
                *subject,
                Cached {
                    state: KeyState::Live(key.clone()),
                    at: now,
                },
            );
        }
        for subject in &write.erase {
            cache.keys.insert(
                *subject,
                Cached {
                    state: KeyState::Erased,
                    at: now,
                },
            );
        }
    }
}

/// Which of these subjects' keys are destroyed (tombstones), by the primary key.
async fn destroyed(pool: &PgPool, subjects: &[Uuid]) -> Result<Vec<Uuid>, EventLogError> {
    Ok(sqlx::query_scalar(
        "SELECT subject_id FROM vault.subject_keys WHERE subject_id = ANY($1) AND key IS NULL",
    )
    .bind(subjects)
    .fetch_all(pool)
    .await?)
}

/// Each subject's stored key (None: destroyed); subjects without a row are absent.
async fn load(
    pool: &PgPool,
    subjects: &[Uuid],
) -> Result<HashMap<Uuid, Option<SubjectKey>>, EventLogError> {
    let rows =
        sqlx::query("SELECT subject_id, key FROM vault.subject_keys WHERE subject_id = ANY($1)")
            .bind(subjects)
            .fetch_all(pool)
            .await?;
    let mut keys = HashMap::with_capacity(rows.len());
    for row in rows {
        let subject: Uuid = row.try_get(0)?;
        let key: Option<Vec<u8>> = row.try_get(1)?;
        let key = match key {
            None => None,
            Some(bytes) => Some(SubjectKey::from_bytes(&bytes).ok_or_else(|| {
                EventLogError::Corrupt(format!("the vault key of {subject} is not 32 bytes"))
            })?),
        };
        keys.insert(subject, key);
    }
    Ok(keys)
}

/// Applies an append's vault writes on its transaction, after its events are written.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    write: &VaultWrite,
) -> Result<(), EventLogError> {
    if !write.create.is_empty() {
        let subjects: Vec<Uuid> = write.create.iter().map(|(s, _)| *s).collect();
        let keys: Vec<&[u8]> = write.create.iter().map(|(_, k)| k.as_bytes()).collect();
        let created: Vec<Uuid> = sqlx::query_scalar(
            "INSERT INTO vault.subject_keys (subject_id, key) \
             SELECT * FROM unnest($1::uuid[], $2::bytea[]) \
             ON CONFLICT (subject_id) DO NOTHING RETURNING subject_id",
        )
        .bind(&subjects)
        .bind(&keys)
        .fetch_all(&mut *conn)
        .await?;
        if created.len() != subjects.len() {
            let created: HashSet<Uuid> = created.into_iter().collect();
            let raced: Vec<Uuid> = subjects
                .into_iter()
                .filter(|s| !created.contains(s))
                .collect();
            let erased: Option<Uuid> = sqlx::query_scalar(
                "SELECT subject_id FROM vault.subject_keys \
                  WHERE subject_id = ANY($1) AND key IS NULL LIMIT 1",
            )
            .bind(&raced)
            .fetch_optional(&mut *conn)
            .await?;
            return Err(match erased {
                Some(subject) => EventLogError::SubjectErased { subject },
                // Another append created the key meanwhile: decide and encrypt again.
                None => EventLogError::Conflict {
                    stream: format!(
                        "vault key of {}",
                        raced.first().copied().unwrap_or_default()
                    ),
                    expected: crate::event::ExpectedVersion::NoStream,
                    actual: 1,
                },
            });
        }
    }
    if !write.live.is_empty() {
        // FOR SHARE: an erasure of these subjects waits for this append, or this
        // append sees its tombstone.
        let live: Vec<Uuid> = sqlx::query_scalar(
            "SELECT subject_id FROM vault.subject_keys \
              WHERE subject_id = ANY($1) AND key IS NOT NULL FOR SHARE",
        )
        .bind(&write.live)
        .fetch_all(&mut *conn)
        .await?;
        if let Some(subject) = write.live.iter().find(|s| !live.contains(s)) {
            return Err(EventLogError::SubjectErased { subject: *subject });
        }
    }
    if !write.erase.is_empty() {
        sqlx::query(
            "INSERT INTO vault.subject_keys (subject_id, key, erased_at) \
             SELECT s, NULL, now() FROM unnest($1::uuid[]) AS s \
             ON CONFLICT (subject_id) DO UPDATE \
                SET key = NULL, erased_at = coalesce(vault.subject_keys.erased_at, now())",
        )
        .bind(&write.erase)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Adds the subject of every encrypted value in `value` to `subjects`.
fn collect_subjects(value: &Value, subjects: &mut HashSet<Uuid>) {
    match value {
        Value::String(s) => {
            if let Some((subject, _)) = pii::parse(s) {
                subjects.insert(subject);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_subjects(v, subjects)),
        Value::Object(map) => map.values().for_each(|v| collect_subjects(v, subjects)),
        _ => {}
    }
}

/// Decrypts every encrypted value in `value`, each bound to the name of the field
/// holding it (`field`: the nearest object key above).
fn reveal_value(states: &HashMap<Uuid, KeyState>, value: &mut Value, field: &str) {
    match value {
        Value::String(s) => {
            let Some((subject, _)) = pii::parse(s) else {
                return;
            };
            let plain = match states.get(&subject) {
                Some(KeyState::Live(key)) => match key.decrypt(s, field) {
                    Ok(plain) => plain,
                    Err(err) => {
                        tracing::warn!(%subject, field, "a personal value does not decrypt: {err}");
                        ERASED.to_owned()
                    }
                },
                _ => ERASED.to_owned(),
            };
            *s = plain;
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| reveal_value(states, v, field)),
        Value::Object(map) => map.iter_mut().for_each(|(k, v)| reveal_value(states, v, k)),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cached(state: KeyState, at: Instant) -> Cached {
        Cached { state, at }
    }

    #[test]
    fn a_sweep_drops_the_stale_live_keys_once_per_ttl_and_keeps_the_erased() {
        let start = Instant::now();
        let live = || KeyState::Live(SubjectKey::generate());
        let mut cache = KeyCache::default();
        let (old, fresh, erased) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        cache.keys.insert(old, cached(live(), start));
        cache.keys.insert(erased, cached(KeyState::Erased, start));
        let later = start + KEY_TTL + Duration::from_millis(1);
        cache.keys.insert(fresh, cached(live(), later));
        cache.sweep(later);
        let mut left: Vec<Uuid> = cache.keys.keys().copied().collect();
        left.sort();
        assert_eq!(left, [fresh, erased], "the stale live key is dropped");

        // Within KEY_TTL of the last sweep nothing is dropped, even a stale key.
        let stale = Uuid::from_u128(4);
        cache.keys.insert(stale, cached(live(), start));
        cache.sweep(later + Duration::from_secs(1));
        assert!(cache.keys.contains_key(&stale));
        cache.sweep(later + KEY_TTL);
        assert!(!cache.keys.contains_key(&stale));
        assert!(!cache.keys.contains_key(&fresh), "stale by then too");
        assert!(cache.keys.contains_key(&erased), "erased for good");
    }

    /// The sweep is made by the vault's reads: a miss after KEY_TTL leaves only the
    /// keys of the last few seconds cached.
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn reading_keys_after_the_ttl_drops_the_stale_ones(pool: PgPool) {
        let subjects: Vec<Uuid> = (1..=3).map(Uuid::from_u128).collect();
        for subject in &subjects {
            sqlx::query("INSERT INTO vault.subject_keys (subject_id, key) VALUES ($1, $2)")
                .bind(subject)
                .bind(&[5u8; 32][..])
                .execute(&pool)
                .await
                .unwrap();
        }
        let vault = Vault::new(pool);
        let first: HashSet<Uuid> = subjects[..2].iter().copied().collect();
        vault.states(&first, Freshness::Cached).await.unwrap();
        assert_eq!(vault.cache.lock().unwrap().keys.len(), 2);
        tokio::time::sleep(KEY_TTL + Duration::from_millis(100)).await;
        let next: HashSet<Uuid> = [subjects[2]].into_iter().collect();
        let states = vault.states(&next, Freshness::Cached).await.unwrap();
        assert!(matches!(states.get(&subjects[2]), Some(KeyState::Live(_))));
        let cache = vault.cache.lock().unwrap();
        let left: Vec<Uuid> = cache.keys.keys().copied().collect();
        assert_eq!(
            left,
            [subjects[2]],
            "only the key read after the TTL is kept"
        );
    }

    #[test]
    fn a_sweep_gives_back_the_memory_of_the_keys_it_drops() {
        let start = Instant::now();
        let mut cache = KeyCache::default();
        for n in 0..100_000u128 {
            cache.keys.insert(
                Uuid::from_u128(n),
                cached(KeyState::Live(SubjectKey::generate()), start),
            );
        }
        assert!(cache.keys.capacity() >= 100_000);
        cache.sweep(start + KEY_TTL);
        assert!(cache.keys.is_empty());
        assert!(cache.keys.capacity() < 10_000, "{}", cache.keys.capacity());
    }
}
