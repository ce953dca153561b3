//! Clients that look like one another (`GET /clients/duplicates`): sharing a
//! normalised phone, email or name.

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::personal::ERASED;

/// Clients sharing one normalised value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DuplicateGroup {
    /// What they share: `phone`, `email` or `name`.
    #[serde(rename = "match")]
    #[sqlx(rename = "match")]
    pub matched: String,
    /// The shared value, normalised: a phone's last 10 digits, an email lowercased, a
    /// name lowercased with its spaces trimmed and each run of them made one.
    pub value: String,
    /// The clients, by id.
    pub client_ids: Vec<Uuid>,
}

/// Which values may match: those the reader may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateMatches {
    /// Contacts' phones.
    pub phone: bool,
    /// Contacts' emails.
    pub email: bool,
    /// Client names.
    pub name: bool,
}

/// The groups of two or more clients (of `managers` if given: the responsible
/// manager's) sharing a contact's phone (digits only, the last 10), a contact's email
/// (lowercased) or the client's name (lowercased, spaces folded), by match (phone,
/// email, name), then value. Merged clients are left out, and so are erased ones
/// (their values read `[erased]`, which matches nothing).
pub async fn duplicate_clients(
    pool: &PgPool,
    managers: Option<&[Uuid]>,
    matches: DuplicateMatches,
) -> Result<Vec<DuplicateGroup>, ProjectionError> {
    let rows = sqlx::query_as::<_, DuplicateGroup>(
        "WITH cards AS ( \
             SELECT c.client_id, c.name_folded, c.contacts FROM projections.client_cards c \
              WHERE c.erased_at IS NULL \
                AND ($1::uuid[] IS NULL OR c.manager_id = ANY($1)) \
                AND NOT EXISTS (SELECT 1 FROM projections.client_survivors sv \
                                 WHERE sv.client_id = c.client_id)), \
         contacts AS ( \
             SELECT c.client_id, x.c->>'phone' AS phone, x.c->>'email' AS email \
               FROM cards c, jsonb_array_elements(c.contacts) AS x(c) \
              WHERE jsonb_typeof(c.contacts) = 'array'), \
         keyed (ord, match, value, client_id) AS ( \
             SELECT 1, 'phone', right(regexp_replace(phone, '[^0-9]', '', 'g'), 10), client_id \
               FROM contacts WHERE $2 AND phone IS NOT NULL AND phone <> $5 \
             UNION \
             SELECT 2, 'email', lower(email), client_id \
               FROM contacts WHERE $3 AND email IS NOT NULL AND email <> $5 \
             UNION \
             SELECT 3, 'name', regexp_replace(btrim(name_folded, E' \\t\\n\\r'), E'[ \\t\\n\\r]+', ' ', 'g'), \
                    client_id \
               FROM cards WHERE $4 AND name_folded <> lower($5)) \
         SELECT match, value, array_agg(client_id ORDER BY client_id) AS client_ids \
           FROM keyed WHERE value <> '' \
          GROUP BY ord, match, value HAVING count(*) > 1 \
          ORDER BY ord, value COLLATE \"C\"",
    )
    .bind(managers)
    .bind(matches.phone)
    .bind(matches.email)
    .bind(matches.name)
    .bind(ERASED)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
