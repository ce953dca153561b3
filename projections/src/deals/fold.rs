//! What a batch does to the deals: each deal event folded onto the deal's row in
//! memory (its stage, amount, manager, outcome and the highest stage it reached), the
//! pipelines defined, and one write per table: the rows touched, and the changes, wins
//! and losses appended with the deal as it stood at each.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::DomainEvent;
use crm_eventlog::RecordedEvent;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::batch::{decode, touched_rows};
use crate::entity_status::DealStatus;
use crate::error::ProjectionError;
use crate::event::FeedEvent;

use super::rollup::{Moves, Rollups, Standing};

/// The fields one deal event sets (None: left as it was).
#[derive(Default)]
struct Change {
    stage_id: Option<Uuid>,
    amount: Option<i64>,
    manager_id: Option<Uuid>,
    status: Option<DealStatus>,
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
    status: DealStatus,
    expected_close_on: Option<NaiveDate>,
    lead_id: Option<Uuid>,
    opened_at: DateTime<Utc>,
    version: i64,
    max_stage_idx: i32,
    opened_manager_id: Option<Uuid>,
    changed_at: Option<DateTime<Utc>>,
    irregular: bool,
}

impl StoredDeal {
    /// Where the deal counts in the funnel now.
    fn standing(&self) -> Option<Standing> {
        (self.status == DealStatus::Open).then_some(Standing {
            stage_id: self.stage_id,
            manager_id: self.manager_id,
            amount: self.amount,
        })
    }
}

/// The rows one batch appends to `deal_changes`, `deal_wins` and `deal_losses`.
#[derive(Default)]
struct Appended {
    changes: Vec<(Uuid, i64, DateTime<Utc>, Uuid, Change)>,
    wins: Vec<(StoredDeal, i64, DateTime<Utc>, i64)>,
    losses: Vec<(StoredDeal, i64, DateTime<Utc>, String)>,
}

/// Applies a batch of deal and pipeline events to the read model's tables.
pub(super) async fn apply(
    tx: &mut Transaction<'_, Postgres>,
    events: &[Arc<FeedEvent>],
    rollups: Rollups,
) -> Result<(), ProjectionError> {
    let events = decode(events)?;
    define_pipelines(tx, &events).await?;
    let ids: Vec<Uuid> = events.iter().filter_map(|(_, e)| deal_of(e)).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let mut deals: HashMap<Uuid, StoredDeal> = sqlx::query_as::<_, StoredDeal>(
        "SELECT deal_id, client_id, pipeline_id, stage_id, title, amount, manager_id, source, \
                status, expected_close_on, lead_id, opened_at, version, max_stage_idx, opened_manager_id, \
                changed_at, irregular \
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
    let mut moves = Moves::default();
    let mut touched = Vec::new();
    for (stored, event) in &events {
        let Some((deal_id, change)) = change_of(event) else {
            continue;
        };
        let opened = matches!(event, DomainEvent::DealOpened(_));
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
                    status: DealStatus::Open,
                    expected_close_on: e.expected_close_on,
                    lead_id: e.lead_id,
                    opened_at: stored.occurred_at,
                    version: stored.version,
                    max_stage_idx: 0,
                    opened_manager_id: Some(e.manager_id),
                    changed_at: None,
                    irregular: false,
                },
            );
        }
        let Some(deal) = deals.get_mut(&deal_id) else {
            continue;
        };
        let before = if opened { None } else { deal.standing() };
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
            deal.status = status;
        }
        deal.version = stored.version;
        let after = deal.standing();
        moves.record(
            deal_id,
            deal.pipeline_id,
            stored.version,
            stored.occurred_at,
            &mut deal.changed_at,
            &mut deal.irregular,
            before,
            after,
        );
        // The highest stage reached: the new stage's index, or every stage once won.
        let reached = if change.status == Some(DealStatus::Won) {
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
                appended
                    .wins
                    .push((deal.clone(), stored.version, stored.occurred_at, e.amount));
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
    moves.write(tx, rollups).await?;
    write_appended(tx, &appended).await
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
                status: Some(DealStatus::Open),
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
                status: Some(DealStatus::Won),
                ..Change::default()
            },
        ),
        DomainEvent::DealLost(e) => (
            e.deal_id,
            Change {
                status: Some(DealStatus::Lost),
                ..Change::default()
            },
        ),
        DomainEvent::DealReopened(e) => (
            e.deal_id,
            Change {
                stage_id: Some(e.stage_id),
                status: Some(DealStatus::Open),
                ..Change::default()
            },
        ),
        // A line changes none of the listed fields, but the deal's version: the
        // list's (and the deal as of a time's) version is the stream's.
        DomainEvent::DealLineAdded(e) => (e.deal_id, Change::default()),
        DomainEvent::DealLineRemoved(e) => (e.deal_id, Change::default()),
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
                source, status, expected_close_on, lead_id, opened_at, version, max_stage_idx, opened_manager_id, \
                changed_at, irregular) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::int8[], \
                $7::uuid[], $8::text[], $9::text[], $10::date[], $11::uuid[], $12::timestamptz[], \
                $13::int8[], $14::int4[], $15::uuid[], $16::timestamptz[], $17::bool[]) \
         ON CONFLICT (deal_id) DO UPDATE SET stage_id = EXCLUDED.stage_id, amount = EXCLUDED.amount, \
                manager_id = EXCLUDED.manager_id, status = EXCLUDED.status, version = EXCLUDED.version, \
                max_stage_idx = EXCLUDED.max_stage_idx, changed_at = EXCLUDED.changed_at, \
                irregular = EXCLUDED.irregular",
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
    .bind(rows.iter().map(|d| d.changed_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.irregular).collect::<Vec<_>>())
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
        .bind(changes.iter().map(|c| c.4.status.map(DealStatus::as_str)).collect::<Vec<_>>())
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
