//! The plans report: each manager's plan for a month beside what he did in it, as
//! the manager KPIs report counts it over the month.

use std::collections::BTreeMap;

use chrono::{Months, NaiveDate, NaiveTime};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::managers::{manager_kpis, ManagerKpisFilter};
use crate::total::Total;

/// The figures a plan sets targets for (null: no target for it); also each target's
/// percent done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PlanTargets {
    /// Calls.
    pub calls: Option<i64>,
    /// Meetings.
    pub meetings: Option<i64>,
    /// The calls' summed seconds.
    pub call_seconds: Option<i64>,
    /// Deals won.
    pub deals_won: Option<i64>,
    /// The amounts won.
    pub won_amount: Option<i64>,
}

/// round(100 × actual / target, 1) per target set (null: no target).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PlanPercent {
    /// Calls.
    pub calls: Option<f64>,
    /// Meetings.
    pub meetings: Option<f64>,
    /// The calls' summed seconds.
    pub call_seconds: Option<f64>,
    /// Deals won.
    pub deals_won: Option<f64>,
    /// The amounts won.
    pub won_amount: Option<f64>,
}

/// What the manager did over the month, as the manager KPIs report counts it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanActual {
    /// Calls.
    pub calls: i64,
    /// Meetings.
    pub meetings: i64,
    /// The calls' summed seconds.
    pub call_seconds: Total,
    /// DealWon while he was responsible.
    pub deals_won: i64,
    /// The amounts those DealWon recorded.
    pub won_amount: Total,
}

/// One manager's plan for the month and how far he got.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanRow {
    /// The manager.
    pub manager_id: Uuid,
    /// His name.
    pub name: String,
    /// The targets of his latest plan for the month.
    pub targets: PlanTargets,
    /// What he did over the month.
    pub actual: PlanActual,
    /// Per target set: round(100 × actual / target, 1); null for a figure without one.
    pub percent: PlanPercent,
}

/// A row of `sales_plans`.
#[derive(sqlx::FromRow)]
struct StoredPlan {
    manager_id: Uuid,
    #[sqlx(flatten)]
    targets: PlanTargets,
}

/// round(100 × actual / target, 1); None when the target is 0.
fn percent(actual: i128, target: i64) -> Option<f64> {
    (target != 0).then(|| (actual as f64 * 1000.0 / target as f64).round() / 10.0)
}

/// The managers (of `managers`, when given) with a plan for the month starting on
/// `month` (its first day), by name then id, each beside his figures over that month.
pub async fn plans(
    pool: &PgPool,
    month: NaiveDate,
    managers: Option<&[Uuid]>,
) -> Result<Vec<PlanRow>, ProjectionError> {
    let rows: Vec<StoredPlan> = sqlx::query_as(
        "SELECT manager_id, calls, meetings, call_seconds, deals_won, won_amount \
           FROM projections.sales_plans \
          WHERE month = $1 AND ($2::uuid[] IS NULL OR manager_id = ANY($2))",
    )
    .bind(month)
    .bind(managers)
    .fetch_all(pool)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let targets: BTreeMap<Uuid, PlanTargets> = rows
        .into_iter()
        .map(|r| (r.manager_id, r.targets))
        .collect();
    let start = month.and_time(NaiveTime::MIN).and_utc();
    let end = month
        .checked_add_months(Months::new(1))
        .ok_or_else(|| ProjectionError::failed(format!("no month after {month}")))?
        .and_time(NaiveTime::MIN)
        .and_utc();
    let filter = ManagerKpisFilter {
        managers: Some(targets.keys().copied().collect()),
        department: None,
    };
    // One row per registered manager, by name: the report's order.
    let kpis = manager_kpis(pool, start, end, &filter).await?;
    Ok(kpis
        .into_iter()
        .filter_map(|k| {
            let targets = targets.get(&k.manager_id)?.clone();
            let actual = PlanActual {
                calls: k.calls,
                meetings: k.meetings,
                call_seconds: k.call_seconds,
                deals_won: k.deals_won,
                won_amount: k.won_amount,
            };
            let of = |target: Option<i64>, done: i128| target.and_then(|t| percent(done, t));
            let percent = PlanPercent {
                calls: of(targets.calls, i128::from(actual.calls)),
                meetings: of(targets.meetings, i128::from(actual.meetings)),
                call_seconds: of(targets.call_seconds, actual.call_seconds.0),
                deals_won: of(targets.deals_won, i128::from(actual.deals_won)),
                won_amount: of(targets.won_amount, actual.won_amount.0),
            };
            Some(PlanRow {
                manager_id: k.manager_id,
                name: k.name,
                targets,
                actual,
                percent,
            })
        })
        .collect())
}
