//! The payloads of the sales department's business (issue 18): the catalogue, deal
//! lines, invoices and payments, shipments, activity plans, and client merges.
//! Optional fields are left out of the JSON when absent.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::Month;

/// A product entered the catalogue (`product-<uuid>`), with its one main category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDefined {
    /// The product.
    pub product_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its main category, free text; revenue is grouped by it.
    pub category: String,
    /// Its list price, minor units (a line states its own price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<i64>,
}

/// A line (a product, a quantity, a unit price) added to an open deal (on the deal's
/// stream, so that the lines as they stood at a win are the deal's stream folded up
/// to its `DealWon`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealLineAdded {
    /// The deal.
    pub deal_id: Uuid,
    /// The line, unique within the deal's history.
    pub line_id: Uuid,
    /// The product.
    pub product_id: Uuid,
    /// How many, a positive whole number.
    pub quantity: i64,
    /// The unit price, minor units.
    pub price: i64,
}

/// A line taken off an open deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealLineRemoved {
    /// The deal.
    pub deal_id: Uuid,
    /// The line.
    pub line_id: Uuid,
}

/// An invoice issued for a deal (`invoice-<uuid>`: its payments follow on its stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceIssued {
    /// The invoice.
    pub invoice_id: Uuid,
    /// The deal it bills.
    pub deal_id: Uuid,
    /// Its number, as printed.
    pub number: String,
    /// Its amount, minor units, positive.
    pub amount: i64,
    /// The day it is due; outstanding after it, it is overdue.
    pub due_on: NaiveDate,
}

/// A payment of (part of) an invoice, on the invoice's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentReceived {
    /// The invoice.
    pub invoice_id: Uuid,
    /// The invoice's deal.
    pub deal_id: Uuid,
    /// The payment, unique within the invoice.
    pub payment_id: Uuid,
    /// The amount paid, minor units: positive, at most what was outstanding.
    pub amount: i64,
    /// The day it was paid.
    pub paid_on: NaiveDate,
}

/// Goods shipped for a deal (`shipment-<uuid>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentSent {
    /// The shipment.
    pub shipment_id: Uuid,
    /// The deal it delivers.
    pub deal_id: Uuid,
    /// The day it left.
    pub shipped_on: NaiveDate,
    /// A note (carrier, waybill…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A manager's monthly activity targets; absent ones are not planned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanTargets {
    /// Calls made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls: Option<i64>,
    /// Meetings held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meetings: Option<i64>,
    /// Seconds spent on calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_seconds: Option<i64>,
    /// Deals won.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deals_won: Option<i64>,
    /// Amount won, minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub won_amount: Option<i64>,
}

impl PlanTargets {
    /// Each target with its name, in the contract's order.
    pub fn named(&self) -> [(&'static str, Option<i64>); 5] {
        [
            ("calls", self.calls),
            ("meetings", self.meetings),
            ("call_seconds", self.call_seconds),
            ("deals_won", self.deals_won),
            ("won_amount", self.won_amount),
        ]
    }
}

/// A manager's plan for a month (`plan-<uuid>`, the id derived from manager and
/// month by `plan::plan_id`): a later one for the same month replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSet {
    /// The plan: `plan::plan_id(manager_id, month)`.
    pub plan_id: Uuid,
    /// The manager it is for.
    pub manager_id: Uuid,
    /// The month, `YYYY-MM`.
    pub month: Month,
    /// The targets.
    pub targets: PlanTargets,
}

/// A duplicate client merged into another (on the merged client's stream): its
/// deals, interactions, tasks and leads count for the survivor until unmerged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMerged {
    /// The merged client.
    pub client_id: Uuid,
    /// The survivor.
    pub into_client_id: Uuid,
}

/// A merge undone (on the merged client's stream): everything counts as before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientUnmerged {
    /// The client merged until now.
    pub client_id: Uuid,
    /// The survivor it was merged into.
    pub from_client_id: Uuid,
}
