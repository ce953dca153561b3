//! The values clients may share (`client_keys`, `client_key_counts`), kept for
//! `GET /clients/duplicates` (see `duplicates`): each client's normalised phones,
//! emails and name, with its manager. An erased or merged client holds none.
//!
//! A batch finds again only the keys its events change, from what it folded: a
//! registration gives every key of the client, a rename its name key, new contacts
//! its phone and email keys (normalised here, emails lowercased by PostgreSQL as
//! before), a reassignment only moves the manager of the keys it holds. An erasure,
//! a merge or an unmerge finds the client's keys again from its card as written
//! (SQL). The counts move by the keys removed and added, not by counting again.

use std::collections::{BTreeMap, BTreeSet};

use crm_domain::DomainEvent;
use crm_eventlog::RecordedEvent;
use serde_json::Value;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::card::CardChange;

use crate::error::ProjectionError;
use crate::personal::ERASED;

/// A client whose keys an erasure, a merge or an unmerge may change: found again from
/// its card as written.
fn recomputed(event: &DomainEvent) -> Option<Uuid> {
    match event {
        DomainEvent::ClientErased(e) => Some(e.client_id),
        DomainEvent::ClientMerged(e) => Some(e.client_id),
        DomainEvent::ClientUnmerged(e) => Some(e.client_id),
        _ => None,
    }
}

/// The name key of a card's `name_folded` (the name lowercased by Rust): spaces,
/// tabs and line ends trimmed and each run of them made one space; none for an erased
/// name or an empty value. What the SQL of [`recompute`] makes of it.
fn name_key(name_folded: &str) -> Option<String> {
    const SPACE: [char; 4] = [' ', '\t', '\n', '\r'];
    if name_folded == ERASED.to_lowercase() {
        return None;
    }
    let words: Vec<&str> = name_folded.split(SPACE).filter(|w| !w.is_empty()).collect();
    let value = words.join(" ");
    (!value.is_empty()).then_some(value)
}

/// The phone key of a contact's phone: its digits 0-9 only, the last 10; none for an
/// erased phone or no digits.
fn phone_key(phone: &str) -> Option<String> {
    if phone == ERASED {
        return None;
    }
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let value: String = digits[digits.len().saturating_sub(10)..].iter().collect();
    (!value.is_empty()).then_some(value)
}

/// The keys a batch replaces: per client, which kinds it removes, and the values it
/// adds (emails as given: PostgreSQL lowercases them, as `lower()` always did).
#[derive(Default)]
struct Keys {
    /// (client, match) whose stored keys go.
    removed: Vec<(Uuid, &'static str)>,
    /// (match, value, client, manager if the batch knows it).
    added: BTreeSet<(&'static str, String, Uuid, Option<Uuid>)>,
    /// Clients reassigned in the batch and their manager now, for the keys they keep.
    managers: Vec<(Uuid, Uuid)>,
}

impl Keys {
    fn name(&mut self, client_id: Uuid, manager_id: Option<Uuid>, name: &str) {
        if let Some(value) = name_key(&name.to_lowercase()) {
            self.added.insert(("name", value, client_id, manager_id));
        }
    }

    fn contacts(&mut self, client_id: Uuid, manager_id: Option<Uuid>, contacts: &Value) {
        let Value::Array(items) = contacts else {
            return;
        };
        for item in items {
            let field = |name: &str| item.get(name).and_then(Value::as_str);
            if let Some(value) = field("phone").and_then(phone_key) {
                self.added.insert(("phone", value, client_id, manager_id));
            }
            if let Some(email) = field("email").filter(|e| *e != ERASED && !e.is_empty()) {
                self.added
                    .insert(("email", email.to_owned(), client_id, manager_id));
            }
        }
    }
}

/// Finds again the keys of the clients the batch `events` registered, renamed, gave
/// other contacts, reassigned, erased, merged or unmerged (`cards`: what it folded
/// about each), after the batch's cards and merges are written, and moves the counts
/// of every value they held or hold.
pub(super) async fn refresh(
    tx: &mut Transaction<'_, Postgres>,
    events: &[(&RecordedEvent, &DomainEvent)],
    cards: &BTreeMap<Uuid, CardChange>,
) -> Result<(), ProjectionError> {
    let mut from_cards: Vec<Uuid> = events.iter().filter_map(|(_, e)| recomputed(e)).collect();
    from_cards.sort_unstable();
    from_cards.dedup();
    let mut keys = Keys::default();
    for (client_id, change) in cards {
        if from_cards.binary_search(client_id).is_ok() {
            continue;
        }
        let sources = change.key_sources();
        let manager = sources.registered.then_some(sources.manager_id).flatten();
        if let Some(name) = &sources.name {
            if !sources.registered {
                keys.removed.push((*client_id, "name"));
            }
            keys.name(*client_id, manager, name);
        }
        if let Some(contacts) = &sources.contacts {
            if !sources.registered {
                keys.removed.push((*client_id, "phone"));
                keys.removed.push((*client_id, "email"));
            }
            keys.contacts(*client_id, manager, contacts);
        }
        if let (false, Some(manager_id)) = (sources.registered, sources.manager_id) {
            keys.managers.push((*client_id, manager_id));
        }
    }
    let mut moved: BTreeMap<(String, String), i32> = BTreeMap::new();
    let mut count = |rows: Vec<(String, String)>, delta: i32| {
        for row in rows {
            *moved.entry(row).or_default() += delta;
        }
    };
    count(remove(tx, &keys.removed).await?, -1);
    count(add(tx, &keys.added).await?, 1);
    set_managers(tx, &keys.managers).await?;
    let (gone, made) = recompute(tx, &from_cards).await?;
    count(gone, -1);
    count(made, 1);
    move_counts(tx, moved).await
}

/// Deletes the stored keys of each (client, match); returns their (match, value).
async fn remove(
    tx: &mut Transaction<'_, Postgres>,
    removed: &[(Uuid, &'static str)],
) -> Result<Vec<(String, String)>, ProjectionError> {
    if removed.is_empty() {
        return Ok(Vec::new());
    }
    // One plain `client_id = ANY` per kind (the client index; a join with the
    // pairs was planned as a scan of every key).
    let mut rows = Vec::new();
    for kinds in [&["name"][..], &["phone", "email"][..]] {
        let clients: Vec<Uuid> = removed
            .iter()
            .filter(|r| r.1 == kinds[0])
            .map(|r| r.0)
            .collect();
        if clients.is_empty() {
            continue;
        }
        let gone: Vec<(String, String)> = sqlx::query_as(
            "DELETE FROM client_keys WHERE client_id = ANY($1) AND match = ANY($2) \
             RETURNING match, value",
        )
        .bind(clients)
        .bind(kinds)
        .fetch_all(&mut **tx)
        .await?;
        rows.extend(gone);
    }
    Ok(rows)
}

/// Inserts the keys the batch made, each with the client's manager (from its card when
/// the batch does not know it), none for a client erased or merged by now; returns
/// their (match, value).
async fn add(
    tx: &mut Transaction<'_, Postgres>,
    added: &BTreeSet<(&'static str, String, Uuid, Option<Uuid>)>,
) -> Result<Vec<(String, String)>, ProjectionError> {
    if added.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query_as(
        "WITH u AS ( \
             SELECT u.match, CASE WHEN u.match = 'email' THEN lower(u.value) ELSE u.value END \
                    AS value, u.client_id, u.manager_id \
               FROM UNNEST($1::text[], $2::text[], $3::uuid[], $4::uuid[]) \
                    AS u(match, value, client_id, manager_id)) \
         INSERT INTO client_keys (match, value, client_id, manager_id) \
         SELECT DISTINCT * FROM ( \
             SELECT match, value, client_id, manager_id FROM u WHERE manager_id IS NOT NULL \
             UNION ALL \
             SELECT u.match, u.value, u.client_id, c.manager_id FROM u \
               JOIN client_cards c ON c.client_id = u.client_id \
              WHERE u.manager_id IS NULL AND c.erased_at IS NULL \
                AND NOT EXISTS (SELECT 1 FROM client_survivors sv \
                                 WHERE sv.client_id = c.client_id)) k \
          WHERE value <> '' \
         RETURNING match, value",
    )
    .bind(added.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind(added.iter().map(|k| k.1.as_str()).collect::<Vec<_>>())
    .bind(added.iter().map(|k| k.2).collect::<Vec<_>>())
    .bind(added.iter().map(|k| k.3).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows)
}

/// Gives the keys of the reassigned clients their manager now.
async fn set_managers(
    tx: &mut Transaction<'_, Postgres>,
    managers: &[(Uuid, Uuid)],
) -> Result<(), ProjectionError> {
    if managers.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE client_keys k SET manager_id = u.manager_id \
           FROM UNNEST($1::uuid[], $2::uuid[]) AS u(client_id, manager_id) \
          WHERE k.client_id = ANY($1) AND k.client_id = u.client_id \
            AND k.manager_id <> u.manager_id",
    )
    .bind(managers.iter().map(|m| m.0).collect::<Vec<_>>())
    .bind(managers.iter().map(|m| m.1).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Finds again, from their cards and merges as written, every key of `clients`:
/// returns the (match, value) of the keys removed and of those added.
async fn recompute(
    tx: &mut Transaction<'_, Postgres>,
    clients: &[Uuid],
) -> Result<(Vec<(String, String)>, Vec<(String, String)>), ProjectionError> {
    if clients.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let gone: Vec<(String, String)> =
        sqlx::query_as("DELETE FROM client_keys WHERE client_id = ANY($1) RETURNING match, value")
            .bind(clients)
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
    .bind(clients)
    .bind(ERASED)
    .fetch_all(&mut **tx)
    .await?;
    Ok((gone, added))
}

/// Moves the number of clients holding each value by `moved` (the keys added less
/// those removed), dropping the values nobody holds any more.
async fn move_counts(
    tx: &mut Transaction<'_, Postgres>,
    moved: BTreeMap<(String, String), i32>,
) -> Result<(), ProjectionError> {
    let moved: Vec<((String, String), i32)> = moved.into_iter().filter(|(_, n)| *n != 0).collect();
    if moved.is_empty() {
        return Ok(());
    }
    let matches: Vec<&str> = moved.iter().map(|((m, _), _)| m.as_str()).collect();
    let values: Vec<&str> = moved.iter().map(|((_, v), _)| v.as_str()).collect();
    let deltas: Vec<i32> = moved.iter().map(|(_, n)| *n).collect();
    sqlx::query(
        "WITH counted AS ( \
             SELECT v.match, v.value, coalesce(t.clients, 0) + v.delta AS clients \
               FROM UNNEST($1::text[], $2::text[], $3::integer[]) AS v(match, value, delta) \
               LEFT JOIN client_key_counts t ON t.match = v.match AND t.value = v.value), \
         gone AS ( \
             DELETE FROM client_key_counts t USING counted c \
              WHERE c.clients <= 0 AND t.match = c.match AND t.value = c.value) \
         INSERT INTO client_key_counts AS t (match, value, clients) \
         SELECT match, value, clients FROM counted WHERE clients > 0 \
         ON CONFLICT (match, value) DO UPDATE SET clients = EXCLUDED.clients",
    )
    .bind(matches)
    .bind(values)
    .bind(deltas)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_phones_normalise_as_before() {
        assert_eq!(name_key("  acme \t\n corp\r").as_deref(), Some("acme corp"));
        assert_eq!(name_key(" \t "), None);
        assert_eq!(name_key("[erased]"), None);
        assert_eq!(
            phone_key("+38 (050) 123-45-67").as_deref(),
            Some("0501234567")
        );
        assert_eq!(phone_key("12-3").as_deref(), Some("123"));
        assert_eq!(phone_key("ext. ٣"), None);
        assert_eq!(phone_key("[erased]"), None);
    }

    /// The SQL that found the keys from the cards (`recompute`) and the Rust that finds
    /// them from a batch agree, on awkward values.
    #[sqlx::test(migrations = false)]
    async fn rust_keys_are_the_sql_keys(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
        let names = [
            "  Acme \t\n Corp\r",
            "ÉCOLE  Ünïon",
            "[erased]",
            " ",
            "a\u{a0}b  c",
        ];
        let phones = [
            "+38 (050) 123-45-67",
            "٣٤٥ 12",
            "",
            "[erased]",
            "0044 20 7946 0958 11",
        ];
        for name in names {
            let folded = name.to_lowercase();
            let sql: Option<String> = sqlx::query_scalar(
                "SELECT v FROM (SELECT regexp_replace(btrim($1, E' \\t\\n\\r'), \
                 E'[ \\t\\n\\r]+', ' ', 'g') AS v) x WHERE $1 <> lower($2) AND v <> ''",
            )
            .bind(&folded)
            .bind(ERASED)
            .fetch_optional(&pool)
            .await?;
            assert_eq!(name_key(&folded), sql, "{name:?}");
        }
        for phone in phones {
            let sql: Option<String> = sqlx::query_scalar(
                "SELECT v FROM (SELECT right(regexp_replace($1, '[^0-9]', '', 'g'), 10) AS v) x \
                  WHERE $1 <> $2 AND v <> ''",
            )
            .bind(phone)
            .bind(ERASED)
            .fetch_optional(&pool)
            .await?;
            assert_eq!(phone_key(phone), sql, "{phone:?}");
        }
        Ok(())
    }
}
