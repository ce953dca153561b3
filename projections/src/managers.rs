//! The `manager_kpis` read model: every registered manager, who is responsible for
//! each lead, deal and task, and one fact per counted event (an interaction, a lead
//! assigned, converted or rejected, a deal opened, won or lost, a task completed) for
//! the manager it counts for, summed per day; the manager KPIs report reads it.
//!
//! Interactions count for their `manager_id`; the other facts for the manager
//! responsible when the event happened (in the entity's stream order): the lead's,
//! deal's or task's assignee then. A lead converted or rejected while it has no
//! manager counts for nobody. [`figure_positions`] lists the events behind a figure.

mod contacts;
mod department;
mod facts;
mod fold;
mod report;
mod team;
mod workload;

use std::sync::Arc;

use std::collections::{BTreeMap, HashMap};

use fold::{subject, Fact, Fold, Manager, Owner};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::copy_state::CopyStates;
use crate::error::ProjectionError;
use crate::event::FeedEvent;
use crate::projection::Projection;

pub use department::department_members;
pub use facts::{figure_positions, Figure, FIGURES};
pub use report::{manager_kpis, ManagerKpis, ManagerKpisFilter};
pub use team::{list_team, team_member, TeamFilter, TeamMember};
pub use workload::open_work;

/// The projection's name.
pub const NAME: &str = "manager_kpis";

/// Keeps `projections.kpi_managers`, `kpi_owners`, `kpi_facts`, `kpi_daily`,
/// `kpi_monthly` and `kpi_contact_links`.
pub struct ManagerKpisProjection;

/// The sums of `kpi_daily` and `kpi_monthly`, each with the aggregate over
/// `kpi_facts` rows that computes it: the rollups and the report's partial days
/// share them. Counts are `bigint`; the [`TOTALS`] `numeric` (`crate::total`).
pub(crate) const MEASURES: &[(&str, &str)] = &[
    ("calls_outbound", "count(*) FILTER (WHERE kind = 'call_outbound')"),
    ("calls_inbound", "count(*) FILTER (WHERE kind = 'call_inbound')"),
    (
        "call_seconds",
        "coalesce(sum(seconds) FILTER (WHERE kind IN ('call_outbound', 'call_inbound')), 0)",
    ),
    (
        "calls_with_client",
        "count(*) FILTER (WHERE kind IN ('call_outbound', 'call_inbound') AND client_id IS NOT NULL)",
    ),
    (
        "calls_with_goal",
        "count(*) FILTER (WHERE kind IN ('call_outbound', 'call_inbound') AND goal)",
    ),
    (
        "calls_goal_reached",
        "count(*) FILTER (WHERE kind IN ('call_outbound', 'call_inbound') AND goal_reached)",
    ),
    ("meetings", "count(*) FILTER (WHERE kind = 'meeting')"),
    ("emails", "count(*) FILTER (WHERE kind = 'email')"),
    ("messages", "count(*) FILTER (WHERE kind = 'message')"),
    ("leads_assigned", "count(*) FILTER (WHERE kind = 'lead_assigned')"),
    ("leads_converted", "count(*) FILTER (WHERE kind = 'lead_converted')"),
    ("leads_rejected", "count(*) FILTER (WHERE kind = 'lead_rejected')"),
    ("deals_opened", "count(*) FILTER (WHERE kind = 'deal_opened')"),
    ("deals_won", "count(*) FILTER (WHERE kind = 'deal_won')"),
    ("deals_lost", "count(*) FILTER (WHERE kind = 'deal_lost')"),
    (
        "won_amount",
        "coalesce(sum(amount) FILTER (WHERE kind = 'deal_won'), 0)",
    ),
    ("tasks_completed", "count(*) FILTER (WHERE kind = 'task_completed')"),
    (
        "tasks_completed_late",
        "count(*) FILTER (WHERE kind = 'task_completed' AND late)",
    ),
];

/// The [`MEASURES`] that sum seconds and amounts rather than count events: `numeric`
/// columns of the rollups, read as [`crate::Total`].
pub(crate) const TOTALS: [&str; 2] = ["call_seconds", "won_amount"];

#[async_trait]
impl Projection for ManagerKpisProjection {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> i32 {
        // 2: the team's email, active and registered_at; 3: calls with a goal.
        3
    }

    fn tables(&self) -> Vec<&str> {
        vec![
            "kpi_managers",
            "kpi_owners",
            "kpi_facts",
            "kpi_daily",
            "kpi_monthly",
            "kpi_contact_links",
        ]
    }

    fn apply_indexes(&self) -> Vec<&str> {
        // The chains of contacts per (manager, client) pair.
        vec!["kpi_facts_pair_idx"]
    }

    fn event_types(&self) -> Option<Vec<String>> {
        crate::batch::types(&[
            "ManagerRegistered",
            "ManagerDeactivated",
            "LeadAssigned",
            "LeadConverted",
            "LeadRejected",
            "DealOpened",
            "DealReassigned",
            "DealWon",
            "DealLost",
            "InteractionLogged",
            "TaskScheduled",
            "TaskRescheduled",
            "TaskReassigned",
            "TaskCompleted",
        ])
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError> {
        apply_batch(tx, events, &mut Known::incomplete()).await
    }

    /// As a live batch, but the owners and each pair's latest contact are kept in
    /// memory from one batch of the copy to the next ([`Known`]) instead of being
    /// looked up again. (Summing `kpi_daily`, `kpi_monthly` and `kpi_contact_links`
    /// once at the end instead of per batch was slower: `crm rebuild manager_kpis` at
    /// 1M events 18–22 s against 15–17 s, docs/benchmarks.md.)
    async fn apply_copy(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError> {
        let mut taken = COPIES.take(tx, NAME).await?;
        if !taken.valid {
            // A copy resumed, or filled by another process: look rows up.
            taken.state = Known::incomplete();
        }
        apply_batch(tx, events, &mut taken.state).await?;
        let known = &mut taken.state;
        if known.owners.len() > MOST_KNOWN {
            known.owners = HashMap::new();
            known.owners_complete = false;
        }
        if known.latest.len() > MOST_KNOWN {
            known.latest = HashMap::new();
            known.latest_complete = false;
        }
        COPIES.keep(taken, events.len());
        Ok(())
    }

    async fn finish_copy(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        COPIES.drop_copy(tx).await
    }

    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        sqlx::query(
            "TRUNCATE kpi_managers, kpi_owners, kpi_facts, kpi_daily, kpi_monthly, \
             kpi_contact_links",
        )
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// Applies a batch: folds it in memory, links the contacts, writes each table once.
async fn apply_batch(
    tx: &mut Transaction<'_, Postgres>,
    events: &[Arc<FeedEvent>],
    state: &mut Known,
) -> Result<(), ProjectionError> {
    let decoded = crate::batch::decode(events)?;
    let mut ids: Vec<Uuid> = decoded.iter().filter_map(|(_, e)| subject(e)).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut known = std::mem::take(&mut state.owners);
    if !state.owners_complete {
        ids.retain(|id| !known.contains_key(id));
        known.extend(load_owners(tx, &ids).await?);
    }
    let mut fold = Fold {
        owners: known,
        ..Fold::default()
    };
    for (stored, event) in &decoded {
        fold.apply(stored, event)?;
    }
    let complete = state.latest_complete;
    contacts::link(tx, &mut fold.facts, &mut state.latest, complete).await?;
    write_managers(tx, &fold.managers, &fold.deactivated).await?;
    write_owners(tx, &fold.changed).await?;
    write_facts(tx, &fold.facts).await?;
    state.owners = fold.owners;
    Ok(())
}

/// What a copy's batches keep in memory from one to the next (see
/// [`crate::copy_state`]): each lead's, deal's and task's owner, and each (manager,
/// client) pair's latest contact, as the copy's tables hold them. A live batch
/// starts from an empty one, incomplete: it looks up every owner and pair it needs.
struct Known {
    owners: HashMap<Uuid, Owner>,
    latest: HashMap<contacts::Pair, contacts::Latest>,
    /// Every owner the copy holds is in `owners` (one missing has no row).
    owners_complete: bool,
    /// Every pair with a contact in the copy is in `latest`.
    latest_complete: bool,
}

impl Default for Known {
    /// Nothing known yet, of a copy that is empty: complete.
    fn default() -> Self {
        Known {
            owners: HashMap::new(),
            latest: HashMap::new(),
            owners_complete: true,
            latest_complete: true,
        }
    }
}

impl Known {
    /// Nothing known, of tables that may hold rows: everything is looked up.
    fn incomplete() -> Self {
        Known {
            owners_complete: false,
            latest_complete: false,
            ..Known::default()
        }
    }
}

/// The most owners, and the most pairs, a copy keeps in memory (under 100 bytes
/// each): past that, the map is dropped and the batches after look up in the copy
/// what it lacks, so the memory stays bounded whatever the size of the log.
const MOST_KNOWN: usize = 1_000_000;

/// The copies of this projection being filled in this process, and what each keeps.
static COPIES: CopyStates<Known> = CopyStates::new();

async fn load_owners(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Owner>, ProjectionError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, Option<Uuid>, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT entity_id, manager_id, due_at FROM kpi_owners WHERE entity_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, manager_id, due_at)| (id, Owner { manager_id, due_at }))
        .collect())
}

/// Writes the managers a batch registered, then marks those it deactivated.
async fn write_managers(
    tx: &mut Transaction<'_, Postgres>,
    managers: &BTreeMap<Uuid, Manager>,
    deactivated: &[Uuid],
) -> Result<(), ProjectionError> {
    if !managers.is_empty() {
        let ids: Vec<Uuid> = managers.keys().copied().collect();
        let names: Vec<&str> = managers.values().map(|m| m.name.as_str()).collect();
        let departments: Vec<&str> = managers.values().map(|m| m.department.as_str()).collect();
        let roles: Vec<&str> = managers.values().map(|m| m.role.as_str()).collect();
        let emails: Vec<Option<&str>> = managers.values().map(|m| m.email.as_deref()).collect();
        let registered: Vec<DateTime<Utc>> = managers.values().map(|m| m.registered_at).collect();
        sqlx::query(
            "INSERT INTO kpi_managers (manager_id, name, department, role, email, registered_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
                                  $6::timestamptz[]) \
             ON CONFLICT (manager_id) DO UPDATE SET name = EXCLUDED.name, \
             department = EXCLUDED.department, role = EXCLUDED.role, email = EXCLUDED.email, \
             registered_at = EXCLUDED.registered_at",
        )
        .bind(ids)
        .bind(names)
        .bind(departments)
        .bind(roles)
        .bind(emails)
        .bind(registered)
        .execute(&mut **tx)
        .await?;
    }
    if !deactivated.is_empty() {
        sqlx::query("UPDATE kpi_managers SET active = false WHERE manager_id = ANY($1)")
            .bind(deactivated)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn write_owners(
    tx: &mut Transaction<'_, Postgres>,
    owners: &BTreeMap<Uuid, Owner>,
) -> Result<(), ProjectionError> {
    if owners.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = owners.keys().copied().collect();
    let managers: Vec<Option<Uuid>> = owners.values().map(|o| o.manager_id).collect();
    let dues: Vec<Option<DateTime<Utc>>> = owners.values().map(|o| o.due_at).collect();
    sqlx::query(
        "INSERT INTO kpi_owners (entity_id, manager_id, due_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[]) \
         ON CONFLICT (entity_id) DO UPDATE SET manager_id = EXCLUDED.manager_id, \
         due_at = EXCLUDED.due_at",
    )
    .bind(ids)
    .bind(managers)
    .bind(dues)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts the facts and adds them to their days and months, in one statement.
async fn write_facts(
    tx: &mut Transaction<'_, Postgres>,
    facts: &[Fact],
) -> Result<(), ProjectionError> {
    if facts.is_empty() {
        return Ok(());
    }
    let columns: Vec<&str> = MEASURES.iter().map(|(column, _)| *column).collect();
    let sums: Vec<&str> = MEASURES.iter().map(|(_, sum)| *sum).collect();
    let updates = |table: &str| {
        let sets: Vec<String> = columns
            .iter()
            .map(|c| format!("{c} = {table}.{c} + EXCLUDED.{c}"))
            .collect();
        sets.join(", ")
    };
    let sql = format!(
        "WITH f AS ( \
             INSERT INTO kpi_facts (position, manager_id, occurred_at, kind, client_id, seconds, \
                                    amount, late, prev_contact_at, prev_call_at, goal, \
                                    goal_reached) \
             SELECT u.position, u.manager_id, u.occurred_at, u.kind, u.client_id, u.seconds, \
                    u.amount, u.late, \
                    CASE WHEN u.client_id IS NOT NULL \
                         THEN coalesce(u.prev_contact_at, '-infinity') END, \
                    CASE WHEN u.client_id IS NOT NULL AND u.kind IN ('call_outbound', 'call_inbound') \
                         THEN coalesce(u.prev_call_at, '-infinity') END, \
                    u.goal, u.goal_reached \
               FROM UNNEST($1::bigint[], $2::uuid[], $3::timestamptz[], $4::text[], $5::uuid[], \
                           $6::bigint[], $7::bigint[], $8::bool[], $9::timestamptz[], \
                           $10::timestamptz[], $11::bool[], $12::bool[]) \
                    AS u(position, manager_id, occurred_at, kind, client_id, seconds, amount, late, \
                         prev_contact_at, prev_call_at, goal, goal_reached) \
             RETURNING kind, manager_id, occurred_at, client_id, seconds, amount, late, goal, \
                       goal_reached), \
         d AS ( \
             INSERT INTO kpi_daily (day, manager_id, {columns}) \
             SELECT (occurred_at AT TIME ZONE 'UTC')::date, manager_id, {sums} \
               FROM f GROUP BY 1, 2 \
             ON CONFLICT (day, manager_id) DO UPDATE SET {daily}) \
         INSERT INTO kpi_monthly (month, manager_id, {columns}) \
         SELECT date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date, manager_id, {sums} \
           FROM f GROUP BY 1, 2 \
         ON CONFLICT (month, manager_id) DO UPDATE SET {monthly}",
        columns = columns.join(", "),
        sums = sums.join(", "),
        daily = updates("kpi_daily"),
        monthly = updates("kpi_monthly"),
    );
    bind_facts(sqlx::query(&sql), facts)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Binds the facts' columns as the arrays `$1`–`$12`, in `kpi_facts`' column order.
fn bind_facts<'q>(
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    facts: &[Fact],
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(facts.iter().map(|f| f.position).collect::<Vec<_>>())
        .bind(facts.iter().map(|f| f.manager_id).collect::<Vec<_>>())
        .bind(facts.iter().map(|f| f.occurred_at).collect::<Vec<_>>())
        .bind(facts.iter().map(|f| f.kind.as_str()).collect::<Vec<_>>())
        .bind(facts.iter().map(|f| f.client_id).collect::<Vec<_>>())
        .bind(facts.iter().map(|f| f.seconds).collect::<Vec<_>>())
        .bind(facts.iter().map(|f| f.amount).collect::<Vec<_>>())
        .bind(facts.iter().map(|f| f.late).collect::<Vec<_>>())
        .bind(facts.iter().map(|f| f.prev_contact_at).collect::<Vec<_>>())
        .bind(facts.iter().map(|f| f.prev_call_at).collect::<Vec<_>>())
        .bind(facts.iter().map(|f| f.goal).collect::<Vec<_>>())
        .bind(facts.iter().map(|f| f.goal_reached).collect::<Vec<_>>())
}
