//! The leads report's rollups: `lead_counts`, leads counted per received day and
//! month by source, status and manager, and `lead_counts_by_manager`, by source and
//! status per manager; moved as a batch moves its leads.

use std::collections::HashMap;

use chrono::NaiveDate;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::StoredLead;
use crate::calendar::month_of;
use crate::entity_status::LeadStatus;
use crate::error::ProjectionError;

/// Where a lead counts in the rollups: its received day and month, source, status
/// and manager.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Counted {
    day: NaiveDate,
    source: String,
    status: LeadStatus,
    manager: Option<Uuid>,
}

/// One rollup row: (span, bucket, dim, manager, key). Rows without a manager are
/// `lead_counts`' (every manager's together, dim `manager` among them, `''`: no
/// manager); rows with one are `lead_counts_by_manager`'s.
type Row<'a> = (&'static str, NaiveDate, &'static str, Option<Uuid>, &'a str);

/// A rollup row's owned key, and what a batch moves it by.
type Delta = (
    (&'static str, NaiveDate, &'static str, Option<Uuid>, String),
    i64,
);

impl Counted {
    /// Where `lead` counts.
    pub(super) fn of(lead: &StoredLead) -> Self {
        Counted {
            day: lead.received_at.date_naive(),
            source: lead.source.clone(),
            status: lead.status,
            manager: lead.manager_id,
        }
    }

    /// The rollup rows the lead counts in, with `manager` its manager's id as text.
    fn rows<'a>(&'a self, manager: &'a str) -> Vec<Row<'a>> {
        let month = month_of(self.day);
        let mut rows = Vec::with_capacity(10);
        for (span, bucket) in [("day", self.day), ("month", month)] {
            rows.push((span, bucket, "source", None, self.source.as_str()));
            rows.push((span, bucket, "status", None, self.status.as_str()));
            rows.push((span, bucket, "manager", None, manager));
            if self.manager.is_some() {
                rows.push((span, bucket, "source", self.manager, self.source.as_str()));
                rows.push((span, bucket, "status", self.manager, self.status.as_str()));
            }
        }
        rows
    }
}

/// Moves the batch's leads in the rollups: out of where they counted before it
/// (`before`, the stored leads), into where they count now; rows left at zero go.
pub(super) async fn write_counts(
    tx: &mut Transaction<'_, Postgres>,
    before: &HashMap<Uuid, Counted>,
    rows: &[&StoredLead],
) -> Result<(), ProjectionError> {
    let mut deltas: HashMap<_, i64> = HashMap::new();
    let now: Vec<Counted> = rows.iter().map(|l| Counted::of(l)).collect();
    for (lead, counted) in rows.iter().zip(&now) {
        let old = before.get(&lead.lead_id);
        if old == Some(counted) {
            continue;
        }
        let name = |c: &Counted| c.manager.map(|m| m.to_string()).unwrap_or_default();
        let (old_name, new_name) = (old.map(name).unwrap_or_default(), name(counted));
        let gone = old.iter().flat_map(|o| o.rows(&old_name));
        for ((span, bucket, dim, manager, key), n) in gone
            .map(|r| (r, -1))
            .chain(counted.rows(&new_name).into_iter().map(|r| (r, 1)))
        {
            *deltas
                .entry((span, bucket, dim, manager, key.to_owned()))
                .or_default() += n;
        }
    }
    deltas.retain(|_, n| *n != 0);
    let mut deltas: Vec<Delta> = deltas.into_iter().collect();
    deltas.sort_unstable();
    let (all, by_manager): (Vec<_>, Vec<_>) =
        deltas.iter().partition(|((.., m, _), _)| m.is_none());
    move_counts(tx, Table::All, &all).await?;
    move_counts(tx, Table::ByManager, &by_manager).await
}

/// Which rollup table rows are moved in.
#[derive(Clone, Copy)]
enum Table {
    /// `lead_counts`.
    All,
    /// `lead_counts_by_manager`.
    ByManager,
}

/// Adds `deltas` to the rows of `table` and deletes the rows they leave at zero.
async fn move_counts(
    tx: &mut Transaction<'_, Postgres>,
    table: Table,
    deltas: &[&Delta],
) -> Result<(), ProjectionError> {
    if deltas.is_empty() {
        return Ok(());
    }
    // `lead_counts` has no manager column: its rows' manager (none) is not written.
    let (table, manager, matched) = match table {
        Table::All => ("lead_counts", "", ""),
        Table::ByManager => (
            "lead_counts_by_manager",
            "manager_id, ",
            "AND c.manager_id = m.manager_id ",
        ),
    };
    let spans: Vec<&str> = deltas.iter().map(|((s, ..), _)| *s).collect();
    let buckets: Vec<NaiveDate> = deltas.iter().map(|((_, b, ..), _)| *b).collect();
    let dims: Vec<&str> = deltas.iter().map(|((_, _, d, ..), _)| *d).collect();
    let managers: Vec<Option<Uuid>> = deltas.iter().map(|((.., m, _), _)| *m).collect();
    let keys: Vec<&str> = deltas.iter().map(|((.., k), _)| k.as_str()).collect();
    let moved: Vec<i64> = deltas.iter().map(|(_, n)| *n).collect();
    // The rows a move left at zero go (so a rebuild gives the same rows): the upsert
    // returns them, and only a batch that left some runs the delete.
    let zero: Vec<(String, NaiveDate, String, Option<Uuid>, String)> = sqlx::query_as(&format!(
        "WITH moved AS ( \
           INSERT INTO {table} (span, bucket, dim, {manager}key, leads) \
           SELECT span, bucket, dim, {manager}key, leads \
             FROM UNNEST($1::text[], $2::date[], $3::text[], $4::uuid[], $5::text[], $6::int8[]) \
                  AS m(span, bucket, dim, manager_id, key, leads) \
           ON CONFLICT (span, dim, {manager}bucket, key) \
           DO UPDATE SET leads = {table}.leads + EXCLUDED.leads \
           RETURNING span, bucket, dim, {manager}key, leads) \
         SELECT span, bucket, dim, {}key FROM moved WHERE leads = 0",
        if manager.is_empty() {
            "NULL::uuid, "
        } else {
            manager
        },
    ))
    .bind(&spans)
    .bind(&buckets)
    .bind(&dims)
    .bind(&managers)
    .bind(&keys)
    .bind(&moved)
    .fetch_all(&mut **tx)
    .await?;
    if !zero.is_empty() {
        sqlx::query(&format!(
            "DELETE FROM {table} c \
              USING UNNEST($1::text[], $2::date[], $3::text[], $4::uuid[], $5::text[]) \
                    AS m(span, bucket, dim, manager_id, key) \
              WHERE c.span = m.span AND c.dim = m.dim AND c.bucket = m.bucket \
                AND c.key = m.key {matched}AND c.leads = 0"
        ))
        .bind(zero.iter().map(|z| z.0.as_str()).collect::<Vec<_>>())
        .bind(zero.iter().map(|z| z.1).collect::<Vec<_>>())
        .bind(zero.iter().map(|z| z.2.as_str()).collect::<Vec<_>>())
        .bind(zero.iter().map(|z| z.3).collect::<Vec<_>>())
        .bind(zero.iter().map(|z| z.4.as_str()).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
