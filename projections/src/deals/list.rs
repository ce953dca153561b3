//! The deal list as `GET /deals` shows it: the deals as they stand, or as they stood
//! at a business time, filtered, by id, each with the names a person reads (from the
//! clients and manager KPIs read models too).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres};
use uuid::Uuid;

use crate::entity_status::DealStatus;
use crate::error::ProjectionError;

/// A deal as the read model holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DealRow {
    /// The deal's id.
    #[sqlx(rename = "deal_id")]
    #[serde(rename = "id")]
    pub deal_id: Uuid,
    /// Its client.
    pub client_id: Uuid,
    /// Its pipeline.
    pub pipeline_id: Uuid,
    /// Its current stage.
    pub stage_id: Uuid,
    /// Its title.
    pub title: String,
    /// Its current amount, minor units.
    pub amount: i64,
    /// The manager responsible now.
    pub manager_id: Uuid,
    /// Where it came from.
    pub source: Option<String>,
    /// Open, won or lost.
    pub status: DealStatus,
    /// When it is expected to close.
    pub expected_close_on: Option<NaiveDate>,
    /// Its stream's version.
    pub version: i64,
    /// Its client's name (null when the client is outside the reader's reach).
    pub client_name: Option<String>,
    /// Its stage's name.
    pub stage_name: Option<String>,
    /// Its manager's name.
    pub manager_name: Option<String>,
}

/// Which deals a list shows.
#[derive(Debug, Clone, Default)]
pub struct DealFilter {
    /// Only this pipeline's.
    pub pipeline_id: Option<Uuid>,
    /// Only those at this stage.
    pub stage_id: Option<Uuid>,
    /// Only these managers'.
    pub managers: Option<Vec<Uuid>>,
    /// Only this client's.
    pub client_id: Option<Uuid>,
    /// Only those with this outcome.
    pub status: Option<DealStatus>,
    /// The managers whose clients' names the reader may see (None: every client's).
    pub reach: Option<Vec<Uuid>>,
}

/// Up to `limit` deals matching `filter` with ids after `after`, by id, each with
/// its client's, stage's and manager's names (from the clients and manager KPIs
/// read models too).
pub async fn list_deals(
    pool: &PgPool,
    filter: &DealFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<DealRow>, ProjectionError> {
    let sql = format!(
        "SELECT d.deal_id, d.client_id, d.pipeline_id, d.stage_id, d.title, d.amount, d.manager_id, \
                d.source, d.status, d.expected_close_on, d.version, {client_name}, \
                s.name AS stage_name, m.name AS manager_name \
           FROM projections.deals d {NAMES_FROM} \
          WHERE ($1::uuid IS NULL OR d.pipeline_id = $1) AND ($2::uuid IS NULL OR d.stage_id = $2) \
            AND ($3::uuid[] IS NULL OR d.manager_id = ANY($3)) AND ($4::uuid IS NULL OR d.client_id IN {members}) \
            AND ($5::text IS NULL OR d.status = $5) AND ($6::uuid IS NULL OR d.deal_id > $6) \
          ORDER BY d.deal_id LIMIT $7",
        client_name = crate::names::client_name("$8"),
        members = crate::clients::members_of!("$4::uuid"),
    );
    let query = filtered(sqlx::query_as(&sql), filter, after)
        .bind(limit)
        .bind(filter.reach.as_deref());
    Ok(query.fetch_all(pool).await?)
}

/// The tables a deal list joins for its names: the client's card `c`, the stage `s`
/// and the manager `m` of the deal `d`, whose stage and manager are `d`'s.
const NAMES_FROM: &str = "LEFT JOIN projections.client_cards c ON c.client_id = d.client_id \
     LEFT JOIN projections.pipeline_stages s ON s.pipeline_id = d.pipeline_id AND s.stage_id = d.stage_id \
     LEFT JOIN projections.kpi_managers m ON m.manager_id = d.manager_id";

/// [`list_deals`] as the deals stood at business time `as_of`: each deal's stage,
/// amount, manager and status are, per field, the value its latest (by version)
/// change that occurred by then set, its version the latest such; a deal is listed
/// once its opening occurred by then. (Its title, client, pipeline, source and
/// expected close date are set when it opens.) The names are today's.
pub async fn list_deals_as_of(
    pool: &PgPool,
    filter: &DealFilter,
    as_of: DateTime<Utc>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<DealRow>, ProjectionError> {
    let sql = format!(
        "SELECT d.deal_id, d.client_id, d.pipeline_id, d.stage_id, d.title, d.amount, d.manager_id, \
                d.source, d.status, d.expected_close_on, d.version, {client_name}, \
                s.name AS stage_name, m.name AS manager_name \
           FROM (SELECT d.deal_id, d.client_id, d.pipeline_id, f.stage_id, d.title, f.amount, \
                        f.manager_id, d.source, f.status, d.expected_close_on, f.version \
                   FROM projections.deals d \
                  CROSS JOIN LATERAL ( \
                        SELECT (array_agg(x.stage_id ORDER BY x.version DESC) FILTER (WHERE x.stage_id IS NOT NULL))[1] AS stage_id, \
                               (array_agg(x.amount ORDER BY x.version DESC) FILTER (WHERE x.amount IS NOT NULL))[1] AS amount, \
                               (array_agg(x.manager_id ORDER BY x.version DESC) FILTER (WHERE x.manager_id IS NOT NULL))[1] AS manager_id, \
                               (array_agg(x.status ORDER BY x.version DESC) FILTER (WHERE x.status IS NOT NULL))[1] AS status, \
                               max(x.version) AS version \
                          FROM projections.deal_changes x \
                         WHERE x.deal_id = d.deal_id AND x.occurred_at <= $7 \
                        HAVING bool_or(x.version = 1)) f \
                  WHERE ($1::uuid IS NULL OR d.pipeline_id = $1) AND ($4::uuid IS NULL OR d.client_id IN {members}) \
                    AND ($6::uuid IS NULL OR d.deal_id > $6) \
                    AND ($2::uuid IS NULL OR f.stage_id = $2) AND ($3::uuid[] IS NULL OR f.manager_id = ANY($3)) \
                    AND ($5::text IS NULL OR f.status = $5) \
                  ORDER BY d.deal_id LIMIT $8) d {NAMES_FROM} \
          ORDER BY d.deal_id",
        client_name = crate::names::client_name("$9"),
        members = crate::clients::members_of!("$4::uuid"),
    );
    let query = filtered(sqlx::query_as(&sql), filter, after)
        .bind(as_of)
        .bind(limit)
        .bind(filter.reach.as_deref());
    Ok(query.fetch_all(pool).await?)
}

/// A deal list query with its first parameters bound: `$1`–`$5` the filter, `$6` the
/// cursor.
fn filtered<'q>(
    query: sqlx::query::QueryAs<'q, Postgres, DealRow, sqlx::postgres::PgArguments>,
    filter: &'q DealFilter,
    after: Option<Uuid>,
) -> sqlx::query::QueryAs<'q, Postgres, DealRow, sqlx::postgres::PgArguments> {
    query
        .bind(filter.pipeline_id)
        .bind(filter.stage_id)
        .bind(filter.managers.as_deref())
        .bind(filter.client_id)
        .bind(filter.status)
        .bind(after)
}
