//! The `sales` read model (issue 18): the catalogue, each deal's lines and the lines
//! as they stood at each win, every DealWon with the deal's client and manager then,
//! each client's first win and first interaction, invoices with their payments, and managers'
//! monthly plans; `GET /products` and the sales reports (revenue by product,
//! category, novelty and first contact; invoices; plans) read it.
//!
//! Every grouping by client resolves ids through `clients::survivor_join!`, which counts a
//! merged client's rows for its survivor (the `clients` model's `client_survivors`).

mod fold;
mod invoices;
mod plans;
mod products;
mod revenue;

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{Postgres, Transaction};

use crate::error::ProjectionError;
use crate::event::FeedEvent;
use crate::projection::Projection;

pub use invoices::{invoices, InvoiceGroup, InvoicesBy};
pub use plans::{plans, PlanActual, PlanPercent, PlanRow, PlanTargets};
pub use products::{list_products, product_names, ProductRow};
pub use revenue::{sales_revenue, SalesRevenueBy};

/// The projection's name.
pub const NAME: &str = "sales";

/// Keeps `projections.sales_products`, `sales_deals`, `sales_deal_lines`,
/// `sales_wins`, `sales_won_lines`, `sales_first_wins`, `sales_first_contacts`,
/// `sales_invoices` and `sales_plans`.
pub struct Sales;

#[async_trait]
impl Projection for Sales {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> Vec<&str> {
        vec![
            "sales_products",
            "sales_deals",
            "sales_deal_lines",
            "sales_wins",
            "sales_won_lines",
            "sales_first_wins",
            "sales_first_contacts",
            "sales_invoices",
            "sales_plans",
        ]
    }

    fn event_types(&self) -> Option<Vec<String>> {
        crate::batch::types(&[
            "ProductDefined",
            "DealOpened",
            "DealReassigned",
            "DealWon",
            "DealLineAdded",
            "DealLineRemoved",
            "InteractionLogged",
            "InvoiceIssued",
            "PaymentReceived",
            "PlanSet",
        ])
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError> {
        fold::apply(tx, events).await
    }

    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        sqlx::query(
            "TRUNCATE sales_products, sales_deals, sales_deal_lines, sales_wins, \
             sales_won_lines, sales_first_wins, sales_first_contacts, sales_invoices, \
             sales_plans",
        )
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
