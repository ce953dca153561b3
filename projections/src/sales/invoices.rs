//! The invoices report: the invoices issued in a period by manager or client, with
//! what has been paid on them, what is outstanding and what of that is overdue.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::total::Total;

/// What invoices are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoicesBy {
    /// The manager responsible for the invoice's deal when it was issued.
    Manager,
    /// The deal's client.
    Client,
}

/// The invoices of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct InvoiceGroup {
    /// The group's key: a manager's or a client's id.
    pub key: String,
    /// Invoices issued in the period.
    pub issued: i64,
    /// Their summed amounts.
    pub issued_amount: Total,
    /// What has been paid on them (every payment recorded).
    pub paid_amount: Total,
    /// What remains to be paid: issued less paid.
    pub outstanding_amount: Total,
    /// Of that, on invoices whose `due_on` is before `today`.
    pub overdue_amount: Total,
}

/// The invoices issued (InvoiceIssued's `occurred_at`) in `[from, to)` by `by`, with
/// payments as recorded now and overdue judged at `today`; largest issued amount
/// first, then key. `managers`: only invoices whose manager at issue is one of them.
pub async fn invoices(
    pool: &PgPool,
    by: InvoicesBy,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    today: NaiveDate,
    managers: Option<&[Uuid]>,
) -> Result<Vec<InvoiceGroup>, ProjectionError> {
    let (join, client) = crate::clients::survivor_join!("x.client_id", "x_sv");
    let key = match by {
        InvoicesBy::Manager => "x.manager_id",
        InvoicesBy::Client => client,
    };
    // Grouped by the id; ordered here, not in SQL (a third of the statement's time
    // for 11,000 clients): an id's text orders byte by byte as the id does.
    // Summed in bigint, in numeric when that overflows (`crate::total::summed`).
    let sql = |sums: crate::total::Sums| {
        let (sum, out) = (sums.agg(), sums.out());
        format!(
            "SELECT ({key})::text AS key, count(*) AS issued, {sum}(x.amount){out} AS issued_amount, \
                    {sum}(x.paid){out} AS paid_amount, {sum}(x.amount - x.paid){out} AS outstanding_amount, \
                    coalesce({sum}(x.amount - x.paid) FILTER (WHERE x.due_on < $3), 0){out} AS overdue_amount \
               FROM projections.sales_invoices x {join} \
              WHERE x.issued_at >= $1 AND x.issued_at < $2 \
                AND ($4::uuid[] IS NULL OR x.manager_id = ANY($4)) \
              GROUP BY {key}"
        )
    };
    let mut rows = crate::total::summed(|sums| {
        let sql = sql(sums);
        async move {
            // Unnamed: planned for these bounds each time.
            sqlx::query_as::<_, InvoiceGroup>(&sql)
                .persistent(false)
                .bind(from)
                .bind(to)
                .bind(today)
                .bind(managers)
                .fetch_all(pool)
                .await
        }
    })
    .await?;
    rows.sort_unstable_by(|a, b| {
        (b.issued_amount.cmp(&a.issued_amount)).then_with(|| a.key.cmp(&b.key))
    });
    Ok(rows)
}
