//! The merges as they happened (`client_merge_history`): every ClientMerged and
//! ClientUnmerged with its business time, so a card or timeline as of a past time
//! counts the merges in force then (`client_merges` holds only those in force now).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use crm_domain::DomainEvent;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::event::FeedEvent;

/// Records the merges and unmerges of `events` (in feed order) inside `tx`.
pub(super) async fn apply(
    tx: &mut Transaction<'_, Postgres>,
    events: &[Arc<FeedEvent>],
) -> Result<(), ProjectionError> {
    let (mut positions, mut clients, mut intos, mut times) = (
        Vec::new(),
        Vec::new(),
        Vec::<Option<Uuid>>::new(),
        Vec::new(),
    );
    for event in events {
        let stored = &event.stored;
        if !matches!(
            stored.event_type.as_str(),
            "ClientMerged" | "ClientUnmerged"
        ) {
            continue;
        }
        let (client, into) = match event.domain()? {
            DomainEvent::ClientMerged(e) => (e.client_id, Some(e.into_client_id)),
            DomainEvent::ClientUnmerged(e) => (e.client_id, None),
            _ => continue,
        };
        positions.push(stored.position);
        clients.push(client);
        intos.push(into);
        times.push(stored.occurred_at);
    }
    if positions.is_empty() {
        return Ok(());
    }
    // An event is applied once (the checkpoint moves in the same transaction).
    sqlx::query(
        "INSERT INTO client_merge_history (position, client_id, into_client_id, occurred_at) \
         SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::uuid[], $4::timestamptz[])",
    )
    .bind(positions)
    .bind(clients)
    .bind(intos)
    .bind(times)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Each merged client's survivor (the end of its chain of merges) as the merges stood
/// at `as_of`: the merges and unmerges that occurred at or before it, in log order,
/// each client's last one in force.
pub(super) async fn survivors_at(
    pool: &PgPool,
    as_of: DateTime<Utc>,
) -> Result<BTreeMap<Uuid, Uuid>, ProjectionError> {
    let rows: Vec<(Uuid, Option<Uuid>)> = sqlx::query_as(
        "SELECT client_id, into_client_id FROM projections.client_merge_history \
          WHERE occurred_at <= $1 ORDER BY position",
    )
    .bind(as_of)
    .fetch_all(pool)
    .await?;
    let mut merges: BTreeMap<Uuid, Uuid> = BTreeMap::new();
    for (client, into) in rows {
        match into {
            Some(into) => merges.insert(client, into),
            None => merges.remove(&client),
        };
    }
    Ok(survivors(&merges))
}

/// The end of each merged client's chain of merges in `merges` (merged client → the
/// client it was merged into), as `client_survivors` finds it: at most 64 steps.
fn survivors(merges: &BTreeMap<Uuid, Uuid>) -> BTreeMap<Uuid, Uuid> {
    merges
        .iter()
        .map(|(&client, &into)| {
            let mut survivor = into;
            for _ in 1..64 {
                match merges.get(&survivor) {
                    Some(&next) => survivor = next,
                    None => break,
                }
            }
            (client, survivor)
        })
        .collect()
}

/// The clients that count for `client_id` under `survivors`: itself and those whose
/// survivor it is, in id order after itself.
pub(super) fn members(survivors: &BTreeMap<Uuid, Uuid>, client_id: Uuid) -> Vec<Uuid> {
    std::iter::once(client_id)
        .chain(
            survivors
                .iter()
                .filter(|(_, &s)| s == client_id)
                .map(|(&c, _)| c),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_ends_at_its_last_survivor() {
        let [a, b, c, d] = [1u128, 2, 3, 4].map(Uuid::from_u128);
        let merges = BTreeMap::from([(a, b), (b, c), (d, c)]);
        let found = survivors(&merges);
        assert_eq!(found, BTreeMap::from([(a, c), (b, c), (d, c)]));
        assert_eq!(members(&found, c), vec![c, a, b, d]);
        assert_eq!(members(&found, b), vec![b]);
    }
}
