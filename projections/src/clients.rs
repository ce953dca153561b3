//! The `clients` read model: every client's card, its segment at any moment, and
//! its timeline; `GET /clients/{id}`, `GET /clients` and `GET /clients/{id}/timeline`
//! read it.
//!
//! Decisions where the contract is silent:
//! - **Wins are DealWon events.** A client "has won" by `now` when any DealWon of its
//!   deals occurred at or before `now`, even if that deal was reopened since (the
//!   revenue report counts it the same way); wins after `now` do not count. A win
//!   within `churn_days` means at or after `now - churn_days` (and not after `now`).
//!   `client_wins` keeps every win time, so segments are exact for any `now`, and the
//!   list filters by segment in SQL.
//! - **Only wins move with `now`.** "Has an open deal", the deal counts, `won_amount`,
//!   `interactions` and the two latest times are the card as it stands.
//! - **`won_amount`** sums, over the deals whose current outcome is won, the amount
//!   recorded by each one's last DealWon. **`last_won_at`** is the latest DealWon of
//!   any of its deals (reopened or not).
//! - **`interactions`, `last_interaction_at`** count the interactions whose
//!   `client_id` is the client; those naming only one of its deals or leads appear in
//!   the timeline, not in the count.
//! - **The timeline** is the events, in position order, of the streams about the
//!   client (`client_streams`): its own; its leads' (captured with its `client_id`,
//!   or converted into it, earlier events included); its deals'; the interactions'
//!   and tasks' naming it or one of its deals; and the interactions' naming one of its
//!   leads (logged before or after the lead was linked). The events are read from the
//!   log through `EventLog::read_streams_by_position`.
//! - **As of a past time** (`client_card_as_of`), the card is folded from the log:
//!   the events of its streams with `occurred_at <= as_of`, in log order, through
//!   this same fold; deal outcomes, wins and interactions count as they stood then,
//!   and merges too: `client_merge_history` keeps every ClientMerged and
//!   ClientUnmerged, and the survivors at that time are found from those dated by
//!   then (the timeline `as_of` likewise).
//! - **Erasure** (`ClientErased`) replaces the card's name and contacts by
//!   `[erased]` and sets `erased_at`; a rebuild gets the same from the log, whose
//!   personal values no longer decrypt.
//! - **Merges** (`ClientMerged`, `ClientUnmerged`): `client_merges` keeps the merges
//!   in force, `client_survivors` each merged client's survivor (the end of its
//!   chain). The tables of every model keep the facts as they were (a deal's
//!   `client_id` is the one it was opened for); queries of other models resolve
//!   client ids when they group or filter by client, through [`survivor_join!`] (a
//!   client's survivor, itself unless merged: one hash join for many rows) and
//!   [`members_of!`] (the clients that count for one: itself and those merged into it). The cards fold the merges in: each keeps its own figures
//!   (`own_*`) beside those it shows, a survivor's summed over itself and its members
//!   (its members' interactions in `members_interactions`), found again from the own
//!   figures whenever a merge or unmerge moves a client or a merged client's figures
//!   change (`card::recombine`). So a survivor's card, timeline and list row count
//!   its members' deals, wins and interactions from plain columns, a merged client is
//!   listed no more (its own card still answers, with its own figures and
//!   `merged_into_client_id`), and an unmerge gives back every figure as before.
//! - **Names** order in code point order (`COLLATE "C"`, the same on every
//!   deployment); `q` matches a substring of the name lowercased (Unicode-aware).

/// SQL: the ids of the clients that count for the client whose id is the SQL
/// expression `$id` (itself and those merged into it), a subquery for `IN`.
macro_rules! members_of {
    ($id:literal) => {
        concat!(
            "(SELECT ",
            $id,
            " UNION ALL SELECT merge_sv.client_id FROM projections.client_survivors merge_sv \
               WHERE merge_sv.survivor_id = ",
            $id,
            ")"
        )
    };
}

/// SQL: a client's survivor (itself unless merged), as a join for a query over many
/// rows (a hash join instead of a subquery per row): `(join, survivor)`, the `LEFT JOIN` of
/// `client_survivors` as `$sv` on the client whose id is the column `$col` (qualify
/// it: a bare `client_id` would name `$sv`'s), and the survivor's id.
macro_rules! survivor_join {
    ($col:literal, $sv:literal) => {
        (
            concat!(
                "LEFT JOIN projections.client_survivors ",
                $sv,
                " ON ",
                $sv,
                ".client_id = ",
                $col
            ),
            concat!("coalesce(", $sv, ".survivor_id, ", $col, ")"),
        )
    };
}

pub(crate) use {members_of, survivor_join};

mod as_of;
mod card;
mod duplicates;
mod fold;
mod keys;
mod merge_history;
mod queries;

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{Postgres, Transaction};

use crate::error::ProjectionError;
use crate::event::FeedEvent;
use crate::projection::Projection;

pub use as_of::client_card_as_of;
pub use duplicates::{duplicate_clients, DuplicateGroup, DuplicateMatches};
pub use queries::{
    client_card, client_leads, client_manager, client_timeline, linked_leads, list_clients,
    ClientCard, ClientFilter, Segment, SegmentClock,
};

/// The projection's name.
pub const NAME: &str = "clients";

/// Keeps `projections.client_cards`, `client_interactions`, `client_deals`,
/// `client_wins`, `client_streams`, `client_lead_links`, `client_lead_streams`,
/// `client_merges`, `client_survivors`, `client_merge_history`, `client_keys` and
/// `client_key_counts`.
pub struct Clients;

#[async_trait]
impl Projection for Clients {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> i32 {
        // 2: merges (issue 18), folded from the start of the log; 3: their history;
        // 4: the merges folded into the cards (own and shown figures);
        // 5: the values clients may share (`client_keys`), filled by the replay.
        5
    }

    fn tables(&self) -> Vec<&str> {
        vec![
            "client_cards",
            "client_interactions",
            "client_deals",
            "client_wins",
            "client_streams",
            "client_lead_links",
            "client_lead_streams",
            "client_merges",
            "client_survivors",
            "client_merge_history",
            "client_keys",
            "client_key_counts",
        ]
    }

    fn apply_indexes(&self) -> Vec<&str> {
        // The keys a batch finds again, by client.
        vec!["client_keys_client_idx"]
    }

    fn event_types(&self) -> Option<Vec<String>> {
        crate::batch::types(&[
            "ClientRegistered",
            "ClientUpdated",
            "ClientReassigned",
            "ClientErased",
            "ClientMerged",
            "ClientUnmerged",
            "LeadCaptured",
            "LeadConverted",
            "DealOpened",
            "DealWon",
            "DealLost",
            "DealReopened",
            "InteractionLogged",
            "TaskScheduled",
        ])
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError> {
        fold::apply(tx, events).await?;
        merge_history::apply(tx, events).await
    }

    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        sqlx::query(
            "TRUNCATE client_cards, client_interactions, client_deals, client_wins, \
             client_streams, client_lead_links, client_lead_streams, client_merges, \
             client_survivors, client_merge_history, client_keys, client_key_counts",
        )
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
