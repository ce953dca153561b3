//! Cursor pages of the list endpoints: `limit` (default 100, at most 1000), an opaque
//! `cursor`, and `next_cursor` (null at the end).
//!
//! A cursor reveals nothing its caller may not read. One that holds only what the
//! page itself shows (the last row's id, an event's position, a count of rows) is
//! that value; one that holds anything else (a client's name, which a role may have
//! hidden; a feed place's transaction id) is sealed with the [`CursorKey`].

use aes_gcm_siv::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ApiError;

/// What a sealed cursor is for, bound into it: one made for a list is no cursor of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorKind {
    /// `GET /clients`: the last card's id and name.
    Clients,
    /// `GET /managers`: the last manager's id and name.
    Managers,
    /// `GET /pipelines`: the last pipeline's id and name.
    Pipelines,
    /// `GET /events`: a place in the feed.
    Feed,
    /// `GET /products`: the last product's id and name.
    Products,
}

impl CursorKind {
    fn label(self) -> &'static [u8] {
        match self {
            CursorKind::Clients => b"crm cursor: clients",
            CursorKind::Managers => b"crm cursor: managers",
            CursorKind::Pipelines => b"crm cursor: pipelines",
            CursorKind::Feed => b"crm cursor: feed",
            CursorKind::Products => b"crm cursor: products",
        }
    }
}

/// The key that seals cursors: AES-256-GCM-SIV, a random nonce per cursor, the
/// cursor's kind as associated data; the cursor is `base64url(nonce ‖ ciphertext)`.
/// A caller can neither read a sealed cursor nor make one. Every server of one
/// database shares the key (`api.secrets`, made on first use), so a cursor from one
/// answers on another.
#[derive(Clone)]
pub struct CursorKey(Aes256GcmSiv);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

/// The name of the cursor key in `api.secrets`.
const CURSOR_SECRET: &str = "cursor_key";

/// The bytes of a sealed cursor's nonce.
const NONCE_LEN: usize = 12;

impl CursorKey {
    /// The key of these 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        CursorKey(Aes256GcmSiv::new(bytes.into()))
    }

    /// The database's cursor key, made (from the system's random generator) if it
    /// has none yet.
    pub async fn load(pool: &PgPool) -> Result<Self, ApiError> {
        let mut fresh = [0u8; 32];
        OsRng.fill_bytes(&mut fresh);
        sqlx::query(
            "INSERT INTO api.secrets (name, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(CURSOR_SECRET)
        .bind(&fresh[..])
        .execute(pool)
        .await?;
        let stored: Vec<u8> = sqlx::query_scalar("SELECT secret FROM api.secrets WHERE name = $1")
            .bind(CURSOR_SECRET)
            .fetch_one(pool)
            .await?;
        let bytes = <[u8; 32]>::try_from(stored.as_slice())
            .map_err(|_| ApiError::internal("the stored cursor key is not 32 bytes"))?;
        Ok(CursorKey::from_bytes(&bytes))
    }

    /// `text` sealed into a cursor of `kind`.
    pub fn seal(&self, kind: CursorKind, text: &str) -> Result<String, ApiError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: text.as_bytes(),
            aad: kind.label(),
        };
        let sealed = self
            .0
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| ApiError::internal("a cursor could not be sealed"))?;
        Ok(URL_SAFE_NO_PAD.encode([nonce.as_slice(), &sealed].concat()))
    }

    /// The text a cursor of `kind` sealed; None for anything this key did not seal
    /// as a cursor of that kind.
    pub fn open(&self, kind: CursorKind, cursor: &str) -> Option<String> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let (nonce, sealed) = bytes.split_at_checked(NONCE_LEN)?;
        let payload = Payload {
            msg: sealed,
            aad: kind.label(),
        };
        let text = self.0.decrypt(Nonce::from_slice(nonce), payload).ok()?;
        String::from_utf8(text).ok()
    }

    /// The text of `cursor` (None when absent or empty: the first page), or a 400
    /// when it is not a cursor of `kind`.
    pub fn opened(
        &self,
        kind: CursorKind,
        cursor: Option<&str>,
    ) -> Result<Option<String>, ApiError> {
        match cursor.filter(|c| !c.is_empty()) {
            None => Ok(None),
            Some(c) => self
                .open(kind, c)
                .map(Some)
                .ok_or_else(|| invalid_cursor(c)),
        }
    }
}

/// The 400 for a cursor the server did not hand out.
pub fn invalid_cursor(cursor: &str) -> ApiError {
    ApiError::bad_request("invalid_cursor", format!("not a cursor: {cursor:?}"))
}

/// The page size asked for, checked.
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(100);
    if (1..=1000).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be 1 to 1000",
        ))
    }
}

/// The id a page of a list ordered by id starts after (None: the first page).
pub fn after_id(cursor: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    match cursor {
        None | Some("") => Ok(None),
        Some(c) => Uuid::parse_str(c).map(Some).map_err(|_| invalid_cursor(c)),
    }
}

/// The (name, id) a page of a list of `kind`, ordered by name, then id, starts after
/// (None: the first page); the cursor is [`name_cursor`]'s.
pub fn after_name_id(
    key: &CursorKey,
    kind: CursorKind,
    cursor: Option<&str>,
) -> Result<Option<(String, Uuid)>, ApiError> {
    let Some(text) = key.opened(kind, cursor)? else {
        return Ok(None);
    };
    // Sealed by this server: well-formed unless the key changed under it.
    let bad = || invalid_cursor(cursor.unwrap_or_default());
    let (id, name) = text.split_at_checked(36).ok_or_else(bad)?;
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    Ok(Some((name.to_owned(), id)))
}

/// The sealed cursor after the row (`name`, `id`) of a list of `kind` ordered by
/// name: a name may be hidden from the caller (a client's), so it is never readable
/// in the cursor.
pub fn name_cursor(
    key: &CursorKey,
    kind: CursorKind,
    name: &str,
    id: Uuid,
) -> Result<String, ApiError> {
    key.seal(kind, &format!("{}{name}", id.hyphenated()))
}

/// The (time, id) a page of a list ordered newest first (by time, then id, both
/// descending) starts before (None: the first page); the cursor is [`time_cursor`]'s.
/// Both are shown in the page's rows, so the cursor holds them readable.
pub fn before_time_id(cursor: Option<&str>) -> Result<Option<(DateTime<Utc>, Uuid)>, ApiError> {
    let Some(c) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let bad = || invalid_cursor(c);
    let text = hex::decode(c)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(bad)?;
    let (id, micros) = text.split_at_checked(36).ok_or_else(bad)?;
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(bad)?;
    Ok(Some((at, id)))
}

/// The cursor after the row (`at`, `id`) of a list ordered newest first.
pub fn time_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    hex::encode(format!("{}{}", id.hyphenated(), at.timestamp_micros()))
}

/// The position a page of a list in log order starts after (0: the first page).
pub fn after_position(cursor: Option<&str>) -> Result<i64, ApiError> {
    match cursor {
        None | Some("") => Ok(0),
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|p| *p >= 0)
            .ok_or_else(|| invalid_cursor(c)),
    }
}

/// Cuts `rows` (read with `limit + 1`) to the page and returns the next page's cursor.
pub fn next_page<T>(rows: &mut Vec<T>, limit: i64, id: impl Fn(&T) -> Uuid) -> Option<String> {
    next_page_by(rows, limit, |row| id(row).to_string())
}

/// Cuts `rows` (read with `limit + 1`) to the page and returns the next page's
/// cursor (or what it is made of), made from the page's last row by `cursor`.
pub fn next_page_by<T, C>(rows: &mut Vec<T>, limit: i64, cursor: impl Fn(&T) -> C) -> Option<C> {
    let limit = usize::try_from(limit).unwrap_or(1000);
    if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(cursor)
    } else {
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_cursor_hides_its_text_and_opens_only_as_its_kind_under_its_key() {
        let key = CursorKey::from_bytes(&[7; 32]);
        let id = Uuid::from_u128(1);
        let cursor = name_cursor(&key, CursorKind::Clients, "Secret Name GmbH", id).unwrap();
        for shown in [
            cursor.clone(),
            String::from_utf8_lossy(&URL_SAFE_NO_PAD.decode(&cursor).unwrap()).into_owned(),
        ] {
            assert!(!shown.contains("Secret"), "{shown}");
            assert!(!shown.contains(&hex::encode("Secret")), "{shown}");
        }
        assert_eq!(
            after_name_id(&key, CursorKind::Clients, Some(&cursor)).unwrap(),
            Some(("Secret Name GmbH".to_owned(), id))
        );
        // Another kind, another key, a changed byte, or a cursor of the old form: 400.
        assert!(key.open(CursorKind::Feed, &cursor).is_none());
        assert!(key.open(CursorKind::Managers, &cursor).is_none());
        let other = CursorKey::from_bytes(&[8; 32]);
        assert_eq!(
            after_name_id(&other, CursorKind::Clients, Some(&cursor))
                .unwrap_err()
                .code(),
            "invalid_cursor"
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let altered = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(
            after_name_id(&key, CursorKind::Clients, Some(&altered))
                .unwrap_err()
                .code(),
            "invalid_cursor"
        );
        let old_form = hex::encode(format!("{}Name\0", id.hyphenated()));
        assert_eq!(
            after_name_id(&key, CursorKind::Clients, Some(&old_form))
                .unwrap_err()
                .code(),
            "invalid_cursor"
        );
        assert_eq!(
            after_name_id(&key, CursorKind::Clients, Some("")).unwrap(),
            None
        );
        // Two cursors of the same row differ (a random nonce each): no equality leaks.
        assert_ne!(
            cursor,
            name_cursor(&key, CursorKind::Clients, "Secret Name GmbH", id).unwrap()
        );
    }
}
