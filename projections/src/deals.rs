//! The `deals` read model: pipelines and their stages, every deal as it stands, and
//! each deal's changes by business time; the deal list and the funnel read it.

use std::sync::Arc;

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::DomainEvent;
use crm_eventlog::RecordedEvent;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::batch::{decode, touched_rows};
use crate::error::ProjectionError;
use crate::event::FeedEvent;
use crate::projection::Projection;
use crate::total::Total;

mod pipelines;

pub use pipelines::{list_pipelines, pipeline, PipelineRow, StageRow};

/// The projection's name.
pub const NAME: &str = "deals";

/// Keeps `projections.pipelines`, `pipeline_stages`, `deals` and `deal_changes`.
pub struct Deals;

/// The fields one deal event sets (None: left as it was).
#[derive(Default)]
struct Change {
    stage_id: Option<Uuid>,
    amount: Option<i64>,
    manager_id: Option<Uuid>,
    status: Option<&'static str>,
}

/// A deal's row, as loaded and written back by a batch.
#[derive(Clone, sqlx::FromRow)]
struct StoredDeal {
    deal_id: Uuid,
    client_id: Uuid,
    pipeline_id: Uuid,
    stage_id: Uuid,
    title: String,
    amount: i64,
    manager_id: Uuid,
    source: Option<String>,
    status: String,
    expected_close_on: Option<NaiveDate>,
    lead_id: Option<Uuid>,
    opened_at: DateTime<Utc>,
    version: i64,
    max_stage_idx: i32,
    opened_manager_id: Option<Uuid>,
}

/// The rows one batch appends to `deal_changes`, `deal_wins` and `deal_losses`.
#[derive(Default)]
struct Appended {
    changes: Vec<(Uuid, i64, DateTime<Utc>, Uuid, Change)>,
    wins: Vec<(StoredDeal, i64, DateTime<Utc>, i64)>,
    losses: Vec<(StoredDeal, i64, DateTime<Utc>, String)>,
}

#[async_trait]
impl Projection for Deals {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> i32 {
        3
    }

    fn tables(&self) -> Vec<&str> {
        vec![
            "pipelines",
            "pipeline_stages",
            "deals",
            "deal_changes",
            "deal_wins",
            "deal_losses",
        ]
    }

    fn event_types(&self) -> Option<Vec<String>> {
        crate::batch::types(&[
            "PipelineDefined",
            "DealOpened",
            "DealStageChanged",
            "DealAmountChanged",
            "DealReassigned",
            "DealWon",
            "DealLost",
            "DealReopened",
        ])
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError> {
        let events = decode(events)?;
        define_pipelines(tx, &events).await?;
        let ids: Vec<Uuid> = events.iter().filter_map(|(_, e)| deal_of(e)).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let mut deals: HashMap<Uuid, StoredDeal> = sqlx::query_as::<_, StoredDeal>(
            "SELECT deal_id, client_id, pipeline_id, stage_id, title, amount, manager_id, source, \
                    status, expected_close_on, lead_id, opened_at, version, max_stage_idx, opened_manager_id \
               FROM deals WHERE deal_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(|d| (d.deal_id, d))
        .collect();
        let stages = stage_indexes(tx, &events, &deals).await?;
        let mut appended = Appended::default();
        let mut touched = Vec::new();
        for (stored, event) in &events {
            let Some((deal_id, change)) = change_of(event) else {
                continue;
            };
            if let DomainEvent::DealOpened(e) = event {
                deals.insert(
                    deal_id,
                    StoredDeal {
                        deal_id,
                        client_id: e.client_id,
                        pipeline_id: e.pipeline_id,
                        stage_id: e.stage_id,
                        title: e.title.clone(),
                        amount: e.amount,
                        manager_id: e.manager_id,
                        source: e.source.clone(),
                        status: "open".to_owned(),
                        expected_close_on: e.expected_close_on,
                        lead_id: e.lead_id,
                        opened_at: stored.occurred_at,
                        version: stored.version,
                        max_stage_idx: 0,
                        opened_manager_id: Some(e.manager_id),
                    },
                );
            }
            let Some(deal) = deals.get_mut(&deal_id) else {
                continue;
            };
            if let Some(stage) = change.stage_id {
                deal.stage_id = stage;
            }
            if let Some(amount) = change.amount {
                deal.amount = amount;
            }
            if let Some(manager) = change.manager_id {
                deal.manager_id = manager;
            }
            if let Some(status) = change.status {
                deal.status = status.to_owned();
            }
            deal.version = stored.version;
            // The highest stage reached: the new stage's index, or every stage once won.
            let reached = if change.status == Some("won") {
                stages
                    .get(&deal.pipeline_id)
                    .and_then(|s| s.values().max().copied())
            } else {
                change
                    .stage_id
                    .and_then(|stage| stages.get(&deal.pipeline_id)?.get(&stage).copied())
            };
            if let Some(idx) = reached {
                deal.max_stage_idx = deal.max_stage_idx.max(idx);
            }
            // Wins and losses, with the deal's manager, source, pipeline and amount then.
            match event {
                DomainEvent::DealWon(e) => {
                    appended.wins.push((
                        deal.clone(),
                        stored.version,
                        stored.occurred_at,
                        e.amount,
                    ));
                }
                DomainEvent::DealLost(e) => appended.losses.push((
                    deal.clone(),
                    stored.version,
                    stored.occurred_at,
                    e.reason.clone(),
                )),
                _ => {}
            }
            appended.changes.push((
                deal_id,
                stored.version,
                stored.occurred_at,
                deal.pipeline_id,
                change,
            ));
            touched.push(deal_id);
        }
        let rows = touched_rows(touched, &deals);
        write_deals(tx, &rows).await?;
        write_appended(tx, &appended).await
    }

    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        sqlx::query(
            "TRUNCATE pipelines, pipeline_stages, deals, \
             deal_changes, deal_wins, deal_losses",
        )
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// The deal an event is about, if it is a deal event.
fn deal_of(event: &DomainEvent) -> Option<Uuid> {
    change_of(event).map(|(id, _)| id)
}

/// The deal a deal event is about and the fields it sets.
fn change_of(event: &DomainEvent) -> Option<(Uuid, Change)> {
    Some(match event {
        DomainEvent::DealOpened(e) => (
            e.deal_id,
            Change {
                stage_id: Some(e.stage_id),
                amount: Some(e.amount),
                manager_id: Some(e.manager_id),
                status: Some("open"),
            },
        ),
        DomainEvent::DealStageChanged(e) => (
            e.deal_id,
            Change {
                stage_id: Some(e.to_stage_id),
                ..Change::default()
            },
        ),
        DomainEvent::DealAmountChanged(e) => (
            e.deal_id,
            Change {
                amount: Some(e.to),
                ..Change::default()
            },
        ),
        DomainEvent::DealReassigned(e) => (
            e.deal_id,
            Change {
                manager_id: Some(e.to_manager_id),
                ..Change::default()
            },
        ),
        DomainEvent::DealWon(e) => (
            e.deal_id,
            Change {
                amount: Some(e.amount),
                status: Some("won"),
                ..Change::default()
            },
        ),
        DomainEvent::DealLost(e) => (
            e.deal_id,
            Change {
                status: Some("lost"),
                ..Change::default()
            },
        ),
        DomainEvent::DealReopened(e) => (
            e.deal_id,
            Change {
                stage_id: Some(e.stage_id),
                status: Some("open"),
                ..Change::default()
            },
        ),
        _ => return None,
    })
}

/// Stores the pipelines a batch defines (rare: one statement each is fine).
async fn define_pipelines(
    tx: &mut Transaction<'_, Postgres>,
    events: &[(&RecordedEvent, &DomainEvent)],
) -> Result<(), ProjectionError> {
    for (_, event) in events {
        let DomainEvent::PipelineDefined(e) = event else {
            continue;
        };
        sqlx::query("INSERT INTO pipelines (pipeline_id, name) VALUES ($1, $2)")
            .bind(e.pipeline_id)
            .bind(&e.name)
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO pipeline_stages (pipeline_id, stage_id, name, probability, idx) \
             SELECT $1, s.stage_id, s.name, s.probability, (s.n - 1)::int \
               FROM UNNEST($2::uuid[], $3::text[], $4::float8[]) WITH ORDINALITY AS s(stage_id, name, probability, n)",
        )
        .bind(e.pipeline_id)
        .bind(e.stages.iter().map(|s| s.stage_id).collect::<Vec<_>>())
        .bind(e.stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>())
        .bind(e.stages.iter().map(|s| s.probability).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Each stage's index in its pipeline, for the pipelines of a batch's deals.
async fn stage_indexes(
    tx: &mut Transaction<'_, Postgres>,
    events: &[(&RecordedEvent, &DomainEvent)],
    deals: &HashMap<Uuid, StoredDeal>,
) -> Result<HashMap<Uuid, HashMap<Uuid, i32>>, ProjectionError> {
    let mut pipelines: Vec<Uuid> = deals.values().map(|d| d.pipeline_id).collect();
    pipelines.extend(events.iter().filter_map(|(_, e)| match e {
        DomainEvent::DealOpened(e) => Some(e.pipeline_id),
        _ => None,
    }));
    pipelines.sort_unstable();
    pipelines.dedup();
    let rows: Vec<(Uuid, Uuid, i32)> = sqlx::query_as(
        "SELECT pipeline_id, stage_id, idx FROM pipeline_stages WHERE pipeline_id = ANY($1)",
    )
    .bind(&pipelines)
    .fetch_all(&mut **tx)
    .await?;
    let mut out: HashMap<Uuid, HashMap<Uuid, i32>> = HashMap::new();
    for (pipeline, stage, idx) in rows {
        out.entry(pipeline).or_default().insert(stage, idx);
    }
    Ok(out)
}

/// Writes the deals a batch touched, in one statement.
async fn write_deals(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[&StoredDeal],
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO deals (deal_id, client_id, pipeline_id, stage_id, title, amount, manager_id, \
                source, status, expected_close_on, lead_id, opened_at, version, max_stage_idx, opened_manager_id) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::int8[], \
                $7::uuid[], $8::text[], $9::text[], $10::date[], $11::uuid[], $12::timestamptz[], \
                $13::int8[], $14::int4[], $15::uuid[]) \
         ON CONFLICT (deal_id) DO UPDATE SET stage_id = EXCLUDED.stage_id, amount = EXCLUDED.amount, \
                manager_id = EXCLUDED.manager_id, status = EXCLUDED.status, version = EXCLUDED.version, \
                max_stage_idx = EXCLUDED.max_stage_idx",
    )
    .bind(rows.iter().map(|d| d.deal_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.client_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.pipeline_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.stage_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.title.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.amount).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.manager_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.source.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.status.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.expected_close_on).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.lead_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.opened_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.version).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.max_stage_idx).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.opened_manager_id).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Appends a batch's deal changes, wins and losses, one statement per table.
async fn write_appended(
    tx: &mut Transaction<'_, Postgres>,
    appended: &Appended,
) -> Result<(), ProjectionError> {
    let changes = &appended.changes;
    if !changes.is_empty() {
        sqlx::query(
            "INSERT INTO deal_changes (deal_id, version, occurred_at, pipeline_id, stage_id, amount, \
                    manager_id, status) \
             SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::timestamptz[], $4::uuid[], $5::uuid[], \
                    $6::int8[], $7::uuid[], $8::text[])",
        )
        .bind(changes.iter().map(|c| c.0).collect::<Vec<_>>())
        .bind(changes.iter().map(|c| c.1).collect::<Vec<_>>())
        .bind(changes.iter().map(|c| c.2).collect::<Vec<_>>())
        .bind(changes.iter().map(|c| c.3).collect::<Vec<_>>())
        .bind(changes.iter().map(|c| c.4.stage_id).collect::<Vec<_>>())
        .bind(changes.iter().map(|c| c.4.amount).collect::<Vec<_>>())
        .bind(changes.iter().map(|c| c.4.manager_id).collect::<Vec<_>>())
        .bind(changes.iter().map(|c| c.4.status).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    let wins = &appended.wins;
    if !wins.is_empty() {
        sqlx::query(
            "INSERT INTO deal_wins (deal_id, version, occurred_at, amount, manager_id, source, \
                    pipeline_id, client_id) \
             SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::timestamptz[], $4::int8[], $5::uuid[], \
                    $6::text[], $7::uuid[], $8::uuid[])",
        )
        .bind(wins.iter().map(|w| w.0.deal_id).collect::<Vec<_>>())
        .bind(wins.iter().map(|w| w.1).collect::<Vec<_>>())
        .bind(wins.iter().map(|w| w.2).collect::<Vec<_>>())
        .bind(wins.iter().map(|w| w.3).collect::<Vec<_>>())
        .bind(wins.iter().map(|w| w.0.manager_id).collect::<Vec<_>>())
        .bind(wins.iter().map(|w| w.0.source.as_deref()).collect::<Vec<_>>())
        .bind(wins.iter().map(|w| w.0.pipeline_id).collect::<Vec<_>>())
        .bind(wins.iter().map(|w| w.0.client_id).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    let losses = &appended.losses;
    if !losses.is_empty() {
        sqlx::query(
            "INSERT INTO deal_losses (deal_id, version, occurred_at, reason, amount, manager_id, \
                    pipeline_id) \
             SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::timestamptz[], $4::text[], $5::int8[], \
                    $6::uuid[], $7::uuid[])",
        )
        .bind(losses.iter().map(|l| l.0.deal_id).collect::<Vec<_>>())
        .bind(losses.iter().map(|l| l.1).collect::<Vec<_>>())
        .bind(losses.iter().map(|l| l.2).collect::<Vec<_>>())
        .bind(losses.iter().map(|l| l.3.as_str()).collect::<Vec<_>>())
        .bind(losses.iter().map(|l| l.0.amount).collect::<Vec<_>>())
        .bind(losses.iter().map(|l| l.0.manager_id).collect::<Vec<_>>())
        .bind(losses.iter().map(|l| l.0.pipeline_id).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

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
    /// `open`, `won` or `lost`.
    pub status: String,
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
    /// Only `open`, `won` or `lost` ones.
    pub status: Option<String>,
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
            AND ($3::uuid[] IS NULL OR d.manager_id = ANY($3)) AND ($4::uuid IS NULL OR d.client_id = $4) \
            AND ($5::text IS NULL OR d.status = $5) AND ($6::uuid IS NULL OR d.deal_id > $6) \
          ORDER BY d.deal_id LIMIT $7",
        client_name = crate::names::client_name("$8"),
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
                  WHERE ($1::uuid IS NULL OR d.pipeline_id = $1) AND ($4::uuid IS NULL OR d.client_id = $4) \
                    AND ($6::uuid IS NULL OR d.deal_id > $6) \
                    AND ($2::uuid IS NULL OR f.stage_id = $2) AND ($3::uuid[] IS NULL OR f.manager_id = ANY($3)) \
                    AND ($5::text IS NULL OR f.status = $5) \
                  ORDER BY d.deal_id LIMIT $8) d {NAMES_FROM} \
          ORDER BY d.deal_id",
        client_name = crate::names::client_name("$9"),
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
        .bind(&filter.status)
        .bind(after)
}

/// One stage of a funnel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunnelStage {
    /// The stage.
    pub stage_id: Uuid,
    /// Its name.
    pub name: String,
    /// Open deals at it.
    pub deals: i64,
    /// Their summed current amounts (exact: `crate::total`).
    pub amount: Total,
}

/// The funnel now: open deals of `$1` (of the current manager `$2`, if given) by
/// current stage, every stage listed, in pipeline order.
const FUNNEL_NOW: &str = "SELECT s.stage_id, s.name, count(d.deal_id), coalesce(sum(d.amount), 0)::text \
       FROM projections.pipeline_stages s \
       LEFT JOIN projections.deals d ON d.pipeline_id = s.pipeline_id AND d.stage_id = s.stage_id \
                                    AND d.status = 'open' AND ($2::uuid[] IS NULL OR d.manager_id = ANY($2)) \
      WHERE s.pipeline_id = $1 \
      GROUP BY s.stage_id, s.name, s.idx ORDER BY s.idx";

/// The funnel as of `$3`: each deal's fields are, per field, the value its latest (by
/// version) change at or before `$3` set, and a deal counts once its first change
/// (version 1) occurred by then. A deal none of whose changes occurred after `$3`
/// stands then as it stands now, so only the deals changed since (`later`, from one
/// range of the changes' time index, which also tells whether their version 1 is
/// among those changes) are folded from `deal_changes`, and of those only the ones
/// opened by then; the others are read as they are now.
const FUNNEL_AS_OF: &str = "WITH later AS MATERIALIZED ( \
         SELECT c.deal_id, bool_or(c.version = 1) AS opened_after FROM projections.deal_changes c \
          WHERE c.pipeline_id = $1 AND c.occurred_at > $3 GROUP BY c.deal_id), \
     past AS ( \
         SELECT l.deal_id, f.stage_id, f.amount, f.manager_id, f.status \
           FROM later l CROSS JOIN LATERAL ( \
             SELECT (array_agg(x.stage_id ORDER BY x.version DESC) FILTER (WHERE x.stage_id IS NOT NULL))[1] AS stage_id, \
                    (array_agg(x.amount ORDER BY x.version DESC) FILTER (WHERE x.amount IS NOT NULL))[1] AS amount, \
                    (array_agg(x.manager_id ORDER BY x.version DESC) FILTER (WHERE x.manager_id IS NOT NULL))[1] AS manager_id, \
                    (array_agg(x.status ORDER BY x.version DESC) FILTER (WHERE x.status IS NOT NULL))[1] AS status \
               FROM projections.deal_changes x \
              WHERE x.deal_id = l.deal_id AND x.occurred_at <= $3 \
             HAVING bool_or(x.version = 1)) f \
          WHERE NOT l.opened_after), \
     unchanged AS ( \
         SELECT d.deal_id, d.stage_id, d.amount, d.manager_id, d.status FROM projections.deals d \
          WHERE d.pipeline_id = $1 AND d.status = 'open' \
            AND d.deal_id NOT IN (SELECT l.deal_id FROM later l)), \
     deals AS (SELECT * FROM unchanged UNION ALL SELECT * FROM past) \
     SELECT s.stage_id, s.name, count(d.deal_id), coalesce(sum(d.amount), 0)::text \
       FROM projections.pipeline_stages s \
       LEFT JOIN deals d ON d.stage_id = s.stage_id AND d.status = 'open' \
                        AND ($2::uuid[] IS NULL OR d.manager_id = ANY($2)) \
      WHERE s.pipeline_id = $1 \
      GROUP BY s.stage_id, s.name, s.idx ORDER BY s.idx";

/// Open deals of `pipeline_id` by current stage, in pipeline order, every stage
/// listed; with `as_of`, counting only events that occurred at or before it. None
/// when the pipeline is unknown.
pub async fn funnel(
    pool: &PgPool,
    pipeline_id: Uuid,
    managers: Option<&[Uuid]>,
    as_of: Option<DateTime<Utc>>,
) -> Result<Option<Vec<FunnelStage>>, ProjectionError> {
    let known: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM projections.pipelines WHERE pipeline_id = $1)",
    )
    .bind(pipeline_id)
    .fetch_one(pool)
    .await?;
    if !known {
        return Ok(None);
    }
    let rows: Vec<(Uuid, String, i64, Total)> = match as_of {
        None => {
            sqlx::query_as(FUNNEL_NOW)
                .bind(pipeline_id)
                .bind(managers)
                .fetch_all(pool)
                .await?
        }
        Some(as_of) => {
            // Planned for this time each time (how many deals changed since depends on
            // it), and without JIT: compiling costs more than this statement runs.
            let mut tx = pool.begin().await?;
            sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
            let rows = sqlx::query_as(FUNNEL_AS_OF)
                .persistent(false)
                .bind(pipeline_id)
                .bind(managers)
                .bind(as_of)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            rows
        }
    };
    Ok(Some(
        rows.into_iter()
            .map(|(stage_id, name, deals, amount)| FunnelStage {
                stage_id,
                name,
                deals,
                amount,
            })
            .collect(),
    ))
}

/// Expected sales of one month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForecastMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// Open deals expected to close in it.
    pub deals: i64,
    /// Their summed amounts (exact: `crate::total`).
    pub amount: Total,
    /// round(Σ amount × probability of the deal's stage).
    pub weighted_amount: Total,
}

/// Open deals with an expected close date, by month of that date, ascending.
pub async fn forecast(
    pool: &PgPool,
    pipeline_id: Option<Uuid>,
    managers: Option<&[Uuid]>,
) -> Result<Vec<ForecastMonth>, ProjectionError> {
    // Summed per month and stage first (one pass over the open deals' close-date
    // index), then weighted per stage: in numeric, Σ amount × p = p × Σ amount exactly,
    // and round() rounds halves away from zero.
    let rows: Vec<(String, i64, Total, Total)> = sqlx::query_as(
        "SELECT to_char(m.month, 'YYYY-MM'), sum(m.deals)::bigint, sum(m.amount)::text, \
                round(sum(m.amount * s.probability::numeric))::text \
           FROM (SELECT date_trunc('month', d.expected_close_on::timestamp) AS month, d.pipeline_id, \
                        d.stage_id, count(*) AS deals, sum(d.amount) AS amount \
                   FROM projections.deals d \
                  WHERE d.status = 'open' AND d.expected_close_on IS NOT NULL \
                    AND ($1::uuid IS NULL OR d.pipeline_id = $1) \
                    AND ($2::uuid[] IS NULL OR d.manager_id = ANY($2)) \
                  GROUP BY 1, 2, 3) m \
           JOIN projections.pipeline_stages s ON s.pipeline_id = m.pipeline_id AND s.stage_id = m.stage_id \
          GROUP BY m.month ORDER BY m.month",
    )
    // Unnamed: planned with the pipeline given or not (a generic plan keeps both).
    .persistent(false)
    .bind(pipeline_id)
    .bind(managers)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(month, deals, amount, weighted_amount)| ForecastMonth {
            month,
            deals,
            amount,
            weighted_amount,
        })
        .collect())
}

/// An open deal past its expected close date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OverdueDeal {
    /// The deal.
    pub deal_id: Uuid,
    /// Its title.
    pub title: String,
    /// The manager responsible now.
    pub manager_id: Uuid,
    /// Its current stage.
    pub stage_id: Uuid,
    /// Its current amount.
    pub amount: i64,
    /// The date it was expected to close by.
    pub expected_close_on: NaiveDate,
    /// Days from that date to `today`.
    pub days_overdue: i32,
}

/// Open deals expected to close before `today`, by that date, then id.
pub async fn overdue(
    pool: &PgPool,
    today: NaiveDate,
    managers: Option<&[Uuid]>,
) -> Result<Vec<OverdueDeal>, ProjectionError> {
    let rows = sqlx::query_as::<_, OverdueDeal>(
        "SELECT deal_id, title, manager_id, stage_id, amount, expected_close_on, \
                ($1::date - expected_close_on) AS days_overdue \
           FROM projections.deals \
          WHERE status = 'open' AND expected_close_on < $1 \
            AND ($2::uuid[] IS NULL OR manager_id = ANY($2)) \
          ORDER BY expected_close_on, deal_id",
    )
    .bind(today)
    .bind(managers)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Deals lost for one reason in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LossReason {
    /// The reason given.
    pub reason: String,
    /// DealLost events (a deal lost, reopened and lost again counts twice).
    pub deals: i64,
    /// The deals' amounts as they stood at the loss (exact: `crate::total`).
    pub amount: Total,
}

/// DealLost events that occurred in `[from, to)`, by reason, most deals first, then
/// reason; optionally of one pipeline, or of the manager responsible at the loss.
pub async fn loss_reasons(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    pipeline_id: Option<Uuid>,
    managers: Option<&[Uuid]>,
) -> Result<Vec<LossReason>, ProjectionError> {
    let rows = sqlx::query_as::<_, LossReason>(
        "SELECT reason, count(*) AS deals, sum(amount)::text AS amount FROM projections.deal_losses \
          WHERE occurred_at >= $1 AND occurred_at < $2 \
            AND ($3::uuid IS NULL OR pipeline_id = $3) AND ($4::uuid[] IS NULL OR manager_id = ANY($4)) \
          GROUP BY reason ORDER BY count(*) DESC, reason",
    )
    // Unnamed: planned for these bounds each time (a generic plan guesses a narrow period).
    .persistent(false)
    .bind(from)
    .bind(to)
    .bind(pipeline_id)
    .bind(managers)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// What revenue is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevenueBy {
    /// The manager responsible at the win.
    Manager,
    /// The deal's source.
    Source,
    /// The deal's pipeline.
    Pipeline,
    /// The deal's client.
    Client,
}

/// Revenue of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RevenueGroup {
    /// The group's key (a manager, pipeline or client id, or a source; null: no source).
    pub key: Option<String>,
    /// DealWon events.
    pub deals: i64,
    /// The amounts they recorded (exact: `crate::total`).
    pub amount: Total,
}

/// DealWon events that occurred in `[from, to)` with the amounts they recorded, by
/// `by`, largest amount first, then key.
pub async fn revenue(
    pool: &PgPool,
    by: RevenueBy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    managers: Option<&[Uuid]>,
) -> Result<Vec<RevenueGroup>, ProjectionError> {
    let key = match by {
        RevenueBy::Manager => "manager_id::text",
        RevenueBy::Source => "source",
        RevenueBy::Pipeline => "pipeline_id::text",
        RevenueBy::Client => "client_id::text",
    };
    let sql = format!(
        "SELECT {key} AS key, count(*) AS deals, sum(amount)::text AS amount FROM projections.deal_wins \
          WHERE occurred_at >= $1 AND occurred_at < $2 \
            AND ($3::uuid[] IS NULL OR manager_id = ANY($3)) \
          GROUP BY 1 ORDER BY sum(amount) DESC, 1 NULLS LAST"
    );
    // Unnamed: planned for these bounds each time (a generic plan guesses a narrow period).
    let rows = sqlx::query_as::<_, RevenueGroup>(&sql)
        .persistent(false)
        .bind(from)
        .bind(to)
        .bind(managers)
        .fetch_all(pool)
        .await?;
    Ok(rows)
}

/// How far one stage of a cohort got.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReachedStage {
    /// The stage.
    pub stage_id: Uuid,
    /// Its name.
    pub name: String,
    /// Cohort deals whose highest stage ever is this one or later.
    pub reached: i64,
}

/// A cohort's reach and outcomes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversion {
    /// Deals of the pipeline opened in the period.
    pub cohort: i64,
    /// Every stage, in pipeline order.
    pub stages: Vec<ReachedStage>,
    /// Cohort deals won now.
    pub won: i64,
    /// Cohort deals lost now.
    pub lost: i64,
    /// Cohort deals open now.
    pub open: i64,
}

/// The pipeline's deals opened in `[from, to)` (by the manager at opening, if
/// given): how many reached each stage, and their outcomes now. None when the
/// pipeline is unknown.
pub async fn conversion(
    pool: &PgPool,
    pipeline_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    managers: Option<&[Uuid]>,
) -> Result<Option<Conversion>, ProjectionError> {
    let stages: Vec<(Uuid, String, i32)> = sqlx::query_as(
        "SELECT stage_id, name, idx FROM projections.pipeline_stages WHERE pipeline_id = $1 ORDER BY idx",
    )
    .bind(pipeline_id)
    .fetch_all(pool)
    .await?;
    if stages.is_empty() {
        return Ok(None);
    }
    // The cohort counted by highest stage reached and outcome, in one pass over the
    // pipeline's opening-time index (which holds both); a stage is reached by the
    // deals whose highest stage is it or a later one.
    let counts: Vec<(i32, String, i64)> = sqlx::query_as(
        "SELECT max_stage_idx, status, count(*) FROM projections.deals \
          WHERE pipeline_id = $1 AND opened_at >= $2 AND opened_at < $3 \
            AND ($4::uuid[] IS NULL OR opened_manager_id = ANY($4)) \
          GROUP BY 1, 2",
    )
    .persistent(false)
    .bind(pipeline_id)
    .bind(from)
    .bind(to)
    .bind(managers)
    .fetch_all(pool)
    .await?;
    let outcome = |status: &str| -> i64 {
        counts
            .iter()
            .filter(|(_, s, _)| s == status)
            .map(|(_, _, n)| n)
            .sum()
    };
    let (won, lost, open) = (outcome("won"), outcome("lost"), outcome("open"));
    let cohort = counts.iter().map(|(_, _, n)| n).sum();
    let stages = stages
        .into_iter()
        .map(|(stage_id, name, idx)| ReachedStage {
            stage_id,
            name,
            reached: counts
                .iter()
                .filter(|(reached, _, _)| *reached >= idx)
                .map(|(_, _, n)| n)
                .sum(),
        })
        .collect();
    Ok(Some(Conversion {
        cohort,
        stages,
        won,
        lost,
        open,
    }))
}
