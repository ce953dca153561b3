//! The manager KPIs report over a period `[from, to)`.
//!
//! Sums come from the monthly rollup for the period's whole UTC months, the daily
//! rollup for its other whole days, and the raw facts for the partial days at its
//! edges. Distinct clients are the interactions of the period whose previous one
//! (same manager and client) is before `from`: counted from the raw facts outside
//! the period's whole UTC dekads, and inside them from the chain links counted per
//! month (whole months) and per dekad (the other whole dekads) whose previous one's
//! dekad is before the first whole dekad, less the links whose previous one falls
//! between `from` and that dekad (they are not the first in the period).
//!
//! Merged clients (the clients read model's `client_survivors`) count as their
//! survivor: the chains are per client as the interactions name it, so for the
//! clients in a merge (merged ones and survivors) the report subtracts, per manager,
//! the distinct clients of the period's facts less their distinct survivors (for
//! interactions, and for calls). Merges are few: that reads only their facts.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::{MEASURES, TOTALS};
use crate::calendar::{dekad_of, month_of, next_dekad, next_month, whole};
use crate::error::ProjectionError;
use crate::total::Total;

/// Which managers the report lists.
#[derive(Debug, Clone, Default)]
pub struct ManagerKpisFilter {
    /// Only these managers.
    pub managers: Option<Vec<Uuid>>,
    /// Only managers of this department.
    pub department: Option<String>,
}

/// One manager's figures over a period, as the contract defines them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManagerKpis {
    /// The manager.
    pub manager_id: Uuid,
    /// The manager's name.
    pub name: String,
    /// The manager's department.
    pub department: String,
    /// Interactions of kind `call`.
    pub calls: i64,
    /// Outbound calls.
    pub calls_outbound: i64,
    /// Inbound calls.
    pub calls_inbound: i64,
    /// The calls' summed `duration_s` (exact: `crate::total`).
    pub call_seconds: Total,
    /// Calls that carry a goal (`goal` or `goal_reached` given).
    pub calls_with_goal: i64,
    /// Calls whose `goal_reached` is true.
    pub calls_goal_reached: i64,
    /// Interactions of kind `meeting`.
    pub meetings: i64,
    /// Interactions of kind `email`.
    pub emails: i64,
    /// Interactions of kind `message`.
    pub messages: i64,
    /// Distinct clients among the manager's interactions.
    pub clients_contacted: i64,
    /// Calls with a client / distinct clients among them, 2 decimals; None when none.
    pub calls_per_client: Option<f64>,
    /// LeadAssigned to the manager.
    pub leads_assigned: i64,
    /// Leads converted while the manager's.
    pub leads_converted: i64,
    /// Leads rejected while the manager's.
    pub leads_rejected: i64,
    /// Deals opened with the manager responsible.
    pub deals_opened: i64,
    /// DealWon while the manager was responsible.
    pub deals_won: i64,
    /// DealLost while the manager was responsible (each loss counts).
    pub deals_lost: i64,
    /// The amounts those DealWon recorded (exact: `crate::total`).
    pub won_amount: Total,
    /// won / (won + lost), 4 decimals; None when both are 0.
    pub win_rate: Option<f64>,
    /// Tasks completed while assigned to the manager.
    pub tasks_completed: i64,
    /// Of those, completed after the due time then in force.
    pub tasks_completed_late: i64,
}

/// `part / whole` rounded to `decimals`; None when `whole` is 0.
fn ratio(part: i64, whole: i64, decimals: i32) -> Option<f64> {
    let scale = 10f64.powi(decimals);
    (whole != 0).then(|| (part as f64 / whole as f64 * scale).round() / scale)
}

/// Every registered manager matching `filter`, by name (then id), with the figures of
/// the events that occurred in `[from, to)`.
pub async fn manager_kpis(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    filter: &ManagerKpisFilter,
) -> Result<Vec<ManagerKpis>, ProjectionError> {
    let (day_start, day_end) = whole(from, to, |d| d, |d| d.succ_opt());
    let (month_start, month_end) = whole(from, to, month_of, next_month);
    let (dekad_start, dekad_end) = whole(from, to, dekad_of, next_dekad);
    // Whole days outside the whole months: before and after them.
    let days = if month_start < month_end {
        [day_start, month_start, month_end, day_end]
    } else {
        [day_start, day_end, day_end, day_end]
    };
    // Whole dekads outside the whole months, which they contain.
    let dekads = if month_start < month_end {
        [dekad_start, month_start, month_end, dekad_end]
    } else {
        [dekad_start, dekad_end, dekad_end, dekad_end]
    };
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(report_sql);
    // Parallel workers only add latency to a statement this small on a busy server.
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL max_parallel_workers_per_gather = 0")
        .execute(&mut *tx)
        .await?;
    // Unnamed: planned for these bounds each time (a generic plan ignores them).
    let rows = sqlx::query(sql)
        .persistent(false)
        .bind(from)
        .bind(to)
        .bind(day_start)
        .bind(day_end)
        .bind(days.map(|d| d.date_naive()))
        .bind([month_start, month_end].map(|d| d.date_naive()))
        .bind(dekad_start)
        .bind(dekad_end)
        .bind(dekads.map(|d| d.date_naive()))
        .bind(filter.managers.as_deref())
        .bind(filter.department.as_deref())
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    rows.iter().map(row_kpis).collect()
}

/// The report's statement. $1 from, $2 to; $3, $4 the whole days' span (raw facts
/// before and after it); $5 the whole days before and after the whole months, as
/// dates `[$5[1], $5[2]) ∪ [$5[3], $5[4])`; $6 the whole months' span as dates; $7,
/// $8 the whole dekads' span (raw links before and after it); $9 the whole dekads
/// before and after the whole months, as dates; $10 the managers, $11 the department.
fn report_sql() -> String {
    let columns: Vec<&str> = MEASURES.iter().map(|(c, _)| *c).collect();
    let sums: Vec<&str> = MEASURES.iter().map(|(_, s)| *s).collect();
    let totals: Vec<String> = columns.iter().map(|c| format!("sum({c}) AS {c}")).collect();
    // Counts as bigint; sums of seconds and amounts as the text of their numeric.
    let results: Vec<String> = columns
        .iter()
        .map(|c| {
            let read_as = if TOTALS.contains(c) { "text" } else { "bigint" };
            format!("coalesce(t.{c}, 0)::{read_as} AS {c}")
        })
        .collect();
    let one = "($10::uuid[] IS NULL OR manager_id = ANY($10))";
    format!(
        "WITH totals AS ( \
             SELECT manager_id, {totals} FROM ( \
                 SELECT manager_id, {columns} FROM projections.kpi_monthly \
                  WHERE month >= $6[1] AND month < $6[2] AND {one} \
                 UNION ALL \
                 SELECT manager_id, {columns} FROM projections.kpi_daily \
                  WHERE day >= $5[1] AND day < $5[2] AND {one} \
                 UNION ALL \
                 SELECT manager_id, {columns} FROM projections.kpi_daily \
                  WHERE day >= $5[3] AND day < $5[4] AND {one} \
                 UNION ALL \
                 SELECT manager_id, {sums} FROM projections.kpi_facts \
                  WHERE occurred_at >= $1 AND occurred_at < $3 AND {one} GROUP BY manager_id \
                 UNION ALL \
                 SELECT manager_id, {sums} FROM projections.kpi_facts \
                  WHERE occurred_at >= $4 AND occurred_at < $2 AND {one} GROUP BY manager_id \
             ) parts GROUP BY manager_id), \
         reach AS ( \
             SELECT manager_id, sum(clients)::bigint AS clients, \
                    sum(call_clients)::bigint AS call_clients FROM ( \
                 SELECT manager_id, count(*) FILTER (WHERE prev_contact_at < $1) AS clients, \
                        count(*) FILTER (WHERE prev_call_at < $1) AS call_clients \
                   FROM projections.kpi_facts \
                  WHERE prev_contact_at IS NOT NULL AND occurred_at >= $1 AND occurred_at < $7 \
                    AND {one} GROUP BY manager_id \
                 UNION ALL \
                 SELECT manager_id, count(*) FILTER (WHERE prev_contact_at < $1), \
                        count(*) FILTER (WHERE prev_call_at < $1) \
                   FROM projections.kpi_facts \
                  WHERE prev_contact_at IS NOT NULL AND occurred_at >= $8 AND occurred_at < $2 \
                    AND {one} GROUP BY manager_id \
                 UNION ALL \
                 SELECT manager_id, {links} FROM projections.kpi_contact_links \
                  WHERE span = 'month' AND bucket >= $6[1] AND bucket < $6[2] \
                    AND prev_dekad < $9[1] AND {one} GROUP BY manager_id \
                 UNION ALL \
                 SELECT manager_id, {links} FROM projections.kpi_contact_links \
                  WHERE span = 'dekad' AND bucket >= $9[1] AND bucket < $9[2] \
                    AND prev_dekad < $9[1] AND {one} GROUP BY manager_id \
                 UNION ALL \
                 SELECT manager_id, {links} FROM projections.kpi_contact_links \
                  WHERE span = 'dekad' AND bucket >= $9[3] AND bucket < $9[4] \
                    AND prev_dekad < $9[1] AND {one} GROUP BY manager_id \
                 UNION ALL \
                 SELECT manager_id, -count(*), 0 FROM projections.kpi_facts \
                  WHERE prev_contact_at >= $1 AND prev_contact_at < $7 \
                    AND occurred_at >= $7 AND occurred_at < $8 AND {one} GROUP BY manager_id \
                 UNION ALL \
                 SELECT manager_id, 0, -count(*) FROM projections.kpi_facts \
                  WHERE prev_call_at >= $1 AND prev_call_at < $7 \
                    AND occurred_at >= $7 AND occurred_at < $8 AND {one} GROUP BY manager_id \
                 UNION ALL \
                 SELECT f.manager_id, \
                        (count(DISTINCT g.survivor_id) - count(DISTINCT f.client_id))::bigint, \
                        (count(DISTINCT g.survivor_id) FILTER (WHERE f.kind IN {calls}) \
                         - count(DISTINCT f.client_id) FILTER (WHERE f.kind IN {calls}))::bigint \
                   FROM (SELECT client_id, survivor_id FROM projections.client_survivors \
                         UNION SELECT survivor_id, survivor_id FROM projections.client_survivors) g \
                  CROSS JOIN projections.kpi_managers mm \
                   JOIN projections.kpi_facts f ON f.manager_id = mm.manager_id \
                    AND f.client_id = g.client_id AND f.occurred_at >= $1 AND f.occurred_at < $2 \
                  WHERE ($10::uuid[] IS NULL OR mm.manager_id = ANY($10)) \
                  GROUP BY f.manager_id \
             ) links GROUP BY manager_id) \
         SELECT m.manager_id, m.name, m.department, {results}, \
                coalesce(r.clients, 0) AS clients, coalesce(r.call_clients, 0) AS call_clients \
           FROM projections.kpi_managers m \
           LEFT JOIN totals t USING (manager_id) LEFT JOIN reach r USING (manager_id) \
          WHERE ($10::uuid[] IS NULL OR m.manager_id = ANY($10)) \
            AND ($11::text IS NULL OR m.department = $11) \
          ORDER BY m.name COLLATE \"C\", m.manager_id",
        columns = columns.join(", "),
        sums = sums.join(", "),
        totals = totals.join(", "),
        results = results.join(", "),
        links = "coalesce(sum(links) FILTER (WHERE NOT calls), 0)::bigint, \
                 coalesce(sum(links) FILTER (WHERE calls), 0)::bigint",
        calls = "('call_outbound', 'call_inbound')",
    )
}

fn row_kpis(row: &sqlx::postgres::PgRow) -> Result<ManagerKpis, ProjectionError> {
    let n = |column: &str| row.try_get::<i64, _>(column);
    let (calls_outbound, calls_inbound) = (n("calls_outbound")?, n("calls_inbound")?);
    let (deals_won, deals_lost) = (n("deals_won")?, n("deals_lost")?);
    Ok(ManagerKpis {
        manager_id: row.try_get("manager_id")?,
        name: row.try_get("name")?,
        department: row.try_get("department")?,
        calls: calls_outbound + calls_inbound,
        calls_outbound,
        calls_inbound,
        call_seconds: row.try_get("call_seconds")?,
        calls_with_goal: n("calls_with_goal")?,
        calls_goal_reached: n("calls_goal_reached")?,
        meetings: n("meetings")?,
        emails: n("emails")?,
        messages: n("messages")?,
        clients_contacted: n("clients")?,
        calls_per_client: ratio(n("calls_with_client")?, n("call_clients")?, 2),
        leads_assigned: n("leads_assigned")?,
        leads_converted: n("leads_converted")?,
        leads_rejected: n("leads_rejected")?,
        deals_opened: n("deals_opened")?,
        deals_won,
        deals_lost,
        won_amount: row.try_get("won_amount")?,
        win_rate: ratio(deals_won, deals_won + deals_lost, 4),
        tasks_completed: n("tasks_completed")?,
        tasks_completed_late: n("tasks_completed_late")?,
    })
}
