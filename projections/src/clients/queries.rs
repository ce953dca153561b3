//! The queries of the clients read model: a card, the list of cards, a timeline.

use chrono::{DateTime, TimeDelta, Utc};
use crm_eventlog::{EventLog, RecordedEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::total::Total;

/// A client's segment at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// Has never won a deal (by then).
    Inquiry,
    /// Won a deal within the churn window, or has an open deal and has won before.
    Active,
    /// Has won before, but is not active.
    Churned,
}

impl Segment {
    /// The segment's name: `inquiry`, `active` or `churned`.
    pub fn as_str(self) -> &'static str {
        match self {
            Segment::Inquiry => "inquiry",
            Segment::Active => "active",
            Segment::Churned => "churned",
        }
    }
}

/// When segments are judged: at `now`, counting wins within `churn_days` before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentClock {
    /// The moment; wins after it do not count.
    pub now: DateTime<Utc>,
    /// How many days a win keeps a client active.
    pub churn_days: i64,
}

impl SegmentClock {
    /// The earliest win time that still makes a client active at `now`.
    fn cutoff(self) -> DateTime<Utc> {
        TimeDelta::try_days(self.churn_days)
            .and_then(|window| self.now.checked_sub_signed(window))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// Whether the card `c` won within the window from `$2` (now - churn_days) to `$1`
/// (now): its latest win decides, unless that is after now; then its wins are
/// searched (by client, for one card).
macro_rules! recent_win_of_card {
    () => {
        concat!(
            "CASE WHEN c.last_won_at <= $1 THEN c.last_won_at >= $2 \
             ELSE EXISTS (SELECT 1 FROM projections.client_wins w WHERE w.client_id IN ",
            crate::clients::members_of!("c.client_id"),
            " AND w.won_at >= $2 AND w.won_at <= $1) END"
        )
    };
}

/// The same as `recent_win_of_card!()` to filter many cards: the clients with a win in
/// the window are found once (a hashed set), which PostgreSQL also costs right; each
/// win counts for its client's survivor (one hash join with `client_survivors`, not a
/// lookup per win).
macro_rules! recent_win_of_cards {
    () => {
        "((c.last_won_at <= $1 AND c.last_won_at >= $2) \
          OR (c.last_won_at > $1 AND c.client_id IN ( \
                SELECT coalesce(w_sv.survivor_id, w.client_id) FROM projections.client_wins w \
                  LEFT JOIN projections.client_survivors w_sv ON w_sv.client_id = w.client_id \
                 WHERE w.won_at >= $2 AND w.won_at <= $1)))"
    };
}

/// The card `c` has not won by `$1`.
const INQUIRY: &str = "(c.first_won_at IS NULL OR c.first_won_at > $1)";
/// The card `c` has won by `$1`, and recently or with a deal open now.
const ACTIVE: &str = concat!(
    "(c.first_won_at <= $1 AND (c.open_deals > 0 OR ",
    recent_win_of_cards!(),
    "))"
);
/// The card `c` has won by `$1`, not recently, and has no open deal.
const CHURNED: &str = concat!(
    "(c.first_won_at <= $1 AND c.open_deals = 0 AND NOT ",
    recent_win_of_cards!(),
    ")"
);

/// The segment of the card `c` at `$1` and `$2`, as SQL.
macro_rules! segment_sql {
    () => {
        concat!(
            "CASE WHEN c.first_won_at IS NULL OR c.first_won_at > $1 THEN 'inquiry' \
             WHEN c.open_deals > 0 OR ",
            recent_win_of_card!(),
            " THEN 'active' ELSE 'churned' END"
        )
    };
}

impl Segment {
    /// The segment, at `clock`, of a client with `open_deals` open and deals won at
    /// `wins`: the rule `segment_sql!()` states in SQL, over a card folded in memory.
    pub(super) fn of(open_deals: i64, wins: &[DateTime<Utc>], clock: SegmentClock) -> Segment {
        let cutoff = clock.cutoff();
        if !wins.iter().any(|&t| t <= clock.now) {
            Segment::Inquiry
        } else if open_deals > 0 || wins.iter().any(|&t| t >= cutoff && t <= clock.now) {
            Segment::Active
        } else {
            Segment::Churned
        }
    }

    /// The condition a card `c` meets when in the segment, as SQL.
    fn condition(self) -> &'static str {
        match self {
            Segment::Inquiry => INQUIRY,
            Segment::Active => ACTIVE,
            Segment::Churned => CHURNED,
        }
    }
}

/// The card columns every query selects (from `cards_from!()`).
macro_rules! card_columns {
    () => {
        "c.client_id, c.name, c.kind, c.size, c.industry, c.region, c.source, c.manager_id, \
         c.contacts, c.registered_at, c.open_deals, c.won_deals, c.lost_deals, \
         c.won_amount::text AS won_amount, c.interactions, c.last_interaction_at, \
         c.last_won_at, c.version, c.erased_at, c.merged_into_client_id"
    };
}

/// The cards with their interaction tallies, as `c`. A card's figures are the ones
/// the clients model keeps for it (a survivor's count the clients merged into it;
/// `card::recombine`): its interactions are its own tally plus its members'.
macro_rules! cards_from {
    () => {
        "(SELECT c0.client_id, c0.name, c0.name_folded, c0.kind, c0.size, c0.industry, c0.region, \
                 c0.source, c0.manager_id, c0.contacts, c0.registered_at, c0.version, c0.erased_at, \
                 c0.open_deals, c0.won_deals, c0.lost_deals, c0.won_amount, c0.first_won_at, \
                 c0.last_won_at, \
                 coalesce(i0.interactions, 0) + c0.members_interactions AS interactions, \
                 greatest(i0.last_interaction_at, c0.members_last_interaction_at) \
                     AS last_interaction_at, \
                 c0.merged_into_client_id \
            FROM projections.client_cards c0 \
            LEFT JOIN projections.client_interactions i0 ON i0.client_id = c0.client_id) c"
    };
}

/// A client's card as the read model holds it, with its segment.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ClientCard {
    /// The client.
    pub client_id: Uuid,
    /// Company or person name.
    pub name: String,
    /// `company` or `person`.
    pub kind: String,
    /// Company size.
    pub size: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Where the client came from.
    pub source: Option<String>,
    /// The responsible manager.
    pub manager_id: Uuid,
    /// Contact persons, as registered or last updated.
    pub contacts: Value,
    /// When the client was registered (business time).
    pub registered_at: DateTime<Utc>,
    /// Its deals now open.
    pub open_deals: i64,
    /// Its deals now won.
    pub won_deals: i64,
    /// Its deals now lost.
    pub lost_deals: i64,
    /// The amounts recorded by the last DealWon of each deal now won (exact:
    /// `crate::total`).
    pub won_amount: Total,
    /// Interactions that name the client.
    pub interactions: i64,
    /// The latest of them (business time).
    pub last_interaction_at: Option<DateTime<Utc>>,
    /// The latest DealWon of its deals (business time).
    pub last_won_at: Option<DateTime<Utc>>,
    /// The client stream's version.
    pub version: i64,
    /// When its personal data was erased (business time); None unless erased.
    pub erased_at: Option<DateTime<Utc>>,
    /// The client its figures count for when it is merged (the end of its chain of
    /// merges); None unless merged.
    pub merged_into_client_id: Option<Uuid>,
    /// `inquiry`, `active` or `churned` at the clock asked for.
    pub segment: String,
}

/// The card of `client_id` with its segment at `clock`; None for an unknown client.
pub async fn client_card(
    pool: &PgPool,
    client_id: Uuid,
    clock: SegmentClock,
) -> Result<Option<ClientCard>, ProjectionError> {
    let card = sqlx::query_as::<_, ClientCard>(concat!(
        "SELECT ",
        card_columns!(),
        ", ",
        segment_sql!(),
        " AS segment FROM ",
        cards_from!(),
        " WHERE c.client_id = $3"
    ))
    .bind(clock.now)
    .bind(clock.cutoff())
    .bind(client_id)
    .fetch_optional(pool)
    .await?;
    Ok(card)
}

/// The manager responsible now for `client_id`; None for an unknown client.
pub async fn client_manager(
    pool: &PgPool,
    client_id: Uuid,
) -> Result<Option<Uuid>, ProjectionError> {
    let manager =
        sqlx::query_scalar("SELECT manager_id FROM projections.client_cards WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(pool)
            .await?;
    Ok(manager)
}

/// Which cards a list shows.
#[derive(Debug, Clone, Default)]
pub struct ClientFilter {
    /// Only those in this segment (at the list's clock).
    pub segment: Option<Segment>,
    /// Only these managers'.
    pub managers: Option<Vec<Uuid>>,
    /// Only those of this region.
    pub region: Option<String>,
    /// Only those of this industry.
    pub industry: Option<String>,
    /// Only those from this source.
    pub source: Option<String>,
    /// Only those whose name contains this, ignoring case.
    pub q: Option<String>,
}

/// Up to `limit` cards matching `filter`, ordered by name (code point order), then
/// id, starting after the card `(name, id)` of `after`.
///
/// Merged clients are left out; a survivor's figures (and so its segment) count the
/// clients merged into it. The page's ids are found walking the cards in name order
/// (`client_cards_list_idx`, of the cards not merged, with every column a filter
/// reads: an index-only scan), stopping after the page; then the page's cards are
/// read by id.
pub async fn list_clients(
    pool: &PgPool,
    filter: &ClientFilter,
    clock: SegmentClock,
    after: Option<(String, Uuid)>,
    limit: i64,
) -> Result<Vec<ClientCard>, ProjectionError> {
    // No cursor: start before every (name, id), the empty name and the nil id.
    let (after_name, after_id) = after.unwrap_or_default();
    let q = filter.q.as_deref().map(str::to_lowercase);
    let segment = filter.segment.map_or("true", Segment::condition);
    let sql = format!(
        "SELECT {columns}, {segment_sql} AS segment \
           FROM (SELECT c.client_id FROM projections.client_cards c \
                  WHERE (c.name, c.client_id) > ($3, $4) AND c.merged_into_client_id IS NULL \
                    AND ($5::uuid[] IS NULL OR c.manager_id = ANY($5)) \
                    AND ($6::text IS NULL OR c.region = $6) \
                    AND ($7::text IS NULL OR c.industry = $7) \
                    AND ($8::text IS NULL OR c.source = $8) \
                    AND ($9::text IS NULL OR strpos(c.name_folded, $9) > 0) AND {segment} \
                  ORDER BY c.name, c.client_id LIMIT $10) page \
           JOIN {cards} ON c.client_id = page.client_id \
          ORDER BY c.name, c.client_id",
        columns = card_columns!(),
        segment_sql = segment_sql!(),
        cards = cards_from!(),
    );
    let cards = sqlx::query_as::<_, ClientCard>(&sql)
        .bind(clock.now)
        .bind(clock.cutoff())
        .bind(after_name)
        .bind(after_id)
        .bind(filter.managers.as_deref())
        .bind(&filter.region)
        .bind(&filter.industry)
        .bind(&filter.source)
        .bind(q)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(cards)
}

/// Up to `limit` events about `client_id` and the clients merged into it (their own,
/// their leads', deals', and the interactions' and tasks' naming them) after position
/// `after_position`, in log (position) order; None for an unknown client. With
/// `until`, only those that occurred at or before it, of the clients merged into it
/// then (the merges and unmerges that occurred by then, `client_merge_history`);
/// else of those merged into it now. The streams come from the read model, their
/// events from the log.
pub async fn client_timeline(
    log: &EventLog,
    client_id: Uuid,
    after_position: i64,
    until: Option<DateTime<Utc>>,
    limit: usize,
) -> Result<Option<Vec<RecordedEvent>>, ProjectionError> {
    let streams: Option<Vec<String>> = match until {
        None => {
            sqlx::query_scalar(concat!(
                "SELECT array(SELECT s.stream FROM projections.client_streams s \
                               WHERE s.client_id IN ",
                crate::clients::members_of!("c.client_id"),
                ") \
                   FROM projections.client_cards c WHERE c.client_id = $1"
            ))
            .bind(client_id)
            .fetch_optional(log.pool())
            .await?
        }
        Some(until) => {
            let survivors = super::merge_history::survivors_at(log.pool(), until).await?;
            let members = super::merge_history::members(&survivors, client_id);
            sqlx::query_scalar(
                "SELECT array(SELECT s.stream FROM projections.client_streams s \
                               WHERE s.client_id = ANY($2)) \
                   FROM projections.client_cards c WHERE c.client_id = $1",
            )
            .bind(client_id)
            .bind(&members)
            .fetch_optional(log.pool())
            .await?
        }
    };
    let Some(streams) = streams else {
        return Ok(None);
    };
    let mut events = log
        .read_streams_by_position_until(&streams, after_position, until, limit)
        .await?;
    crate::personal::reveal_current(log, &mut events).await?;
    Ok(Some(events))
}

/// The leads linked to a client (captured with its `client_id` or converted into
/// it), by id: the leads whose personal data goes with the client's on erasure.
/// Exact whatever the read model's state: those it has linked, and those linked by
/// the events of the log it has not applied yet (it may be behind, or stopped by an
/// event it cannot apply), read after its checkpoint.
pub async fn linked_leads(log: &EventLog, client_id: Uuid) -> Result<Vec<Uuid>, ProjectionError> {
    use crm_domain::DomainEvent;
    let pool = log.pool();
    // The checkpoint first: the rows read next cover at least what it covers.
    let cursor: Option<String> =
        sqlx::query_scalar("SELECT cursor FROM projections.checkpoints WHERE name = $1")
            .bind(super::NAME)
            .fetch_optional(pool)
            .await?;
    let mut cursor = match cursor {
        Some(text) => crate::checkpoint::parse_cursor(super::NAME, &text)?,
        None => crm_eventlog::Cursor::start(),
    };
    let mut leads: std::collections::BTreeSet<Uuid> =
        client_leads(pool, client_id).await?.into_iter().collect();
    let filter = crm_eventlog::FeedFilter {
        event_types: Some(vec!["LeadCaptured".into(), "LeadConverted".into()]),
    };
    loop {
        let page = log.read_feed(cursor, 1_000, &filter).await?;
        for stored in page.events {
            let linked = match crate::FeedEvent::decode(stored).domain() {
                Ok(DomainEvent::LeadCaptured(e)) => {
                    (e.client_id == Some(client_id)).then_some(e.lead_id)
                }
                Ok(DomainEvent::LeadConverted(e)) => {
                    (e.client_id == client_id).then_some(e.lead_id)
                }
                // An event the read model cannot decode links nothing it knows of.
                _ => None,
            };
            leads.extend(linked);
        }
        cursor = page.next;
        if page.caught_up {
            return Ok(leads.into_iter().collect());
        }
    }
}

/// The leads the clients read model has linked to a client so far, by id.
pub async fn client_leads(pool: &PgPool, client_id: Uuid) -> Result<Vec<Uuid>, ProjectionError> {
    let leads = sqlx::query_scalar(
        "SELECT lead_id FROM projections.client_lead_links WHERE client_id = $1 ORDER BY lead_id",
    )
    .bind(client_id)
    .fetch_all(pool)
    .await?;
    Ok(leads)
}
