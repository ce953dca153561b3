//! Revenue by product, category, novelty and first contact: the DealWon events of a
//! period, with the deal's lines as they stood at each win (product, category) or the
//! amount each recorded (novelty, first contact); `deals` counts distinct deals.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::deals::RevenueGroup;
use crate::error::ProjectionError;

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
    // Unqualified: the won lines' own, or the wins' (`x`; the survivors' join has none).
    let reach = "($3::uuid[] IS NULL OR manager_id = ANY($3))";
    let period = "occurred_at >= $1 AND occurred_at < $2";
    let sql = match by {
        SalesRevenueBy::Product => format!(
            "SELECT product_id::text AS key, count(DISTINCT deal_id) AS deals, \
                    sum(quantity::numeric * price)::text AS amount \
               FROM projections.sales_won_lines WHERE {period} AND {reach} \
              GROUP BY 1 ORDER BY sum(quantity::numeric * price) DESC, 1"
        ),
        SalesRevenueBy::Category => format!(
            "SELECT p.category AS key, count(DISTINCT l.deal_id) AS deals, \
                    sum(l.quantity::numeric * l.price)::text AS amount \
               FROM projections.sales_won_lines l \
               LEFT JOIN projections.sales_products p USING (product_id) \
              WHERE {period} AND {reach} \
              GROUP BY 1 ORDER BY sum(l.quantity::numeric * l.price) DESC, 1 NULLS LAST"
        ),
        SalesRevenueBy::Novelty => {
            let (join, client) = crate::clients::survivor_join!("x.client_id", "x_sv");
            format!(
                "WITH w AS (SELECT x.deal_id, x.amount, {client} AS client \
                              FROM projections.sales_wins x {join} WHERE {period} AND {reach}), \
                      firsts AS (SELECT DISTINCT ON ({client}) {client} AS client, x.deal_id \
                                   FROM projections.sales_wins x {join} \
                                  WHERE {client} IN (SELECT client FROM w) \
                                  ORDER BY {client}, x.occurred_at, x.position) \
                 SELECT CASE WHEN f.deal_id = w.deal_id THEN 'new' ELSE 'repeat' END AS key, \
                        count(DISTINCT w.deal_id) AS deals, sum(w.amount)::text AS amount \
                   FROM w JOIN firsts f USING (client) \
                  GROUP BY 1 ORDER BY sum(w.amount) DESC, 1"
            )
        }
        SalesRevenueBy::FirstContact => {
            let (join, client) = crate::clients::survivor_join!("x.client_id", "x_sv");
            let (contact_join, contact) = crate::clients::survivor_join!("c.client_id", "c_sv");
            format!(
                "WITH w AS (SELECT x.deal_id, x.amount, {client} AS client \
                              FROM projections.sales_wins x {join} WHERE {period} AND {reach}), \
                      firsts AS (SELECT DISTINCT ON ({contact}) {contact} AS client, c.direction \
                                   FROM projections.sales_first_contacts c {contact_join} \
                                  ORDER BY {contact}, c.occurred_at, c.position) \
                 SELECT coalesce(f.direction, 'unknown') AS key, \
                        count(DISTINCT w.deal_id) AS deals, sum(w.amount)::text AS amount \
                   FROM w LEFT JOIN firsts f USING (client) \
                  GROUP BY 1 ORDER BY sum(w.amount) DESC, 1"
            )
        }
    };
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
