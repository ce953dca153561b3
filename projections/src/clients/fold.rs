//! Applying a batch to the clients read model: load the deals and leads the batch
//! names (one query per table), fold the events in memory, write each table once
//! (cards as patches, see `card`), then the figures of the cards a merge, an unmerge
//! or a merged client's change moved (`card::recombine`).

use std::sync::Arc;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use crm_domain::DomainEvent;
use crm_eventlog::RecordedEvent;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::card::{self, CardChange};
use crate::entity_status::DealStatus;
use crate::error::ProjectionError;
use crate::event::FeedEvent;

/// A deal as `client_deals` holds it: its client, outcome, and last won amount.
#[derive(Debug, Clone)]
struct Deal {
    client_id: Uuid,
    outcome: DealStatus,
    won_amount: Option<i64>,
}

/// One DealWon, for `client_wins`.
struct Win {
    deal_id: Uuid,
    version: i64,
    client_id: Uuid,
    won_at: DateTime<Utc>,
}

/// What a batch folded about one client (see [`Batch::client`]).
pub(super) struct ClientFold<'a> {
    /// Its card's change; None when no event of the batch changed it.
    pub(super) card: Option<&'a CardChange>,
    /// Interactions naming it, and the latest one's time.
    pub(super) interactions: Option<(i64, DateTime<Utc>)>,
    /// When its deals were won, each DealWon once.
    pub(super) wins: Vec<DateTime<Utc>>,
}

/// The rows a batch touches, loaded, changed in memory, then written back.
#[derive(Default)]
pub(super) struct Batch {
    cards: BTreeMap<Uuid, CardChange>,
    deals: HashMap<Uuid, Deal>,
    changed_deals: BTreeSet<Uuid>,
    wins: Vec<Win>,
    /// Per client: interactions naming it in this batch, and the latest one's time.
    interactions: BTreeMap<Uuid, (i64, DateTime<Utc>)>,
    /// (client, stream) links to add.
    streams: BTreeSet<(Uuid, String)>,
    /// Each touched lead's clients, loaded and new.
    lead_clients: HashMap<Uuid, BTreeSet<Uuid>>,
    new_lead_clients: BTreeSet<(Uuid, Uuid)>,
    /// Each touched lead's interaction streams, loaded and new.
    lead_streams: HashMap<Uuid, BTreeSet<String>>,
    new_lead_streams: BTreeSet<(Uuid, String)>,
    /// Merges and unmerges, in feed order: (merged client, survivor or None).
    merges: Vec<(Uuid, Option<Uuid>)>,
}

/// Applies `events` (in feed order) to the read model inside `tx`.
pub(super) async fn apply(
    tx: &mut Transaction<'_, Postgres>,
    events: &[Arc<FeedEvent>],
) -> Result<(), ProjectionError> {
    let decoded = crate::batch::decode(events)?;
    let mut batch = Batch::default();
    batch.load(tx, &decoded).await?;
    for (stored, event) in &decoded {
        batch.fold(stored, event);
    }
    batch.write(tx).await?;
    super::keys::refresh(tx, &decoded, &batch.cards).await
}

impl Batch {
    /// Loads the deals and leads the events name.
    async fn load(
        &mut self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[(&RecordedEvent, &DomainEvent)],
    ) -> Result<(), ProjectionError> {
        let (mut deal_ids, mut lead_ids) = (Vec::new(), Vec::new());
        for (_, event) in events {
            match event {
                DomainEvent::LeadCaptured(e) => lead_ids.push(e.lead_id),
                DomainEvent::LeadConverted(e) => lead_ids.push(e.lead_id),
                DomainEvent::DealWon(e) => deal_ids.push(e.deal_id),
                DomainEvent::DealLost(e) => deal_ids.push(e.deal_id),
                DomainEvent::DealReopened(e) => deal_ids.push(e.deal_id),
                DomainEvent::InteractionLogged(e) => {
                    deal_ids.extend(e.deal_id);
                    lead_ids.extend(e.lead_id);
                }
                DomainEvent::TaskScheduled(e) => deal_ids.extend(e.deal_id),
                _ => {}
            }
        }
        if !deal_ids.is_empty() {
            let rows: Vec<(Uuid, Uuid, DealStatus, Option<i64>)> = sqlx::query_as(
                "SELECT deal_id, client_id, status, won_amount FROM client_deals \
                  WHERE deal_id = ANY($1)",
            )
            .bind(&deal_ids)
            .fetch_all(&mut **tx)
            .await?;
            for (deal_id, client_id, outcome, won_amount) in rows {
                self.deals.insert(
                    deal_id,
                    Deal {
                        client_id,
                        outcome,
                        won_amount,
                    },
                );
            }
        }
        if !lead_ids.is_empty() {
            let links: Vec<(Uuid, Uuid)> = sqlx::query_as(
                "SELECT lead_id, client_id FROM client_lead_links WHERE lead_id = ANY($1)",
            )
            .bind(&lead_ids)
            .fetch_all(&mut **tx)
            .await?;
            for (lead_id, client_id) in links {
                self.lead_clients
                    .entry(lead_id)
                    .or_default()
                    .insert(client_id);
            }
            let streams: Vec<(Uuid, String)> = sqlx::query_as(
                "SELECT lead_id, stream FROM client_lead_streams WHERE lead_id = ANY($1)",
            )
            .bind(&lead_ids)
            .fetch_all(&mut **tx)
            .await?;
            for (lead_id, stream) in streams {
                self.lead_streams.entry(lead_id).or_default().insert(stream);
            }
        }
        Ok(())
    }

    /// Folds one event over the loaded rows.
    pub(super) fn fold(&mut self, stored: &RecordedEvent, event: &DomainEvent) {
        match event {
            DomainEvent::ClientRegistered(e) => {
                self.card(e.client_id)
                    .register(e, stored.occurred_at, stored.version);
                self.streams.insert((e.client_id, stored.stream.clone()));
            }
            DomainEvent::ClientUpdated(e) => {
                self.card(e.client_id).update(&e.changes, stored.version)
            }
            DomainEvent::ClientReassigned(e) => {
                self.card(e.client_id)
                    .reassign(e.to_manager_id, stored.version);
            }
            DomainEvent::ClientErased(e) => {
                self.card(e.client_id)
                    .erase(stored.occurred_at, stored.version);
            }
            DomainEvent::ClientMerged(e) => {
                self.card(e.client_id).touch(stored.version);
                self.merges.push((e.client_id, Some(e.into_client_id)));
            }
            DomainEvent::ClientUnmerged(e) => {
                self.card(e.client_id).touch(stored.version);
                self.merges.push((e.client_id, None));
            }
            DomainEvent::LeadCaptured(e) => {
                if let Some(client_id) = e.client_id {
                    self.link_lead(e.lead_id, client_id, &stored.stream);
                }
            }
            DomainEvent::LeadConverted(e) => self.link_lead(e.lead_id, e.client_id, &stored.stream),
            DomainEvent::DealOpened(e) => {
                self.deals.insert(
                    e.deal_id,
                    Deal {
                        client_id: e.client_id,
                        outcome: DealStatus::Open,
                        won_amount: None,
                    },
                );
                self.changed_deals.insert(e.deal_id);
                self.card(e.client_id).count(DealStatus::Open, None, 1);
                self.streams.insert((e.client_id, stored.stream.clone()));
            }
            DomainEvent::DealWon(e) => {
                self.set_outcome(e.deal_id, DealStatus::Won, Some(e.amount));
                if let Some(client_id) = self.deals.get(&e.deal_id).map(|d| d.client_id) {
                    let won_at = stored.occurred_at;
                    self.wins.push(Win {
                        deal_id: e.deal_id,
                        version: stored.version,
                        client_id,
                        won_at,
                    });
                    self.card(client_id).win(won_at);
                }
            }
            DomainEvent::DealLost(e) => self.set_outcome(e.deal_id, DealStatus::Lost, None),
            DomainEvent::DealReopened(e) => self.set_outcome(e.deal_id, DealStatus::Open, None),
            DomainEvent::InteractionLogged(e) => {
                if let Some(client_id) = e.client_id {
                    let at = stored.occurred_at;
                    let tally = self.interactions.entry(client_id).or_insert((0, at));
                    *tally = (tally.0 + 1, tally.1.max(at));
                }
                self.link_named(e.client_id, e.deal_id, &stored.stream);
                if let Some(lead_id) = e.lead_id {
                    let stream = stored.stream.clone();
                    if self
                        .lead_streams
                        .entry(lead_id)
                        .or_default()
                        .insert(stream.clone())
                    {
                        self.new_lead_streams.insert((lead_id, stream.clone()));
                    }
                    for client_id in self.lead_clients.get(&lead_id).into_iter().flatten() {
                        self.streams.insert((*client_id, stream.clone()));
                    }
                }
            }
            DomainEvent::TaskScheduled(e) => {
                self.link_named(e.client_id, e.deal_id, &stored.stream)
            }
            _ => {}
        }
    }

    /// What the batch folded about one client: its card change, its interaction
    /// tally (count, latest time) and the times its deals were won.
    pub(super) fn client(&self, client_id: Uuid) -> ClientFold<'_> {
        ClientFold {
            card: self.cards.get(&client_id),
            interactions: self.interactions.get(&client_id).copied(),
            wins: self
                .wins
                .iter()
                .filter(|w| w.client_id == client_id)
                .map(|w| w.won_at)
                .collect(),
        }
    }

    /// The batch's change to a client's card.
    fn card(&mut self, client_id: Uuid) -> &mut CardChange {
        self.cards.entry(client_id).or_default()
    }

    /// Moves a deal to `outcome` and its client's counts with it; `won_amount` is a
    /// win's recorded amount (other outcomes keep the last one, uncounted).
    fn set_outcome(&mut self, deal_id: Uuid, outcome: DealStatus, won_amount: Option<i64>) {
        let Some(deal) = self.deals.get_mut(&deal_id) else {
            return;
        };
        let before = (deal.outcome, deal.won_amount);
        deal.outcome = outcome;
        if won_amount.is_some() {
            deal.won_amount = won_amount;
        }
        let after = (deal.outcome, deal.won_amount);
        let client_id = deal.client_id;
        self.changed_deals.insert(deal_id);
        let card = self.card(client_id);
        card.count(before.0, before.1, -1);
        card.count(after.0, after.1, 1);
    }

    /// Links an interaction's or task's stream to the client it names and to the
    /// client of the deal it names.
    fn link_named(&mut self, client_id: Option<Uuid>, deal_id: Option<Uuid>, stream: &str) {
        let deal_client = deal_id
            .and_then(|d| self.deals.get(&d))
            .map(|d| d.client_id);
        for client_id in client_id.into_iter().chain(deal_client) {
            self.streams.insert((client_id, stream.to_owned()));
        }
    }

    /// Links a lead to a client: its stream, and every interaction that named it.
    fn link_lead(&mut self, lead_id: Uuid, client_id: Uuid, lead_stream: &str) {
        if !self
            .lead_clients
            .entry(lead_id)
            .or_default()
            .insert(client_id)
        {
            // Linked before: its stream and interactions came then (and each
            // interaction naming it since was linked to its clients as it came).
            return;
        }
        self.new_lead_clients.insert((lead_id, client_id));
        self.streams.insert((client_id, lead_stream.to_owned()));
        for stream in self.lead_streams.get(&lead_id).into_iter().flatten() {
            self.streams.insert((client_id, stream.clone()));
        }
    }

    /// Writes every changed row, one statement per table.
    async fn write(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        card::write(tx, &self.cards).await?;
        let moved = write_merges(tx, &self.merges).await?;
        self.write_deals(tx).await?;
        if !self.wins.is_empty() {
            let mut cols: (Vec<Uuid>, Vec<i64>, Vec<Uuid>, Vec<DateTime<Utc>>) = Default::default();
            for w in &self.wins {
                cols.0.push(w.deal_id);
                cols.1.push(w.version);
                cols.2.push(w.client_id);
                cols.3.push(w.won_at);
            }
            sqlx::query(
                "INSERT INTO client_wins (deal_id, version, client_id, won_at) \
                 SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::uuid[], $4::timestamptz[])",
            )
            .bind(cols.0)
            .bind(cols.1)
            .bind(cols.2)
            .bind(cols.3)
            .execute(&mut **tx)
            .await?;
        }
        if !self.interactions.is_empty() {
            let clients: Vec<Uuid> = self.interactions.keys().copied().collect();
            let (counts, latest): (Vec<i64>, Vec<DateTime<Utc>>) =
                self.interactions.values().copied().unzip();
            sqlx::query(
                "INSERT INTO client_interactions AS t (client_id, interactions, last_interaction_at) \
                 SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::timestamptz[]) \
                 ON CONFLICT (client_id) DO UPDATE SET \
                     interactions = t.interactions + EXCLUDED.interactions, \
                     last_interaction_at = greatest(t.last_interaction_at, EXCLUDED.last_interaction_at)",
            )
            .bind(clients)
            .bind(counts)
            .bind(latest)
            .execute(&mut **tx)
            .await?;
        }
        // Every row below is new, so plain INSERTs without conflict checks: a stream is
        // linked when the one event that names it comes (a lead's stream and its
        // interactions when the lead is first linked to the client), the batch's sets
        // hold no duplicates, and lead links and streams are new against those loaded.
        let pairs = [
            ("client_streams", "client_id, stream", &self.streams),
            (
                "client_lead_streams",
                "lead_id, stream",
                &self.new_lead_streams,
            ),
        ];
        for (table, columns, rows) in pairs {
            if rows.is_empty() {
                continue;
            }
            let (ids, streams): (Vec<Uuid>, Vec<String>) = rows.iter().cloned().unzip();
            let sql = format!(
                "INSERT INTO {table} ({columns}) SELECT * FROM UNNEST($1::uuid[], $2::text[])"
            );
            sqlx::query(&sql)
                .bind(ids)
                .bind(streams)
                .execute(&mut **tx)
                .await?;
        }
        if !self.new_lead_clients.is_empty() {
            let (leads, clients): (Vec<Uuid>, Vec<Uuid>) =
                self.new_lead_clients.iter().copied().unzip();
            sqlx::query(
                "INSERT INTO client_lead_links (lead_id, client_id) \
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[])",
            )
            .bind(leads)
            .bind(clients)
            .execute(&mut **tx)
            .await?;
        }
        let changed = self.cards.keys().chain(self.interactions.keys());
        recombine(tx, moved, changed.copied().collect()).await
    }

    async fn write_deals(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        let deals: BTreeMap<Uuid, &Deal> = self
            .changed_deals
            .iter()
            .filter_map(|id| self.deals.get(id).map(|d| (*id, d)))
            .collect();
        if deals.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = deals.keys().copied().collect();
        let clients: Vec<Uuid> = deals.values().map(|d| d.client_id).collect();
        let statuses: Vec<&str> = deals.values().map(|d| d.outcome.as_str()).collect();
        let amounts: Vec<Option<i64>> = deals.values().map(|d| d.won_amount).collect();
        sqlx::query(
            "INSERT INTO client_deals (deal_id, client_id, status, won_amount) \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::bigint[]) \
             ON CONFLICT (deal_id) DO UPDATE SET status = EXCLUDED.status, \
                 won_amount = EXCLUDED.won_amount",
        )
        .bind(ids)
        .bind(clients)
        .bind(statuses)
        .bind(amounts)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// Sets the figures of the cards whose clients' survivors the batch `moved`, and of
/// the survivors of the merged clients among those it `changed` (`card::recombine`).
async fn recombine(
    tx: &mut Transaction<'_, Postgres>,
    mut moved: BTreeSet<Uuid>,
    changed: BTreeSet<Uuid>,
) -> Result<(), ProjectionError> {
    if !changed.is_empty() {
        let changed: Vec<Uuid> = changed.into_iter().collect();
        let survivors: Vec<Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT survivor_id FROM client_survivors WHERE client_id = ANY($1)",
        )
        .bind(changed)
        .fetch_all(&mut **tx)
        .await?;
        moved.extend(survivors);
    }
    card::recombine(tx, &moved).await
}

/// Applies the batch's merges and unmerges to `client_merges` in feed order, then
/// finds every merged client's survivor again (the end of its chain of merges).
/// Returns the clients whose cards show other figures now: each client whose
/// survivor changed, and its survivors before and after.
async fn write_merges(
    tx: &mut Transaction<'_, Postgres>,
    merges: &[(Uuid, Option<Uuid>)],
) -> Result<BTreeSet<Uuid>, ProjectionError> {
    if merges.is_empty() {
        return Ok(BTreeSet::new());
    }
    let survivors = "SELECT client_id, survivor_id FROM client_survivors";
    let before: HashMap<Uuid, Uuid> = sqlx::query_as::<_, (Uuid, Uuid)>(survivors)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .collect();
    let mut state: BTreeMap<Uuid, Option<Uuid>> = BTreeMap::new();
    for (client, into) in merges {
        state.insert(*client, *into);
    }
    let (clients, intos): (Vec<Uuid>, Vec<Option<Uuid>>) = state.into_iter().unzip();
    sqlx::query("DELETE FROM client_merges WHERE client_id = ANY($1)")
        .bind(&clients)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO client_merges (client_id, into_client_id) \
         SELECT c, i FROM UNNEST($1::uuid[], $2::uuid[]) AS u(c, i) WHERE i IS NOT NULL",
    )
    .bind(&clients)
    .bind(&intos)
    .execute(&mut **tx)
    .await?;
    // Merges are few: the whole mapping is found again. The domain refuses a merge
    // into a merged client, so chains end (the depth bound guards a hand-made log).
    sqlx::query("DELETE FROM client_survivors")
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO client_survivors (client_id, survivor_id) \
         WITH RECURSIVE chain (client_id, survivor_id, depth) AS ( \
             SELECT client_id, into_client_id, 1 FROM client_merges \
             UNION ALL \
             SELECT c.client_id, m.into_client_id, c.depth + 1 \
               FROM chain c JOIN client_merges m ON m.client_id = c.survivor_id \
              WHERE c.depth < 64) \
         SELECT DISTINCT ON (client_id) client_id, survivor_id FROM chain \
          ORDER BY client_id, depth DESC",
    )
    .execute(&mut **tx)
    .await?;
    let after: HashMap<Uuid, Uuid> = sqlx::query_as::<_, (Uuid, Uuid)>(survivors)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .collect();
    let mut moved = BTreeSet::new();
    for client in before.keys().chain(after.keys()) {
        let (was, is) = (before.get(client), after.get(client));
        if was != is {
            moved.insert(*client);
            moved.extend(was.into_iter().chain(is).copied());
        }
    }
    Ok(moved)
}
