//! The query part every report over a period shares: its bounds, a time or a date,
//! and the check that `from` comes before `to`.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::error::ApiError;

/// A report period's bound: an RFC 3339 time, or a date (its midnight UTC).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum Bound {
    /// A time.
    Time(DateTime<Utc>),
    /// A date: midnight UTC.
    Date(chrono::NaiveDate),
}

impl Bound {
    fn at(self) -> DateTime<Utc> {
        match self {
            Bound::Time(t) => t,
            Bound::Date(d) => d.and_time(chrono::NaiveTime::MIN).and_utc(),
        }
    }
}

/// The half-open period `[from, to)`, checked.
pub(super) fn period(from: Bound, to: Bound) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let (from, to) = (from.at(), to.at());
    if from >= to {
        return Err(ApiError::bad_request(
            "invalid_period",
            "from must be before to",
        ));
    }
    Ok((from, to))
}
