//! Cursor pages of the list endpoints: `limit` (default 100, at most 1000), an opaque
//! `cursor`, and `next_cursor` (null at the end).

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
        Some(c) => Uuid::parse_str(c)
            .map(Some)
            .map_err(|_| ApiError::bad_request("invalid_cursor", format!("not a cursor: {c:?}"))),
    }
}

/// Cuts `rows` (read with `limit + 1`) to the page and returns the next page's cursor.
pub fn next_page<T>(rows: &mut Vec<T>, limit: i64, id: impl Fn(&T) -> Uuid) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(1000);
    if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|row| id(row).to_string())
    } else {
        None
    }
}
