//! Revenue by product, category, novelty and first contact: the DealWon events of a
//! period, with the deal's lines as they stood at each win (product, category) or the
//! amount each recorded (novelty, first contact); `deals` counts distinct deals.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::deals::{groups_summed, RevenueGroup};
use crate::error::ProjectionError;
use crate::total::Sums;

/// What the sales model groups revenue by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SalesRevenueBy {
    /// The product of each line at the win.
    Product,
    /// The category of that product.
    Category,
    /// `new`: the client's first won deal; `repeat`: another deal of a client who had
    /// won before.
    Novelty,
    /// `inbound`/`outbound`: the direction of the client's first interaction;
    /// `unknown` when none.
    FirstContact,
}

/// The period's DealWon events grouped by `by`, largest amount first, then key.
///
/// Product and category: each win's lines as they stood at it, `amount` = Σ quantity
/// × price (a deal won, reopened and won again counts its lines at each win, as the
/// revenue by manager counts each DealWon). Novelty and first contact: the amount
/// each DealWon recorded. `deals`: distinct deals in the group. `managers`: only wins
/// while one of them was responsible.
pub async fn sales_revenue(
    pool: &PgPool,
    by: SalesRevenueBy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    managers: Option<&[Uuid]>,
) -> Result<Vec<RevenueGroup>, ProjectionError> {
    let rows = match by {
        SalesRevenueBy::Product | SalesRevenueBy::Category => {
            by_lines(pool, by, from, to, managers).await?
        }
        SalesRevenueBy::Novelty | SalesRevenueBy::FirstContact => {
            by_client(pool, by, from, to, managers).await?
        }
    };
    Ok(rows)
}

/// The lines at each win of the period by product or category: amounts per deal first
/// (a deal counted once per group however many of its lines or wins are in it), then
/// per group.
async fn by_lines(
    pool: &PgPool,
    by: SalesRevenueBy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    managers: Option<&[Uuid]>,
) -> Result<Vec<RevenueGroup>, sqlx::Error> {
    // Grouped by the product's id (a uuid hashes faster than its text), named at the end.
    let (key, join, named) = match by {
        SalesRevenueBy::Category => (
            "p.category",
            "LEFT JOIN projections.sales_products p USING (product_id)",
            "key",
        ),
        _ => ("l.product_id", "", "key::text"),
    };
    let sql = |sums: Sums| {
        let (sum, out, line) = (sums.agg(), sums.out(), sums.times("l.quantity", "l.price"));
        format!(
            "WITH d AS (SELECT {key} AS key, l.deal_id, {sum}({line}) AS amount \
                          FROM projections.sales_won_lines l {join} \
                         WHERE l.occurred_at >= $1 AND l.occurred_at < $2 \
                           AND ($3::uuid[] IS NULL OR l.manager_id = ANY($3)) \
                         GROUP BY 1, 2), \
                  g AS (SELECT {named} AS key, count(*) AS deals, {sum}(amount) AS amount \
                          FROM d GROUP BY d.key) \
             SELECT key, deals, amount{out} AS amount \
               FROM g ORDER BY g.amount DESC, key NULLS LAST"
        )
    };
    groups_summed(pool, sql, from, to, managers).await
}

/// The period's wins by what their client's history says: whether the win is of the
/// client's first won deal (novelty) or the direction of its first interaction (first
/// contact). A merged client's history is its survivor's group's: the earliest of the
/// group's members' first wins or first interactions (`groups`: each survivor with a
/// member merged into it, and its members, itself included). Every other client's is
/// its own row, looked up by key, so a call reads the period's wins and no client's
/// whole history. A deal won twice in the period counts once in `deals`.
async fn by_client(
    pool: &PgPool,
    by: SalesRevenueBy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    managers: Option<&[Uuid]>,
) -> Result<Vec<RevenueGroup>, sqlx::Error> {
    let groups = "groups AS (SELECT survivor_id AS client, client_id AS member \
                               FROM projections.client_survivors \
                             UNION \
                             SELECT survivor_id, survivor_id FROM projections.client_survivors)";
    let survivor = "LEFT JOIN projections.client_survivors sv ON sv.client_id = x.client_id";
    // Every client who won has a first-win row, which also carries the direction of
    // its first interaction. The keys are grouped as a boolean or a short text and
    // named at the end.
    let (firsts, key, named) = match by {
        SalesRevenueBy::Novelty => (
            "group_firsts AS (SELECT DISTINCT ON (g.client) g.client, f.deal_id \
                                FROM groups g \
                                JOIN projections.sales_first_wins f ON f.client_id = g.member \
                               ORDER BY g.client, f.occurred_at, f.position)",
            "coalesce(gf.deal_id, f.deal_id) = x.deal_id",
            "CASE WHEN key THEN 'new' ELSE 'repeat' END",
        ),
        _ => (
            // Every group has a row, its direction null when no member was contacted.
            "group_firsts AS (SELECT DISTINCT ON (g.client) g.client, f.direction \
                                FROM groups g \
                                LEFT JOIN projections.sales_first_contacts f \
                                       ON f.client_id = g.member \
                               ORDER BY g.client, f.occurred_at NULLS LAST, f.position)",
            "CASE WHEN gf.client IS NULL THEN f.direction ELSE gf.direction END",
            "coalesce(key, 'unknown')",
        ),
    };
    let sql = |sums: Sums| {
        let (sum, out) = (sums.agg(), sums.out());
        format!(
            "WITH {groups}, {firsts}, \
                  w AS (SELECT {key} AS key, x.deal_id, x.amount \
                          FROM projections.sales_wins x \
                          JOIN projections.sales_first_wins f ON f.client_id = x.client_id \
                          {survivor} \
                          LEFT JOIN group_firsts gf \
                                 ON gf.client = coalesce(sv.survivor_id, x.client_id) \
                         WHERE x.occurred_at >= $1 AND x.occurred_at < $2 \
                           AND ($3::uuid[] IS NULL OR x.manager_id = ANY($3))), \
                  d AS (SELECT key, deal_id, {sum}(amount) AS amount \
                          FROM w GROUP BY key, deal_id), \
                  g AS (SELECT {named} AS key, count(*) AS deals, {sum}(amount) AS amount \
                          FROM d GROUP BY d.key) \
             SELECT key, deals, amount{out} AS amount FROM g ORDER BY g.amount DESC, key"
        )
    };
    groups_summed(pool, sql, from, to, managers).await
}
