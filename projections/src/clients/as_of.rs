//! A client's card as it stood at a past business time, folded from the log: the
//! events of its streams (its own, its deals', the interactions') that occurred at or
//! before that time go, in log order, through the same fold as the live read model.
//!
//! The streams about the client come from `client_streams` (streams are only ever
//! added to it, so today's list holds every stream the client had then); their
//! events come from the log, cut at the time. Leads' and tasks' streams change no
//! card and are not read.

use chrono::{DateTime, Utc};
use crm_domain::EntityKind;
use crm_eventlog::EventLog;
use uuid::Uuid;

use super::fold::Batch;
use super::queries::{ClientCard, Segment, SegmentClock};
use crate::error::ProjectionError;
use crate::event::FeedEvent;

/// The streams whose events change a card.
const CARD_STREAM_KINDS: [EntityKind; 3] = [
    EntityKind::Client,
    EntityKind::Deal,
    EntityKind::Interaction,
];

/// The card of `client_id` as it stood at `as_of` (events with `occurred_at <= as_of`),
/// with its segment at `clock`; None when the client had not registered by then.
#[tracing::instrument(skip(log))]
pub async fn client_card_as_of(
    log: &EventLog,
    client_id: Uuid,
    as_of: DateTime<Utc>,
    clock: SegmentClock,
) -> Result<Option<ClientCard>, ProjectionError> {
    let linked: Vec<String> =
        sqlx::query_scalar("SELECT stream FROM projections.client_streams WHERE client_id = $1")
            .bind(client_id)
            .fetch_all(log.pool())
            .await?;
    let own = EntityKind::Client.stream(client_id);
    let streams: Vec<String> = std::iter::once(own)
        .chain(linked)
        .filter(|s| {
            EntityKind::parse_stream(s).is_some_and(|(kind, _)| CARD_STREAM_KINDS.contains(&kind))
        })
        .collect();
    let mut stored = log
        .read_streams_by_position_until(&streams, 0, Some(as_of), usize::MAX)
        .await?;
    crate::personal::reveal_current(log, &mut stored).await?;
    let events: Vec<FeedEvent> = stored.into_iter().map(FeedEvent::decode).collect();
    let mut batch = Batch::default();
    for event in &events {
        batch.fold(&event.stored, event.domain()?);
    }
    let folded = batch.client(client_id);
    let Some(card) = folded.card else {
        return Ok(None);
    };
    let segment = Segment::of(card.open_deals(), &folded.wins, clock);
    Ok(card.card(client_id, folded.interactions, segment))
}
