//! The log exported as NDJSON or CSV: chunks made page by page from the feed, so an
//! export of any size takes the memory of one page. Shared by `GET /export/events` and
//! `crm export`.

use axum::body::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use crm_eventlog::{Cursor, EventLog, EventLogError, FeedFilter, RecordedEvent};
use futures::Stream;

use crate::commands::{execute, CommandContext, CommandError, Commands, Decision};

/// Events read from the feed per chunk.
const PAGE: usize = 2_000;

/// How long to wait before reading again when the end of the feed is held back.
const HELD_BACK_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// The shape of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line, as `GET /events` shows an event.
    Ndjson,
    /// A header line, then one line per event; `data` and `metadata` as JSON text.
    Csv,
}

impl Format {
    /// Parses `ndjson` or `csv`.
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "ndjson" => Some(Format::Ndjson),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// The format's name: `ndjson` or `csv`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
        }
    }

    /// The HTTP content type of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// Which events an export holds (every one by default).
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    /// Only these event types.
    pub types: Option<Vec<String>>,
    /// Only the streams of this kind (`deal` for `deal-<uuid>`).
    pub stream_kind: Option<String>,
    /// Only events that occurred at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only events that occurred before this time.
    pub to: Option<DateTime<Utc>>,
}

impl ExportFilter {
    /// The filters as JSON, for the export's record (absent ones left out).
    pub fn to_json(&self) -> serde_json::Value {
        let mut filters = serde_json::Map::new();
        if let Some(types) = &self.types {
            filters.insert("types".into(), serde_json::json!(types));
        }
        if let Some(kind) = &self.stream_kind {
            filters.insert("stream_kind".into(), serde_json::json!(kind));
        }
        if let Some(from) = self.from {
            filters.insert("from".into(), serde_json::json!(from));
        }
        if let Some(to) = self.to {
            filters.insert("to".into(), serde_json::json!(to));
        }
        serde_json::Value::Object(filters)
    }

    fn keeps(&self, event: &RecordedEvent) -> bool {
        let kind = event
            .stream
            .split_once('-')
            .map_or(&*event.stream, |(k, _)| k);
        self.stream_kind.as_deref().is_none_or(|k| k == kind)
            && self.from.is_none_or(|from| event.occurred_at >= from)
            && self.to.is_none_or(|to| event.occurred_at < to)
    }
}

/// The CSV columns, in order.
const CSV_HEADER: &str = "position,event_id,stream,version,type,schema_version,occurred_at,\
                          recorded_at,data,metadata,hash\n";

/// The events of the log that `filter` keeps, in feed order, as chunks of `format`,
/// up to the end of the feed when the export reaches it, without the `hidden` fields.
pub fn export(
    log: EventLog,
    format: Format,
    filter: ExportFilter,
    hidden: crate::hidden::Hidden,
) -> impl Stream<Item = Result<Bytes, EventLogError>> {
    let hidden = std::sync::Arc::new(hidden);
    let feed = FeedFilter {
        event_types: filter.types.clone(),
    };
    let start = (Some(Cursor::start()), format == Format::Csv);
    futures::stream::try_unfold(start, move |(cursor, header)| {
        let (log, feed, filter) = (log.clone(), feed.clone(), filter.clone());
        let hidden = std::sync::Arc::clone(&hidden);
        async move {
            let Some(mut cursor) = cursor else {
                return Ok(None);
            };
            let mut out = Vec::new();
            if header {
                out.extend_from_slice(CSV_HEADER.as_bytes());
            }
            loop {
                let mut page = log.read_feed(cursor, PAGE, &feed).await?;
                crm_projections::personal::reveal_current(&log, &mut page.events).await?;
                cursor = page.next;
                for event in page
                    .events
                    .into_iter()
                    .filter(|e| filter.keeps(e))
                    .map(current_shape)
                {
                    let mut event = event;
                    hidden.strip_stream(&event.stream, &mut event.data);
                    match format {
                        Format::Ndjson => ndjson_line(&mut out, event),
                        Format::Csv => csv_line(&mut out, &event),
                    }
                }
                if page.caught_up && page.held_back {
                    // Committed events wait behind a transaction still running (the
                    // feed's order is only final once it ends): they belong in it.
                    tokio::time::sleep(HELD_BACK_PAUSE).await;
                    continue;
                }
                if page.caught_up {
                    return Ok(Some((Bytes::from(out), (None, false))));
                }
                if !out.is_empty() {
                    return Ok(Some((Bytes::from(out), (Some(cursor), false))));
                }
            }
        }
    })
}

/// The event with its payload upcast to its type's current schema version, as
/// projections see it (`hash` stays the stored form's; `GET /streams/{s}/events`
/// shows the stored form). Types the domain does not know stay as stored.
fn current_shape(mut event: RecordedEvent) -> RecordedEvent {
    let current = crm_domain::codec::current_schema_version(&event.event_type);
    if event.schema_version < current {
        match crm_domain::codec::upcast(&event.event_type, event.schema_version, event.data.clone())
        {
            Ok((version, data)) => {
                event.schema_version = version;
                event.data = data;
            }
            Err(err) => tracing::warn!(
                position = event.position,
                error = %err,
                "exporting an event as stored: it cannot be upcast"
            ),
        }
    }
    event
}

/// The event as `GET /events` shows it, on one line.
fn ndjson_line(out: &mut Vec<u8>, event: RecordedEvent) {
    let view = crate::event_view::EventView::from(event);
    if serde_json::to_writer(&mut *out, &view).is_ok() {
        out.push(b'\n');
    }
}

/// The event as one CSV line (RFC 4180 quoting).
fn csv_line(out: &mut Vec<u8>, event: &RecordedEvent) {
    let fields = [
        event.position.to_string(),
        event.event_id.to_string(),
        event.stream.clone(),
        event.version.to_string(),
        event.event_type.clone(),
        event.schema_version.to_string(),
        event
            .occurred_at
            .to_rfc3339_opts(SecondsFormat::Micros, true),
        event
            .recorded_at
            .to_rfc3339_opts(SecondsFormat::Micros, true),
        event.data.to_string(),
        serde_json::to_string(&event.metadata).unwrap_or_default(),
        hex::encode(&event.hash),
    ];
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(out, field);
    }
    out.push(b'\n');
}

/// A field, quoted (quotes doubled) when it holds a comma, a quote or a line break.
fn csv_field(out: &mut Vec<u8>, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(field.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(field.as_bytes());
    }
}

/// Records an export about to run as a `DataExported` event on a stream of its own,
/// run like any command in `ctx` (an exporter's; `cli:<user>` named in the metadata
/// for `crm export`), through `via` (`api`, `cli`): every export of the base is a
/// fact of the log. Returns its position.
pub async fn record_export(
    commands: &Commands,
    ctx: &CommandContext,
    format: Format,
    filter: &ExportFilter,
    via: &str,
) -> Result<i64, CommandError> {
    use crm_domain::export::{ExportCommand, ExportState};
    use crm_domain::{Aggregate, EntityKind};
    let export = crm_domain::events::DataExported {
        export_id: uuid::Uuid::now_v7(),
        what: "events".into(),
        format: format.name().into(),
        filters: filter.to_json(),
        via: via.into(),
    };
    let target = (EntityKind::Export, export.export_id);
    let response = execute(commands, ctx, target, None, |mut loader| {
        let export = export.clone();
        async move {
            let state: ExportState = loader.fresh(EntityKind::Export, export.export_id);
            let events = state.decide(ExportCommand::Record(export))?;
            Ok(Decision::new(loader, events))
        }
    })
    .await?;
    Ok(response.position)
}
