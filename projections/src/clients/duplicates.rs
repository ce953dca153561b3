//! Clients that look like one another (`GET /clients/duplicates`): sharing a
//! normalised phone, email or name.

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;

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
/// (their values read `[erased]`, which matches nothing). Reads the keys the
/// projection keeps (`keys`): only the values two or more clients hold.
pub async fn duplicate_clients(
    pool: &PgPool,
    managers: Option<&[Uuid]>,
    matches: DuplicateMatches,
) -> Result<Vec<DuplicateGroup>, ProjectionError> {
    // The kept keys (`keys`) of the values two or more clients hold; for `managers`,
    // those of their clients, of which two or more must still hold the value. Each
    // shared value's clients are read from the key index (a lateral aggregate), not
    // by a hash of every client's keys.
    let rows = sqlx::query_as::<_, DuplicateGroup>(
        "SELECT n.match, n.value, x.client_ids \
           FROM projections.client_key_counts n \
          CROSS JOIN LATERAL \
                (SELECT array_agg(k.client_id ORDER BY k.client_id) AS client_ids, \
                        count(*) AS clients \
                   FROM projections.client_keys k \
                  WHERE k.match = n.match AND k.value = n.value \
                    AND ($1::uuid[] IS NULL OR k.manager_id = ANY($1))) x \
          WHERE n.clients > 1 AND x.clients > 1 \
            AND CASE n.match WHEN 'phone' THEN $2 WHEN 'email' THEN $3 ELSE $4 END \
          ORDER BY CASE n.match WHEN 'phone' THEN 1 WHEN 'email' THEN 2 ELSE 3 END, \
                   n.value COLLATE \"C\"",
    )
    .bind(managers)
    .bind(matches.phone)
    .bind(matches.email)
    .bind(matches.name)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
