//! The invoice aggregate (`invoice-<uuid>`): issued for a deal, then paid in one or
//! more payments, never above what is outstanding.
//!
//! An invoice has a stream of its own rather than living on its deal's: payments
//! are addressed by the invoice's id alone (`POST /invoices/{id}/payments`), so the
//! command loads one short stream and checks what is outstanding on it, and paying
//! an invoice never conflicts with work on the deal. Each event names the deal, so
//! the deal's reach governs the invoice (the command path loads the deal) and the
//! reports group invoices and payments by the deal's manager or client.

use chrono::NaiveDate;
use serde::Serialize;
use uuid::Uuid;

use crate::aggregate::{absent, target, Aggregate, Ref};
use crate::deal::DealState;
use crate::events::{InvoiceIssued, PaymentReceived};
use crate::rules::{amount as check_amount, at_most, non_empty, MAX_NAME_CHARS};
use crate::{codes, DomainError, DomainEvent};

/// One payment of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payment {
    /// The payment's id.
    pub payment_id: Uuid,
    /// The amount paid, minor units.
    pub amount: i64,
    /// The day it was paid.
    pub paid_on: NaiveDate,
}

/// An issued invoice with its payments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invoice {
    /// Id.
    pub id: Uuid,
    /// The deal it bills.
    pub deal_id: Uuid,
    /// Its number.
    pub number: String,
    /// Its amount, minor units.
    pub amount: i64,
    /// The day it is due.
    pub due_on: NaiveDate,
    /// Its payments, in the order received.
    pub payments: Vec<Payment>,
}

impl Invoice {
    /// What has been paid, minor units.
    pub fn paid(&self) -> i64 {
        self.payments.iter().map(|p| p.amount).sum()
    }

    /// What is still to be paid, minor units.
    pub fn outstanding(&self) -> i64 {
        self.amount - self.paid()
    }
}

/// An invoice's state; the default is "not issued".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InvoiceState {
    /// Events folded from the stream.
    pub version: i64,
    /// The invoice, once issued.
    pub invoice: Option<Invoice>,
}

/// `POST /deals/{id}/invoices`.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueInvoice {
    /// The new invoice's id.
    pub invoice_id: Uuid,
    /// The deal it bills (the path's): must exist, else `not_found`.
    pub deal: Ref<DealState>,
    /// Its number, not blank.
    pub number: String,
    /// Its amount, minor units, positive.
    pub amount: i64,
    /// The day it is due.
    pub due_on: NaiveDate,
}

/// What can be asked of an invoice.
// A command lives for one call and is moved once: boxing its create variant
// would only add noise for callers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum InvoiceCommand {
    /// `POST /deals/{id}/invoices`: `InvoiceIssued`.
    Issue(IssueInvoice),
    /// `POST /invoices/{id}/payments`: `PaymentReceived`; refused above what is
    /// outstanding (`payment_exceeds_outstanding`). The same payment id again with
    /// the same amount and day is a retry: nothing to append.
    Pay {
        /// The invoice.
        invoice_id: Uuid,
        /// The payment's id.
        payment_id: Uuid,
        /// The amount paid, minor units, positive.
        amount: i64,
        /// The day it was paid.
        paid_on: NaiveDate,
    },
}

/// Applies one event to an invoice's state.
pub fn evolve(mut state: InvoiceState, event: &DomainEvent) -> InvoiceState {
    match event {
        DomainEvent::InvoiceIssued(e) if state.invoice.is_none() => {
            state.invoice = Some(Invoice {
                id: e.invoice_id,
                deal_id: e.deal_id,
                number: e.number.clone(),
                amount: e.amount,
                due_on: e.due_on,
                payments: Vec::new(),
            });
        }
        DomainEvent::PaymentReceived(e) => match state.invoice.as_mut() {
            Some(invoice) if invoice.id == e.invoice_id => invoice.payments.push(Payment {
                payment_id: e.payment_id,
                amount: e.amount,
                paid_on: e.paid_on,
            }),
            _ => return state,
        },
        _ => return state,
    }
    state.version += 1;
    state
}

/// Folds an invoice's stream.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a DomainEvent>) -> InvoiceState {
    InvoiceState::fold(events)
}

/// Refuses zero (`zero_amount`), a negative amount and one too large.
fn positive(amount: i64, what: &str) -> Result<(), DomainError> {
    check_amount(amount)?;
    if amount == 0 {
        return Err(DomainError::rule(
            codes::ZERO_AMOUNT,
            format!("{what} must be positive"),
        ));
    }
    Ok(())
}

/// Decides an invoice command.
pub fn decide(
    state: &InvoiceState,
    command: InvoiceCommand,
) -> Result<Vec<DomainEvent>, DomainError> {
    match command {
        InvoiceCommand::Issue(c) => {
            absent(state)?;
            // The deal is the path's entity: unknown, it is a 404, not a reference.
            let deal_id = target(&c.deal.state, c.deal.id)?.id;
            non_empty(&c.number, codes::EMPTY_NUMBER, "invoice number")?;
            at_most(&c.number, MAX_NAME_CHARS, "invoice number")?;
            positive(c.amount, "an invoice's amount")?;
            Ok(vec![DomainEvent::InvoiceIssued(InvoiceIssued {
                invoice_id: c.invoice_id,
                deal_id,
                number: c.number,
                amount: c.amount,
                due_on: c.due_on,
            })])
        }
        InvoiceCommand::Pay {
            invoice_id,
            payment_id,
            amount,
            paid_on,
        } => {
            let invoice = target(state, invoice_id)?;
            positive(amount, "a payment")?;
            if let Some(earlier) = invoice.payments.iter().find(|p| p.payment_id == payment_id) {
                return if earlier.amount == amount && earlier.paid_on == paid_on {
                    Ok(vec![])
                } else {
                    Err(DomainError::rule(
                        codes::DUPLICATE_PAYMENT_ID,
                        format!("invoice {invoice_id} has a payment {payment_id} already"),
                    ))
                };
            }
            let outstanding = invoice.outstanding();
            if amount > outstanding {
                return Err(DomainError::rule(
                    codes::PAYMENT_EXCEEDS_OUTSTANDING,
                    format!(
                        "invoice {invoice_id} has {outstanding} outstanding; a payment of {amount} is more"
                    ),
                ));
            }
            Ok(vec![DomainEvent::PaymentReceived(PaymentReceived {
                invoice_id,
                deal_id: invoice.deal_id,
                payment_id,
                amount,
                paid_on,
            })])
        }
    }
}

impl Aggregate for InvoiceState {
    const ENTITY: &'static str = "invoice";
    type Entity = Invoice;
    type Command = InvoiceCommand;

    fn entity(&self) -> Option<&Invoice> {
        self.invoice.as_ref()
    }
    fn id(&self) -> Option<Uuid> {
        self.invoice.as_ref().map(|i| i.id)
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn evolve(self, event: &DomainEvent) -> Self {
        evolve(self, event)
    }
    fn decide(&self, command: InvoiceCommand) -> Result<Vec<DomainEvent>, DomainError> {
        decide(self, command)
    }
}

#[cfg(test)]
mod tests;
