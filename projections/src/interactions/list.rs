//! Interactions as `GET /interactions` lists them: newest first, each with its
//! manager's and client's names (from the manager KPIs and clients read models).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;

/// An interaction with its manager's and client's names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct InteractionRow {
    /// The interaction's id.
    #[serde(rename = "id")]
    pub interaction_id: Uuid,
    /// `call`, `email`, `meeting` or `message`.
    pub kind: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// The manager on our side.
    pub manager_id: Uuid,
    /// His name.
    pub manager_name: Option<String>,
    /// The client it was with.
    pub client_id: Option<Uuid>,
    /// That client's name (null when the client is outside the reader's reach).
    pub client_name: Option<String>,
    /// The deal it was about.
    pub deal_id: Option<Uuid>,
    /// The lead it answered.
    pub lead_id: Option<Uuid>,
    /// When it happened (business time).
    pub occurred_at: DateTime<Utc>,
    /// How long it lasted, in seconds.
    pub duration_s: Option<i64>,
    /// How it went.
    pub outcome: Option<String>,
    /// What it was for.
    pub goal: Option<String>,
    /// Notes.
    pub notes: Option<String>,
}

/// Which interactions a list shows.
#[derive(Debug, Clone, Default)]
pub struct InteractionFilter {
    /// Only those with this client.
    pub client_id: Option<Uuid>,
    /// Only those about this deal.
    pub deal_id: Option<Uuid>,
    /// Only those answering this lead.
    pub lead_id: Option<Uuid>,
    /// Only these managers' (None: everyone's).
    pub managers: Option<Vec<Uuid>>,
    /// The managers whose clients' names the reader may see (None: every client's).
    pub reach: Option<Vec<Uuid>>,
}

/// The interaction columns with the names, from `i`, its manager `m` and its
/// client's card `c`; parameter `$1` is the reader's reach (`uuid[]`, NULL: everyone).
fn interaction_select() -> String {
    format!(
        "SELECT i.interaction_id, i.kind, i.direction, i.manager_id, m.name AS manager_name, \
                i.client_id, {client_name}, i.deal_id, i.lead_id, i.occurred_at, i.duration_s, \
                i.outcome, i.goal, i.notes \
           FROM projections.interactions i \
           LEFT JOIN projections.kpi_managers m ON m.manager_id = i.manager_id \
           LEFT JOIN projections.client_cards c ON c.client_id = i.client_id",
        client_name = crate::names::client_name("$1"),
    )
}

/// Up to `limit` interactions matching `filter`, newest first (by `occurred_at`, then
/// id, both descending), starting after the interaction `(occurred_at, id)` of
/// `before`.
pub async fn list_interactions(
    pool: &PgPool,
    filter: &InteractionFilter,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<InteractionRow>, ProjectionError> {
    let sql = format!(
        "{select} \
          WHERE ($2::uuid IS NULL OR i.client_id IN {members}) AND ($3::uuid IS NULL OR i.deal_id = $3) \
            AND ($4::uuid IS NULL OR i.lead_id = $4) AND ($5::uuid[] IS NULL OR i.manager_id = ANY($5)) \
            AND ($6::timestamptz IS NULL OR (i.occurred_at, i.interaction_id) < ($6, $7::uuid)) \
          ORDER BY i.occurred_at DESC, i.interaction_id DESC LIMIT $8",
        select = interaction_select(),
        members = crate::clients::members_of!("$2::uuid"),
    );
    let rows = sqlx::query_as::<_, InteractionRow>(&sql)
        .bind(filter.reach.as_deref())
        .bind(filter.client_id)
        .bind(filter.deal_id)
        .bind(filter.lead_id)
        .bind(filter.managers.as_deref())
        .bind(before.map(|(at, _)| at))
        .bind(before.map(|(_, id)| id))
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(rows)
}

/// The interaction `interaction_id` with the names a reader reaching `reach` (None:
/// everyone) may see; None when there is none.
pub async fn interaction(
    pool: &PgPool,
    interaction_id: Uuid,
    reach: Option<&[Uuid]>,
) -> Result<Option<InteractionRow>, ProjectionError> {
    let sql = format!("{} WHERE i.interaction_id = $2", interaction_select());
    let row = sqlx::query_as::<_, InteractionRow>(&sql)
        .bind(reach)
        .bind(interaction_id)
        .fetch_optional(pool)
        .await?;
    Ok(row)
}
