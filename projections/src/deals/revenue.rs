//! Revenue: the deals won in a period, with the amounts recorded, by manager, source,
//! pipeline or client.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::total::Total;

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
    // The survivor of a merged client (`crate::clients::survivor_join!`).
    let (survivors, client) = crate::clients::survivor_join!("w.client_id", "w_sv");
    let (key, join) = match by {
        RevenueBy::Manager => ("manager_id", ""),
        RevenueBy::Source => ("source", ""),
        RevenueBy::Pipeline => ("pipeline_id", ""),
        RevenueBy::Client => (client, survivors),
    };
    // Grouped by the key itself. An id's text orders byte by byte as the id does, so
    // ids are ordered below, not in SQL (a third of the statement's time for 11,000
    // clients); a source is ordered in SQL, by its collation. Summed in bigint, in
    // numeric when that overflows (`crate::total::summed`).
    let sql = |sums: crate::total::Sums| {
        let (sum, out) = (sums.agg(), sums.out());
        let order = match by {
            RevenueBy::Source => format!("ORDER BY {sum}(amount) DESC, source NULLS LAST"),
            RevenueBy::Manager | RevenueBy::Pipeline | RevenueBy::Client => String::new(),
        };
        format!(
            "SELECT ({key})::text AS key, count(*) AS deals, {sum}(amount){out} AS amount \
               FROM projections.deal_wins w {join} \
              WHERE occurred_at >= $1 AND occurred_at < $2 \
                AND ($3::uuid[] IS NULL OR manager_id = ANY($3)) \
              GROUP BY {key} {order}"
        )
    };
    let mut rows = groups_summed(pool, sql, from, to, managers).await?;
    if by != RevenueBy::Source {
        // Ids are never null.
        rows.sort_unstable_by(|a, b| b.amount.cmp(&a.amount).then_with(|| a.key.cmp(&b.key)));
    }
    Ok(rows)
}

/// Runs the revenue statement `sql` makes over the period and reach (`$1`, `$2`, `$3`)
/// with bigint sums, and again with numeric ones when a sum overflows
/// ([`crate::total::summed`]). Unnamed: planned for these bounds each time (a generic
/// plan guesses a narrow period).
pub(crate) async fn groups_summed(
    pool: &PgPool,
    sql: impl Fn(crate::total::Sums) -> String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    managers: Option<&[Uuid]>,
) -> Result<Vec<RevenueGroup>, sqlx::Error> {
    crate::total::summed(|sums| {
        let sql = sql(sums);
        async move {
            sqlx::query_as::<_, RevenueGroup>(&sql)
                .persistent(false)
                .bind(from)
                .bind(to)
                .bind(managers)
                .fetch_all(pool)
                .await
        }
    })
    .await
}
