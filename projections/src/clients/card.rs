//! What a batch does to client cards, and writing it without reading them first: a
//! registration inserts a card; every other change is a patch (fields set, counts
//! moved, win times widened) that one `UPDATE … FROM UNNEST` applies to the stored
//! cards.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use crm_domain::events::{ClientChanges, ClientRegistered};
use crm_domain::values::ClientKind;
use serde_json::Value;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::queries::{ClientCard, Segment};
use crate::entity_status::DealStatus;
use crate::error::ProjectionError;
use crate::personal::ERASED;
use crate::total::Total;

/// A card's fields as registered.
#[derive(Debug, Clone)]
struct Registration {
    name: String,
    kind: &'static str,
    size: Option<String>,
    industry: Option<String>,
    region: Option<String>,
    source: Option<String>,
    manager_id: Uuid,
    contacts: Value,
    registered_at: DateTime<Utc>,
    version: i64,
}

fn kind_name(kind: ClientKind) -> &'static str {
    match kind {
        ClientKind::Company => "company",
        ClientKind::Person => "person",
    }
}

fn contacts_json<T: serde::Serialize>(contacts: &T) -> Value {
    // A list of plain structs always serializes.
    serde_json::to_value(contacts).unwrap_or(Value::Array(Vec::new()))
}

/// What one batch does to one client's card: its registration, if in the batch, and
/// the changes after it (or to the stored card).
#[derive(Debug, Clone, Default)]
pub(super) struct CardChange {
    registered: Option<Registration>,
    name: Option<String>,
    kind: Option<&'static str>,
    size: Option<Option<String>>,
    industry: Option<Option<String>>,
    region: Option<Option<String>>,
    source: Option<Option<String>>,
    manager_id: Option<Uuid>,
    contacts: Option<Value>,
    version: Option<i64>,
    open_deals: i64,
    won_deals: i64,
    lost_deals: i64,
    /// Exact (`crate::total`): the amounts of enough wins pass 64 bits.
    won_amount: Total,
    first_won_at: Option<DateTime<Utc>>,
    last_won_at: Option<DateTime<Utc>>,
    /// Set by `ClientErased`: its business time.
    erased_at: Option<DateTime<Utc>>,
}

/// What a batch knows of a client's keys' sources (see [`CardChange::key_sources`]).
pub(super) struct KeySources {
    /// The client registered in the batch: every field below is its value now.
    pub(super) registered: bool,
    /// Its name, when registered or renamed in the batch.
    pub(super) name: Option<String>,
    /// Its contacts (as stored in the card), when registered or changed in the batch.
    pub(super) contacts: Option<Value>,
    /// Its manager, when registered or reassigned in the batch.
    pub(super) manager_id: Option<Uuid>,
}

/// Contacts (as stored in a card) with their personal values replaced by [`ERASED`].
fn erased_contacts(contacts: &Value) -> Value {
    let Value::Array(items) = contacts else {
        return Value::Array(Vec::new());
    };
    let erased = items
        .iter()
        .map(|item| {
            let mut contact = serde_json::Map::new();
            contact.insert("name".into(), Value::String(ERASED.into()));
            for field in ["phone", "email"] {
                if item.get(field).is_some_and(|v| !v.is_null()) {
                    contact.insert(field.into(), Value::String(ERASED.into()));
                }
            }
            Value::Object(contact)
        })
        .collect();
    Value::Array(erased)
}

/// The same as [`erased_contacts`] in SQL, over the stored card `c` (`$m`: the marker).
macro_rules! erased_contacts_sql {
    ($m:literal) => {
        concat!(
            "(SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('name', ",
            $m,
            ", 'phone', CASE WHEN x.c->'phone' IS NOT NULL AND x.c->'phone' <> 'null' THEN ",
            $m,
            " END, 'email', CASE WHEN x.c->'email' IS NOT NULL AND x.c->'email' <> 'null' THEN ",
            $m,
            " END)) ORDER BY x.n), '[]'::jsonb) \
               FROM jsonb_array_elements(c.contacts) WITH ORDINALITY AS x(c, n))"
        )
    };
}

impl CardChange {
    /// Its personal data was erased (business time `at`, client stream version
    /// `version`): name and contacts read [`ERASED`] from now on.
    pub(super) fn erase(&mut self, at: DateTime<Utc>, version: i64) {
        self.name = Some(ERASED.to_owned());
        let known = self
            .contacts
            .clone()
            .or_else(|| self.registered.as_ref().map(|r| r.contacts.clone()));
        // Contacts of a card stored before this batch are erased by the UPDATE.
        self.contacts = known.map(|c| erased_contacts(&c));
        self.erased_at = Some(at);
        self.version = Some(version);
    }

    /// The client registered (business time `at`, client stream version `version`).
    pub(super) fn register(&mut self, e: &ClientRegistered, at: DateTime<Utc>, version: i64) {
        self.registered = Some(Registration {
            name: e.name.clone(),
            kind: kind_name(e.kind),
            size: e.size.clone(),
            industry: e.industry.clone(),
            region: e.region.clone(),
            source: e.source.clone(),
            manager_id: e.manager_id,
            contacts: contacts_json(&e.contacts),
            registered_at: at,
            version,
        });
    }

    /// Some of its fields changed.
    pub(super) fn update(&mut self, c: &ClientChanges, version: i64) {
        if c.name.is_some() {
            self.name.clone_from(&c.name);
        }
        if let Some(kind) = c.kind {
            self.kind = Some(kind_name(kind));
        }
        for (field, change) in [
            (&mut self.size, &c.size),
            (&mut self.industry, &c.industry),
            (&mut self.region, &c.region),
            (&mut self.source, &c.source),
        ] {
            if change.is_some() {
                field.clone_from(change);
            }
        }
        if let Some(contacts) = &c.contacts {
            self.contacts = Some(contacts_json(contacts));
        }
        self.version = Some(version);
    }

    /// Its stream moved to `version` (merged or unmerged), nothing else on the card.
    pub(super) fn touch(&mut self, version: i64) {
        self.version = Some(version);
    }

    /// Another manager is responsible now.
    pub(super) fn reassign(&mut self, manager_id: Uuid, version: i64) {
        self.manager_id = Some(manager_id);
        self.version = Some(version);
    }

    /// Counts a deal in (`sign` 1) or out (-1) of `outcome`, with its won amount.
    pub(super) fn count(&mut self, outcome: DealStatus, won_amount: Option<i64>, sign: i64) {
        match outcome {
            DealStatus::Open => self.open_deals += sign,
            DealStatus::Won => {
                self.won_deals += sign;
                let amount = i128::from(won_amount.unwrap_or(0));
                self.won_amount.0 += i128::from(sign) * amount;
            }
            DealStatus::Lost => self.lost_deals += sign,
        }
    }

    /// One of its deals was won at `at`.
    pub(super) fn win(&mut self, at: DateTime<Utc>) {
        self.first_won_at = Some(self.first_won_at.map_or(at, |t| t.min(at)));
        self.last_won_at = Some(self.last_won_at.map_or(at, |t| t.max(at)));
    }

    /// What the client's keys (`super::keys`) are made of, as far as the batch knows
    /// it: for a client registered in it, its name, contacts and manager now; for
    /// another, the name and contacts the batch set and the manager it gave it.
    pub(super) fn key_sources(&self) -> KeySources {
        match self.merged() {
            Some(r) => KeySources {
                registered: true,
                name: Some(r.name),
                contacts: Some(r.contacts),
                manager_id: Some(r.manager_id),
            },
            None => KeySources {
                registered: false,
                name: self.name.clone(),
                contacts: self.contacts.clone(),
                manager_id: self.manager_id,
            },
        }
    }

    /// The registration with the later changes applied: the card's fields, when the
    /// client registered in this batch.
    fn merged(&self) -> Option<Registration> {
        let r = self.registered.as_ref()?;
        Some(Registration {
            name: self.name.clone().unwrap_or_else(|| r.name.clone()),
            kind: self.kind.unwrap_or(r.kind),
            size: self.size.clone().unwrap_or_else(|| r.size.clone()),
            industry: self.industry.clone().unwrap_or_else(|| r.industry.clone()),
            region: self.region.clone().unwrap_or_else(|| r.region.clone()),
            source: self.source.clone().unwrap_or_else(|| r.source.clone()),
            manager_id: self.manager_id.unwrap_or(r.manager_id),
            contacts: self.contacts.clone().unwrap_or_else(|| r.contacts.clone()),
            registered_at: r.registered_at,
            version: self.version.unwrap_or(r.version),
        })
    }

    /// The whole card, when every event about the client went through this change
    /// (its registration included; None otherwise), with its interaction tally and
    /// its segment.
    pub(super) fn card(
        &self,
        client_id: Uuid,
        interactions: Option<(i64, DateTime<Utc>)>,
        segment: Segment,
    ) -> Option<ClientCard> {
        let r = self.merged()?;
        Some(ClientCard {
            client_id,
            name: r.name,
            kind: r.kind.to_owned(),
            size: r.size,
            industry: r.industry,
            region: r.region,
            source: r.source,
            manager_id: r.manager_id,
            contacts: r.contacts,
            registered_at: r.registered_at,
            open_deals: self.open_deals,
            won_deals: self.won_deals,
            lost_deals: self.lost_deals,
            won_amount: self.won_amount,
            interactions: interactions.map_or(0, |(n, _)| n),
            last_interaction_at: interactions.map(|(_, at)| at),
            last_won_at: self.last_won_at,
            version: r.version,
            erased_at: self.erased_at,
            merged_into_client_id: None,
            segment: segment.as_str().to_owned(),
        })
    }
}

/// Writes the batch's card changes: one INSERT of the cards registered in it, one
/// UPDATE of the others.
pub(super) async fn write(
    tx: &mut Transaction<'_, Postgres>,
    changes: &BTreeMap<Uuid, CardChange>,
) -> Result<(), ProjectionError> {
    insert_registered(tx, changes).await?;
    update_stored(tx, changes).await
}

async fn insert_registered(
    tx: &mut Transaction<'_, Postgres>,
    changes: &BTreeMap<Uuid, CardChange>,
) -> Result<(), ProjectionError> {
    let mut rows = NewCards::default();
    for (id, change) in changes {
        if let Some(r) = change.merged() {
            rows.push(*id, &r, change);
        }
    }
    if rows.client_id.is_empty() {
        return Ok(());
    }
    // A client registers once: every row is new, its figures its own (a merge into
    // it or of it comes later, and `recombine` then sums them).
    sqlx::query(
        "INSERT INTO client_cards (client_id, name, name_folded, kind, size, industry, region, \
             source, manager_id, contacts, registered_at, open_deals, won_deals, lost_deals, \
             won_amount, first_won_at, last_won_at, version, erased_at, own_open_deals, \
             own_won_deals, own_lost_deals, own_won_amount, own_first_won_at, own_last_won_at) \
         SELECT u.*, u.open_deals, u.won_deals, u.lost_deals, u.won_amount, u.first_won_at, \
                u.last_won_at \
           FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::uuid[], $10::jsonb[], $11::timestamptz[], \
             $12::bigint[], $13::bigint[], $14::bigint[], $15::text[]::numeric[], \
             $16::timestamptz[], $17::timestamptz[], $18::bigint[], $19::timestamptz[]) \
             AS u(client_id, name, name_folded, kind, size, industry, region, source, \
                  manager_id, contacts, registered_at, open_deals, won_deals, lost_deals, \
                  won_amount, first_won_at, last_won_at, version, erased_at)",
    )
    .bind(rows.client_id)
    .bind(rows.name)
    .bind(rows.name_folded)
    .bind(rows.kind)
    .bind(rows.size)
    .bind(rows.industry)
    .bind(rows.region)
    .bind(rows.source)
    .bind(rows.manager_id)
    .bind(rows.contacts)
    .bind(rows.registered_at)
    .bind(rows.open_deals)
    .bind(rows.won_deals)
    .bind(rows.lost_deals)
    .bind(rows.won_amount)
    .bind(rows.first_won_at)
    .bind(rows.last_won_at)
    .bind(rows.version)
    .bind(rows.erased_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The columns of the cards registered in a batch, with the batch's later changes.
#[derive(Default)]
struct NewCards {
    client_id: Vec<Uuid>,
    name: Vec<String>,
    name_folded: Vec<String>,
    kind: Vec<&'static str>,
    size: Vec<Option<String>>,
    industry: Vec<Option<String>>,
    region: Vec<Option<String>>,
    source: Vec<Option<String>>,
    manager_id: Vec<Uuid>,
    contacts: Vec<Value>,
    registered_at: Vec<DateTime<Utc>>,
    open_deals: Vec<i64>,
    won_deals: Vec<i64>,
    lost_deals: Vec<i64>,
    won_amount: Vec<Total>,
    first_won_at: Vec<Option<DateTime<Utc>>>,
    last_won_at: Vec<Option<DateTime<Utc>>>,
    version: Vec<i64>,
    erased_at: Vec<Option<DateTime<Utc>>>,
}

impl NewCards {
    fn push(&mut self, id: Uuid, r: &Registration, c: &CardChange) {
        self.client_id.push(id);
        self.name_folded.push(r.name.to_lowercase());
        self.name.push(r.name.clone());
        self.kind.push(r.kind);
        self.size.push(r.size.clone());
        self.industry.push(r.industry.clone());
        self.region.push(r.region.clone());
        self.source.push(r.source.clone());
        self.manager_id.push(r.manager_id);
        self.contacts.push(r.contacts.clone());
        self.registered_at.push(r.registered_at);
        self.open_deals.push(c.open_deals);
        self.won_deals.push(c.won_deals);
        self.lost_deals.push(c.lost_deals);
        self.won_amount.push(c.won_amount);
        self.first_won_at.push(c.first_won_at);
        self.last_won_at.push(c.last_won_at);
        self.version.push(r.version);
        self.erased_at.push(c.erased_at);
    }
}

/// Applies the patches to the stored cards, each one's counts and win times to both
/// its own figures and those it shows: exact for a client neither merged nor merged
/// into (the two are the same), a merged client (it shows its own) and a survivor
/// (it shows its own plus its members'). What a member's change does to its
/// survivor, and a merge or unmerge, [`recombine`] does.
async fn update_stored(
    tx: &mut Transaction<'_, Postgres>,
    changes: &BTreeMap<Uuid, CardChange>,
) -> Result<(), ProjectionError> {
    let patches: Vec<(&Uuid, &CardChange)> = changes
        .iter()
        .filter(|(_, c)| c.registered.is_none())
        .collect();
    if patches.is_empty() {
        return Ok(());
    }
    macro_rules! column {
        ($field:ident) => {
            patches
                .iter()
                .map(|(_, c)| c.$field.clone())
                .collect::<Vec<_>>()
        };
    }
    // For the clearable fields, whether the batch set them, and to what.
    macro_rules! clearable {
        ($field:ident) => {
            (
                patches
                    .iter()
                    .map(|(_, c)| c.$field.is_some())
                    .collect::<Vec<bool>>(),
                patches
                    .iter()
                    .map(|(_, c)| c.$field.clone().flatten())
                    .collect::<Vec<Option<String>>>(),
            )
        };
    }
    let ids: Vec<Uuid> = patches.iter().map(|(id, _)| **id).collect();
    let folded: Vec<Option<String>> = patches
        .iter()
        .map(|(_, c)| c.name.as_deref().map(str::to_lowercase))
        .collect();
    let (set_size, size) = clearable!(size);
    let (set_industry, industry) = clearable!(industry);
    let (set_region, region) = clearable!(region);
    let (set_source, source) = clearable!(source);
    sqlx::query(concat!(
        "UPDATE client_cards c SET name = coalesce(u.name, c.name), \
             name_folded = coalesce(u.name_folded, c.name_folded), kind = coalesce(u.kind, c.kind), \
             size = CASE WHEN u.set_size THEN u.size ELSE c.size END, \
             industry = CASE WHEN u.set_industry THEN u.industry ELSE c.industry END, \
             region = CASE WHEN u.set_region THEN u.region ELSE c.region END, \
             source = CASE WHEN u.set_source THEN u.source ELSE c.source END, \
             manager_id = coalesce(u.manager_id, c.manager_id), \
             contacts = CASE WHEN u.contacts IS NULL AND u.erased_at IS NOT NULL THEN ",
        erased_contacts_sql!("'[erased]'"),
        " ELSE coalesce(u.contacts, c.contacts) END, \
             erased_at = coalesce(c.erased_at, u.erased_at), \
             version = coalesce(u.version, c.version), \
             open_deals = c.open_deals + u.open_deals, won_deals = c.won_deals + u.won_deals, \
             lost_deals = c.lost_deals + u.lost_deals, won_amount = c.won_amount + u.won_amount, \
             first_won_at = least(c.first_won_at, u.first_won_at), \
             last_won_at = greatest(c.last_won_at, u.last_won_at), \
             own_open_deals = c.own_open_deals + u.open_deals, \
             own_won_deals = c.own_won_deals + u.won_deals, \
             own_lost_deals = c.own_lost_deals + u.lost_deals, \
             own_won_amount = c.own_won_amount + u.won_amount, \
             own_first_won_at = least(c.own_first_won_at, u.first_won_at), \
             own_last_won_at = greatest(c.own_last_won_at, u.last_won_at) \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::text[], \
                     $7::bool[], $8::text[], $9::bool[], $10::text[], $11::bool[], $12::text[], \
                     $13::uuid[], $14::jsonb[], $15::bigint[], $16::bigint[], $17::bigint[], \
                     $18::bigint[], $19::text[]::numeric[], $20::timestamptz[], $21::timestamptz[], \
                     $22::timestamptz[]) \
              AS u(client_id, name, name_folded, kind, set_size, size, set_industry, industry, \
                   set_region, region, set_source, source, manager_id, contacts, version, \
                   open_deals, won_deals, lost_deals, won_amount, first_won_at, last_won_at, \
                   erased_at) \
         WHERE c.client_id = u.client_id",
    ))
    .bind(ids)
    .bind(column!(name))
    .bind(folded)
    .bind(column!(kind))
    .bind(set_size)
    .bind(size)
    .bind(set_industry)
    .bind(industry)
    .bind(set_region)
    .bind(region)
    .bind(set_source)
    .bind(source)
    .bind(column!(manager_id))
    .bind(column!(contacts))
    .bind(column!(version))
    .bind(column!(open_deals))
    .bind(column!(won_deals))
    .bind(column!(lost_deals))
    .bind(column!(won_amount))
    .bind(column!(first_won_at))
    .bind(column!(last_won_at))
    .bind(column!(erased_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets, for each of `clients`, the figures its card shows from the own figures of the
/// clients that count for it: a survivor's (a client others are merged into, at the
/// end of their chains in `client_survivors`) its own plus its members' (deal counts
/// and `won_amount` summed, win times widened, the members' interactions apart from
/// its own tally), any other's its own; and `merged_into_client_id`, its survivor when
/// merged. Called, after every other write of a batch, for the clients whose survivor
/// changed, their old and new survivors, and the survivors of the merged clients the
/// batch changed: found again from the stored figures, so an unmerge gives back every
/// figure exactly.
pub(super) async fn recombine(
    tx: &mut Transaction<'_, Postgres>,
    clients: &BTreeSet<Uuid>,
) -> Result<(), ProjectionError> {
    if clients.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = clients.iter().copied().collect();
    sqlx::query(
        "UPDATE client_cards s SET \
             open_deals = s.own_open_deals + coalesce(g.open_deals, 0), \
             won_deals = s.own_won_deals + coalesce(g.won_deals, 0), \
             lost_deals = s.own_lost_deals + coalesce(g.lost_deals, 0), \
             won_amount = s.own_won_amount + coalesce(g.won_amount, 0), \
             first_won_at = least(s.own_first_won_at, g.first_won_at), \
             last_won_at = greatest(s.own_last_won_at, g.last_won_at), \
             members_interactions = coalesce(g.interactions, 0), \
             members_last_interaction_at = g.last_interaction_at, \
             merged_into_client_id = me.survivor_id \
         FROM UNNEST($1::uuid[]) AS x(client_id) \
         LEFT JOIN client_survivors me ON me.client_id = x.client_id \
         LEFT JOIN LATERAL ( \
             SELECT sum(m.own_open_deals)::bigint AS open_deals, \
                    sum(m.own_won_deals)::bigint AS won_deals, \
                    sum(m.own_lost_deals)::bigint AS lost_deals, \
                    sum(m.own_won_amount) AS won_amount, \
                    min(m.own_first_won_at) AS first_won_at, \
                    max(m.own_last_won_at) AS last_won_at, \
                    sum(mi.interactions)::bigint AS interactions, \
                    max(mi.last_interaction_at) AS last_interaction_at \
               FROM client_survivors sv \
               JOIN client_cards m ON m.client_id = sv.client_id \
               LEFT JOIN client_interactions mi ON mi.client_id = sv.client_id \
              WHERE sv.survivor_id = x.client_id) g ON true \
         WHERE s.client_id = x.client_id",
    )
    .bind(ids)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
