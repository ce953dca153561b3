//! The values clients may share (`client_keys`, `client_key_counts`), kept for
//! `GET /clients/duplicates` (see `duplicates`): each client's normalised phones,
//! emails and name, with its manager, found again from its card whenever an event
//! changes them, reassigns, erases, merges or unmerges the client. An erased or merged
//! client holds none.

use crm_domain::DomainEvent;
use crm_eventlog::RecordedEvent;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::personal::ERASED;

/// The client whose keys `event` may change.
fn client_of(event: &DomainEvent) -> Option<Uuid> {
    match event {
        DomainEvent::ClientRegistered(e) => Some(e.client_id),
        DomainEvent::ClientUpdated(e) => Some(e.client_id),
        DomainEvent::ClientReassigned(e) => Some(e.client_id),
        DomainEvent::ClientErased(e) => Some(e.client_id),
        DomainEvent::ClientMerged(e) => Some(e.client_id),
        DomainEvent::ClientUnmerged(e) => Some(e.client_id),
        _ => None,
    }
}

/// Finds again, from their cards and merges as written, the keys of the clients the
/// batch `events` registered, updated, reassigned, erased, merged or unmerged, and the number of
/// clients holding each value they held or hold.
pub(super) async fn refresh(
    tx: &mut Transaction<'_, Postgres>,
    events: &[(&RecordedEvent, &DomainEvent)],
) -> Result<(), ProjectionError> {
    let mut clients: Vec<Uuid> = events.iter().filter_map(|(_, e)| client_of(e)).collect();
    if clients.is_empty() {
        return Ok(());
    }
    clients.sort_unstable();
    clients.dedup();
    let mut values: Vec<(String, String)> =
        sqlx::query_as("DELETE FROM client_keys WHERE client_id = ANY($1) RETURNING match, value")
            .bind(&clients)
            .fetch_all(&mut **tx)
            .await?;
    // The normalisation of `duplicates` before the keys were kept (the same SQL), so
    // the groups are the same: phones, emails and names that read `[erased]` match
    // nothing, nor do empty values.
    let added: Vec<(String, String)> = sqlx::query_as(
        "WITH cards AS ( \
             SELECT c.client_id, c.manager_id, c.name_folded, c.contacts FROM client_cards c \
              WHERE c.client_id = ANY($1) AND c.erased_at IS NULL \
                AND NOT EXISTS (SELECT 1 FROM client_survivors sv \
                                 WHERE sv.client_id = c.client_id)), \
         contacts AS ( \
             SELECT c.client_id, c.manager_id, x.c->>'phone' AS phone, x.c->>'email' AS email \
               FROM cards c, jsonb_array_elements(c.contacts) AS x(c) \
              WHERE jsonb_typeof(c.contacts) = 'array'), \
         keyed (match, value, client_id, manager_id) AS ( \
             SELECT 'phone', right(regexp_replace(phone, '[^0-9]', '', 'g'), 10), client_id, \
                    manager_id \
               FROM contacts WHERE phone IS NOT NULL AND phone <> $2 \
             UNION \
             SELECT 'email', lower(email), client_id, manager_id \
               FROM contacts WHERE email IS NOT NULL AND email <> $2 \
             UNION \
             SELECT 'name', regexp_replace(btrim(name_folded, E' \\t\\n\\r'), E'[ \\t\\n\\r]+', ' ', 'g'), \
                    client_id, manager_id \
               FROM cards WHERE name_folded <> lower($2)) \
         INSERT INTO client_keys (match, value, client_id, manager_id) \
         SELECT match, value, client_id, manager_id FROM keyed WHERE value <> '' \
         RETURNING match, value",
    )
    .bind(&clients)
    .bind(ERASED)
    .fetch_all(&mut **tx)
    .await?;
    values.extend(added);
    if values.is_empty() {
        return Ok(());
    }
    values.sort_unstable();
    values.dedup();
    let (matches, values): (Vec<String>, Vec<String>) = values.into_iter().unzip();
    sqlx::query(
        "WITH counted AS ( \
             SELECT v.match, v.value, \
                    (SELECT count(*) FROM client_keys k \
                      WHERE k.match = v.match AND k.value = v.value)::integer AS clients \
               FROM UNNEST($1::text[], $2::text[]) AS v(match, value)), \
         gone AS ( \
             DELETE FROM client_key_counts t USING counted c \
              WHERE c.clients = 0 AND t.match = c.match AND t.value = c.value) \
         INSERT INTO client_key_counts AS t (match, value, clients) \
         SELECT match, value, clients FROM counted WHERE clients > 0 \
         ON CONFLICT (match, value) DO UPDATE SET clients = EXCLUDED.clients",
    )
    .bind(matches)
    .bind(values)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
