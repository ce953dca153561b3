//! Cursor pages of the list endpoints: `limit` (default 100, at most 1000), an opaque
//! `cursor`, and `next_cursor` (null at the end).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::ApiError;

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

/// The (name, id) a page of a list ordered by name, then id, starts after (None:
/// the first page); the cursor is [`name_cursor`]'s (the name empty when it was
/// made without one).
pub fn after_name_id(cursor: Option<&str>) -> Result<Option<(String, Uuid)>, ApiError> {
    Ok(id_and_rest(cursor)?.map(|(id, name)| (name, id)))
}

/// The id and the rest of a cursor made of a hyphenated id and some text, hex
/// encoded (None: no cursor, the first page).
fn id_and_rest(cursor: Option<&str>) -> Result<Option<(Uuid, String)>, ApiError> {
    let Some(c) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let bad = || invalid_cursor(c);
    let text = hex::decode(c)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(bad)?;
    let (id, rest) = text.split_at_checked(36).ok_or_else(bad)?;
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    Ok(Some((id, rest.to_owned())))
}

/// The 400 for a cursor no page gave.
pub fn invalid_cursor(cursor: &str) -> ApiError {
    ApiError::bad_request("invalid_cursor", format!("not a cursor: {cursor:?}"))
}

/// The opaque cursor after the row (`name`, `id`) of a list ordered by name, then id.
pub fn name_cursor(name: &str, id: Uuid) -> String {
    hex::encode(format!("{}{name}", id.hyphenated()))
}

/// The (time, id) a page of a list ordered newest first (by time, then id, both
/// descending) starts before (None: the first page); the cursor is [`time_cursor`]'s.
pub fn before_time_id(cursor: Option<&str>) -> Result<Option<(DateTime<Utc>, Uuid)>, ApiError> {
    let Some((id, micros)) = id_and_rest(cursor)? else {
        return Ok(None);
    };
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(|| invalid_cursor(cursor.unwrap_or_default()))?;
    Ok(Some((at, id)))
}

/// The opaque cursor after the row (`at`, `id`) of a list ordered newest first.
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
/// cursor, made from the page's last row by `cursor`.
pub fn next_page_by<T>(
    rows: &mut Vec<T>,
    limit: i64,
    cursor: impl Fn(&T) -> String,
) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(1000);
    if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(cursor)
    } else {
        None
    }
}
