//! Reading one stream: from a version, or up to a version or a business time.

use std::collections::HashMap;

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
    /// Read from the start (`from_version` ≤ 1), a stream with no events at all is
    /// [`EventLogError::NotFound`]; read from later on, it is just no events.
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

    /// The events of `stream` after version `after` (none when it does not exist).
    pub async fn read_stream_after(
        &self,
        stream: &str,
        after: i64,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        let mut by_stream = self
            .read_streams_after(&[(stream.to_owned(), after)])
            .await?;
        Ok(by_stream.remove(stream).unwrap_or_default())
    }

    /// The events of each stream after its given version, in one query: for catching
    /// up several known states at once. Streams with nothing new get an empty list.
    #[tracing::instrument(name = "eventlog.read_streams_after", skip_all, fields(streams = after.len()))]
    pub async fn read_streams_after(
        &self,
        after: &[(String, i64)],
    ) -> Result<HashMap<String, Vec<RecordedEvent>>, EventLogError> {
        let (streams, versions): (Vec<&str>, Vec<i64>) =
            after.iter().map(|(s, v)| (s.as_str(), *v)).unzip();
        // LATERAL: one index range scan per stream, whatever the planner thinks of unnest.
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM unnest($1::text[], $2::bigint[]) AS u(stream_id, after) \
             CROSS JOIN LATERAL ( \
                   SELECT * FROM eventlog.events x \
                    WHERE x.stream_id = u.stream_id AND x.version > u.after \
                    ORDER BY x.version) e \
             ORDER BY e.stream_id, e.version"
        ))
        .bind(&streams)
        .bind(&versions)
        .fetch_all(&self.pool)
        .await?;
        let mut by_stream: HashMap<String, Vec<RecordedEvent>> = streams
            .iter()
            .map(|s| ((*s).to_owned(), Vec::new()))
            .collect();
        for row in &rows {
            let event = row_to_event(row)?;
            by_stream
                .entry(event.stream.clone())
                .or_default()
                .push(event);
        }
        Ok(by_stream)
    }

    /// Up to `limit` events of the given streams with positions after `after_position`,
    /// by position: the interleaved history of a few related entities, a page at a
    /// time. Like [`EventLog::read_types`] it reads what is committed when it starts,
    /// so a later page may miss an event that commits late with a lower position.
    pub async fn read_streams_by_position(
        &self,
        streams: &[String],
        after_position: i64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.read_streams_by_position_until(streams, after_position, None, limit)
            .await
    }

    /// The same as [`EventLog::read_streams_by_position`], keeping only the events
    /// that occurred at or before `until` when given: that history as of a past time.
    #[tracing::instrument(name = "eventlog.read_streams_by_position", skip(self, streams), fields(streams = streams.len()))]
    pub async fn read_streams_by_position_until(
        &self,
        streams: &[String],
        after_position: i64,
        until: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut streams: Vec<&str> = streams.iter().map(String::as_str).collect();
        streams.sort_unstable();
        streams.dedup();
        // A stream's positions grow with its versions (version n+1 is appended only
        // after version n committed), so each stream's first `limit` events after the
        // position are its first ones by version: one (stream, version) index range
        // scan per stream, then a merge of at most streams × limit rows.
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM unnest($1::text[]) AS u(stream_id) \
             CROSS JOIN LATERAL ( \
                   SELECT * FROM eventlog.events x \
                    WHERE x.stream_id = u.stream_id AND x.position > $2 \
                      AND ($4::timestamptz IS NULL OR x.occurred_at <= $4) \
                    ORDER BY x.version LIMIT $3) e \
             ORDER BY e.position LIMIT $3"
        ))
        .bind(&streams)
        .bind(after_position)
        .bind(limit)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_event).collect()
    }

    /// Every event of the given types committed when the read starts, by position,
    /// up to `limit` after position `after`: a snapshot of the log, for questions
    /// such as "which entities were ever given to this manager". Unlike the feed,
    /// nothing holds it back, and a later call may find events with lower positions.
    #[tracing::instrument(name = "eventlog.read_types", skip(self))]
    pub async fn read_types(
        &self,
        event_types: &[String],
        after: i64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM eventlog.events e WHERE e.event_type = ANY($1) AND e.position > $2 \
              ORDER BY e.position LIMIT $3"
        ))
        .bind(event_types)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_event).collect()
    }

    /// The event at `position` as stored, if there is one.
    pub async fn event_at(&self, position: i64) -> Result<Option<RecordedEvent>, EventLogError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM eventlog.events e WHERE e.position = $1"
        ))
        .bind(position)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(row_to_event).transpose()
    }

    /// The events at `positions` as stored, by position (a position with no event is
    /// left out): the events a read model's rows point at, in one query.
    pub async fn events_at(&self, positions: &[i64]) -> Result<Vec<RecordedEvent>, EventLogError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM eventlog.events e WHERE e.position = ANY($1) ORDER BY e.position"
        ))
        .bind(positions)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_event).collect()
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
