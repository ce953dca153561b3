//! Reading one stream: from a version, or up to a version or a business time.

use chrono::{DateTime, Utc};

use crate::error::EventLogError;
use crate::event::{event_columns, row_to_event, RecordedEvent};
use crate::store::EventLog;

/// Where a read of a stream stops, for states as of a past moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamBound {
    /// Events up to and including this version.
    Version(i64),
    /// Events that occurred at or before this business time.
    OccurredAt(DateTime<Utc>),
}

impl EventLog {
    /// Up to `limit` events of `stream` from version `from_version` on, in version order.
    /// A stream with no events at all is [`EventLogError::NotFound`].
    #[tracing::instrument(name = "eventlog.read_stream", skip(self))]
    pub async fn read_stream(
        &self,
        stream: &str,
        from_version: i64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM eventlog.events e WHERE e.stream_id = $1 AND e.version >= $2 \
              ORDER BY e.version LIMIT $3"
        ))
        .bind(stream)
        .bind(from_version)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let events = rows
            .iter()
            .map(row_to_event)
            .collect::<Result<Vec<_>, _>>()?;
        if events.is_empty() {
            self.ensure_exists(stream).await?;
        }
        Ok(events)
    }

    /// The events of `stream` up to `bound`, in version order: what its state was then.
    /// A stream with no events at all is [`EventLogError::NotFound`].
    #[tracing::instrument(name = "eventlog.read_stream_until", skip(self))]
    pub async fn read_stream_until(
        &self,
        stream: &str,
        bound: StreamBound,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        let (max_version, until) = match bound {
            StreamBound::Version(v) => (Some(v), None),
            StreamBound::OccurredAt(t) => (None, Some(t)),
        };
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM eventlog.events e WHERE e.stream_id = $1 \
                AND ($2::bigint IS NULL OR e.version <= $2) \
                AND ($3::timestamptz IS NULL OR e.occurred_at <= $3) \
              ORDER BY e.version"
        ))
        .bind(stream)
        .bind(max_version)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        let events = rows
            .iter()
            .map(row_to_event)
            .collect::<Result<Vec<_>, _>>()?;
        if events.is_empty() {
            self.ensure_exists(stream).await?;
        }
        Ok(events)
    }

    /// The version of `stream`'s last event, or None when it has none.
    pub async fn stream_version(&self, stream: &str) -> Result<Option<i64>, EventLogError> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM eventlog.events WHERE stream_id = $1")
                .bind(stream)
                .fetch_one(&self.pool)
                .await?;
        Ok(version)
    }

    async fn ensure_exists(&self, stream: &str) -> Result<(), EventLogError> {
        match self.stream_version(stream).await? {
            Some(_) => Ok(()),
            None => Err(EventLogError::NotFound {
                stream: stream.to_owned(),
            }),
        }
    }
}
