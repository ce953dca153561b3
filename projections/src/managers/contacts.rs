//! The chains that make distinct clients countable. Each interaction of a manager
//! with a client gets the time of the pair's previous interaction by `occurred_at`
//! (each call with a client, the pair's previous call): the interactions of a period
//! whose previous one is before it are exactly its distinct clients. Each chain link
//! is also counted by its month and by its dekad, with its previous one's dekad
//! (`kpi_contact_links`), so whole dekads and months need no scan of the facts.
//!
//! Facts mostly arrive in business-time order: a new interaction at or after the
//! pair's latest stored one just follows it. One that happened earlier (an import
//! of history) relinks its pair's whole chain.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::fold::Fact;
use crate::calendar::{dekad_of, month_of};
use crate::error::ProjectionError;

/// A manager and a client.
pub(super) type Pair = (Uuid, Uuid);

/// A pair's latest interaction (its time and position) and call. Chains are in
/// (`occurred_at`, position) order, whatever order and batches the facts came in.
#[derive(Debug, Clone, Copy)]
pub(super) struct Latest {
    contact: DateTime<Utc>,
    position: i64,
    call: Option<DateTime<Utc>>,
}

/// Chain links counted by (`month` or `dekad`, the first day of that bucket of the
/// link, the first day of the previous link's dekad (None: first), calls chain,
/// manager).
type LinkCounts = BTreeMap<(&'static str, NaiveDate, Option<NaiveDate>, bool, Uuid), i64>;

/// A link's previous interaction and, for a call, previous call (None: the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Prev {
    contact: Option<DateTime<Utc>>,
    call: Option<DateTime<Utc>>,
}

/// A stored fact relinked: its position, new previous links, and whether a call.
struct Relinked {
    position: i64,
    prev: Prev,
    is_call: bool,
}

/// One link of a chain being relinked: a stored fact or a new one.
struct Link {
    position: i64,
    at: DateTime<Utc>,
    is_call: bool,
    /// A stored fact's previous interaction and call as stored.
    stored: Option<Prev>,
    /// A new fact's index in the batch.
    new: Option<usize>,
}

/// Counts (delta +1 or -1) the link at `at` with previous link `prev`, by its month
/// and by its dekad.
fn count(
    links: &mut LinkCounts,
    manager: Uuid,
    calls: bool,
    at: DateTime<Utc>,
    prev: Option<DateTime<Utc>>,
    delta: i64,
) {
    let (day, prev) = (at.date_naive(), prev.map(|p| dekad_of(p.date_naive())));
    *links
        .entry(("month", month_of(day), prev, calls, manager))
        .or_default() += delta;
    *links
        .entry(("dekad", dekad_of(day), prev, calls, manager))
        .or_default() += delta;
}

/// Sets the previous interaction and call of the batch's interactions with a client,
/// relinks the chains they land inside, and writes the relinked facts
/// and `kpi_contact_links` (the new facts themselves are the caller's to insert).
///
/// `latest` holds pairs' latest links already known (a copy's batches keep them
/// from one batch to the next); the others are looked up, unless `complete` says
/// that a pair it lacks has no link stored. The batch leaves its pairs' latest links
/// in it.
pub(super) async fn link(
    tx: &mut Transaction<'_, Postgres>,
    facts: &mut [Fact],
    latest: &mut HashMap<Pair, Latest>,
    complete: bool,
) -> Result<(), ProjectionError> {
    let contacts: Vec<usize> = (0..facts.len())
        .filter(|&i| facts[i].client_id.is_some())
        .collect();
    if contacts.is_empty() {
        return Ok(());
    }
    let pair_of = |f: &Fact| (f.manager_id, f.client_id.unwrap_or_default());
    let mut pairs: Vec<Pair> = contacts.iter().map(|&i| pair_of(&facts[i])).collect();
    pairs.sort_unstable();
    pairs.dedup();
    if !complete {
        pairs.retain(|p| !latest.contains_key(p));
        if !pairs.is_empty() {
            latest.extend(load_latest(tx, &pairs).await?);
        }
    }

    // In business-time order: each follows its pair's latest.
    let mut relink = HashSet::new();
    for &i in &contacts {
        let fact = &mut facts[i];
        let pair = pair_of(fact);
        let before = latest.get(&pair).copied();
        if before.is_some_and(|l| (fact.occurred_at, fact.position) < (l.contact, l.position)) {
            relink.insert(pair);
            continue;
        }
        fact.prev_contact_at = before.map(|l| l.contact);
        if fact.kind.is_call() {
            fact.prev_call_at = before.and_then(|l| l.call);
        }
        let call = fact.kind.is_call().then_some(fact.occurred_at);
        latest.insert(
            pair,
            Latest {
                contact: fact.occurred_at,
                position: fact.position,
                call: call.or(before.and_then(|l| l.call)),
            },
        );
    }

    let mut links = LinkCounts::new();
    let mut relinked = Vec::new();
    if !relink.is_empty() {
        let mut relink: Vec<Pair> = relink.into_iter().collect();
        relink.sort_unstable();
        let mut chains = load_chains(tx, &relink).await?;
        for &i in &contacts {
            let fact = &facts[i];
            if let Some(chain) = chains.get_mut(&pair_of(fact)) {
                chain.push(Link {
                    position: fact.position,
                    at: fact.occurred_at,
                    is_call: fact.kind.is_call(),
                    stored: None,
                    new: Some(i),
                });
            }
        }
        for ((manager, client), mut chain) in chains {
            chain.sort_by_key(|l| (l.at, l.position));
            let (mut prev_contact, mut prev_call, mut last) = (None, None, 0);
            for l in &chain {
                let call = l.is_call.then_some(prev_call).flatten();
                if let Some(i) = l.new {
                    facts[i].prev_contact_at = prev_contact;
                    facts[i].prev_call_at = call;
                } else if let Some(old) = l.stored {
                    let prev = Prev {
                        contact: prev_contact,
                        call,
                    };
                    if old != prev {
                        relinked.push(Relinked {
                            position: l.position,
                            prev,
                            is_call: l.is_call,
                        });
                        count(&mut links, manager, false, l.at, old.contact, -1);
                        count(&mut links, manager, false, l.at, prev_contact, 1);
                        if l.is_call {
                            count(&mut links, manager, true, l.at, old.call, -1);
                            count(&mut links, manager, true, l.at, call, 1);
                        }
                    }
                }
                prev_contact = Some(l.at);
                last = l.position;
                if l.is_call {
                    prev_call = Some(l.at);
                }
            }
            if let Some(contact) = prev_contact {
                let latest_link = Latest {
                    contact,
                    position: last,
                    call: prev_call,
                };
                latest.insert((manager, client), latest_link);
            }
        }
    }
    for &i in &contacts {
        let f = &facts[i];
        count(
            &mut links,
            f.manager_id,
            false,
            f.occurred_at,
            f.prev_contact_at,
            1,
        );
        if f.kind.is_call() {
            count(
                &mut links,
                f.manager_id,
                true,
                f.occurred_at,
                f.prev_call_at,
                1,
            );
        }
    }
    write_relinked(tx, &relinked).await?;
    write_links(tx, &links).await?;
    Ok(())
}

/// The latest stored interaction and call of each of `pairs` that has one.
async fn load_latest(
    tx: &mut Transaction<'_, Postgres>,
    pairs: &[Pair],
) -> Result<HashMap<Pair, Latest>, ProjectionError> {
    type Row = (Uuid, Uuid, DateTime<Utc>, i64, Option<DateTime<Utc>>);
    let rows: Vec<Row> = sqlx::query_as(
        // The latest call is the latest interaction when that is a call (about half
        // of them): the second look only for the others.
        "SELECT p.manager_id, p.client_id, l.occurred_at, l.position, \
                CASE WHEN l.kind IN ('call_outbound', 'call_inbound') THEN l.occurred_at \
                ELSE (SELECT occurred_at FROM kpi_facts f \
                       WHERE f.manager_id = p.manager_id AND f.client_id = p.client_id \
                         AND f.kind IN ('call_outbound', 'call_inbound') \
                       ORDER BY occurred_at DESC, position DESC LIMIT 1) END \
           FROM UNNEST($1::uuid[], $2::uuid[]) AS p(manager_id, client_id) \
          CROSS JOIN LATERAL ( \
                SELECT occurred_at, position, kind FROM kpi_facts f \
                 WHERE f.manager_id = p.manager_id AND f.client_id = p.client_id \
                 ORDER BY occurred_at DESC, position DESC LIMIT 1) l",
    )
    .bind(pairs.iter().map(|p| p.0).collect::<Vec<_>>())
    .bind(pairs.iter().map(|p| p.1).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(m, c, contact, position, call)| {
            let latest = Latest {
                contact,
                position,
                call,
            };
            ((m, c), latest)
        })
        .collect())
}

/// The stored chain links of `pairs` (every pair present, maybe empty).
async fn load_chains(
    tx: &mut Transaction<'_, Postgres>,
    pairs: &[Pair],
) -> Result<HashMap<Pair, Vec<Link>>, ProjectionError> {
    type Row = (
        i64,
        Uuid,
        Uuid,
        DateTime<Utc>,
        bool,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT f.position, f.manager_id, f.client_id, f.occurred_at, \
                f.kind IN ('call_outbound', 'call_inbound'), \
                nullif(f.prev_contact_at, '-infinity'), nullif(f.prev_call_at, '-infinity') \
           FROM UNNEST($1::uuid[], $2::uuid[]) AS p(manager_id, client_id) \
           JOIN kpi_facts f ON f.manager_id = p.manager_id AND f.client_id = p.client_id",
    )
    .bind(pairs.iter().map(|p| p.0).collect::<Vec<_>>())
    .bind(pairs.iter().map(|p| p.1).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    let mut chains: HashMap<Pair, Vec<Link>> = pairs.iter().map(|p| (*p, Vec::new())).collect();
    for (position, manager, client, at, is_call, prev_contact, prev_call) in rows {
        chains.entry((manager, client)).or_default().push(Link {
            position,
            at,
            is_call,
            stored: Some(Prev {
                contact: prev_contact,
                call: prev_call,
            }),
            new: None,
        });
    }
    Ok(chains)
}

/// Stored facts whose previous interaction or call changed.
async fn write_relinked(
    tx: &mut Transaction<'_, Postgres>,
    relinked: &[Relinked],
) -> Result<(), ProjectionError> {
    if relinked.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE kpi_facts f SET prev_contact_at = coalesce(u.prev_contact_at, '-infinity'), \
                prev_call_at = CASE WHEN u.is_call THEN coalesce(u.prev_call_at, '-infinity') END \
           FROM UNNEST($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::bool[]) \
                AS u(position, prev_contact_at, prev_call_at, is_call) \
          WHERE f.position = u.position",
    )
    .bind(relinked.iter().map(|r| r.position).collect::<Vec<_>>())
    .bind(relinked.iter().map(|r| r.prev.contact).collect::<Vec<_>>())
    .bind(relinked.iter().map(|r| r.prev.call).collect::<Vec<_>>())
    .bind(relinked.iter().map(|r| r.is_call).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn write_links(
    tx: &mut Transaction<'_, Postgres>,
    links: &LinkCounts,
) -> Result<(), ProjectionError> {
    let counts: Vec<_> = links.iter().filter(|(_, n)| **n != 0).collect();
    if counts.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO kpi_contact_links (span, bucket, prev_dekad, calls, manager_id, links) \
         SELECT span, bucket, coalesce(prev_dekad, '-infinity'), calls, manager_id, links \
           FROM UNNEST($1::text[], $2::date[], $3::date[], $4::bool[], $5::uuid[], $6::bigint[]) \
                AS u(span, bucket, prev_dekad, calls, manager_id, links) \
         ON CONFLICT (span, bucket, prev_dekad, calls, manager_id) \
         DO UPDATE SET links = kpi_contact_links.links + EXCLUDED.links",
    )
    .bind(counts.iter().map(|(k, _)| k.0).collect::<Vec<_>>())
    .bind(counts.iter().map(|(k, _)| k.1).collect::<Vec<_>>())
    .bind(counts.iter().map(|(k, _)| k.2).collect::<Vec<_>>())
    .bind(counts.iter().map(|(k, _)| k.3).collect::<Vec<_>>())
    .bind(counts.iter().map(|(k, _)| k.4).collect::<Vec<_>>())
    .bind(counts.iter().map(|(_, n)| **n).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    // Relinks move links between buckets: drop the counts they emptied.
    if counts.iter().any(|(_, n)| **n < 0) {
        let mut touched: Vec<NaiveDate> = counts.iter().map(|(k, _)| k.1).collect();
        touched.sort_unstable();
        touched.dedup();
        sqlx::query("DELETE FROM kpi_contact_links WHERE bucket = ANY($1) AND links = 0")
            .bind(touched)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
