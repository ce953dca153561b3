//! A client's card as it stood at a past business time, folded from the log: the
//! events of its streams (its own, its deals', the interactions') that occurred at or
//! before that time go, in log order, through the same fold as the live read model.
//!
//! Merges count as they stood then (`client_merge_history`, cut at the time): a
//! survivor's card sums its own figures and those of the clients merged into it then,
//! a client merged then names its survivor, and a merge not yet made or already undone
//! changes nothing, as the live card counts the merges in force now.
//!
//! The streams about the clients come from `client_streams` (streams are only ever
//! added to it, so today's list holds every stream a client had then); their events
//! come from the log, cut at the time. Leads' and tasks' streams change no card and
//! are not read.

use chrono::{DateTime, Utc};
use crm_domain::EntityKind;
use crm_eventlog::EventLog;
use uuid::Uuid;

use super::fold::Batch;
use super::merge_history;
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
    let survivors = merge_history::survivors_at(log.pool(), as_of).await?;
    // The client first, then those merged into it then.
    let members = merge_history::members(&survivors, client_id);
    let linked: Vec<String> = sqlx::query_scalar(
        "SELECT stream FROM projections.client_streams WHERE client_id = ANY($1)",
    )
    .bind(&members)
    .fetch_all(log.pool())
    .await?;
    let streams: Vec<String> = members
        .iter()
        .map(|m| EntityKind::Client.stream(*m))
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
    let Some(mut card) = folded
        .card
        .and_then(|c| c.card(client_id, folded.interactions, Segment::Inquiry))
    else {
        return Ok(None);
    };
    let mut wins = folded.wins;
    // The members' figures, as the live card sums them (those registered by then).
    for &member in &members[1..] {
        let folded = batch.client(member);
        let Some(theirs) = folded
            .card
            .and_then(|c| c.card(member, folded.interactions, Segment::Inquiry))
        else {
            continue;
        };
        card.open_deals += theirs.open_deals;
        card.won_deals += theirs.won_deals;
        card.lost_deals += theirs.lost_deals;
        card.won_amount.0 += theirs.won_amount.0;
        card.interactions += theirs.interactions;
        card.last_interaction_at = card.last_interaction_at.max(theirs.last_interaction_at);
        card.last_won_at = card.last_won_at.max(theirs.last_won_at);
        wins.extend(folded.wins);
    }
    card.merged_into_client_id = survivors.get(&client_id).copied();
    card.segment = Segment::of(card.open_deals, &wins, clock)
        .as_str()
        .to_owned();
    Ok(Some(card))
}
