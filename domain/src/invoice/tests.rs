#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::testing::*;

const PAYMENT2: Uuid = id(83_002);

fn issue() -> IssueInvoice {
    IssueInvoice {
        invoice_id: INVOICE,
        deal: deal(DEAL),
        number: "INV-1".into(),
        amount: 120_000,
        due_on: date(3, 15),
    }
}

fn issued() -> DomainEvent {
    DomainEvent::InvoiceIssued(InvoiceIssued {
        invoice_id: INVOICE,
        deal_id: DEAL,
        number: "INV-1".into(),
        amount: 120_000,
        due_on: date(3, 15),
    })
}

fn pay(payment_id: Uuid, amount: i64) -> InvoiceCommand {
    InvoiceCommand::Pay {
        invoice_id: INVOICE,
        payment_id,
        amount,
        paid_on: date(3, 20),
    }
}

fn paid(payment_id: Uuid, amount: i64) -> DomainEvent {
    DomainEvent::PaymentReceived(PaymentReceived {
        invoice_id: INVOICE,
        deal_id: DEAL,
        payment_id,
        amount,
        paid_on: date(3, 20),
    })
}

#[test]
fn an_invoice_is_issued_for_a_deal() {
    let state = given::<InvoiceState>([])
        .when(InvoiceCommand::Issue(issue()))
        .then(vec![issued()]);
    assert_eq!(state.invoice.unwrap().outstanding(), 120_000);
}

#[test]
fn an_invoice_for_an_unknown_deal_is_not_found_and_twice_already_exists() {
    given::<InvoiceState>([])
        .when(InvoiceCommand::Issue(IssueInvoice {
            deal: deal(NOBODY),
            ..issue()
        }))
        .then_error("not_found");
    given::<InvoiceState>([issued()])
        .when(InvoiceCommand::Issue(issue()))
        .then_error("already_exists");
}

#[test]
fn an_invoice_needs_a_number_and_a_positive_amount() {
    let refused = |command: IssueInvoice, code: &str| {
        given::<InvoiceState>([])
            .when(InvoiceCommand::Issue(command))
            .then_error(code);
    };
    refused(
        IssueInvoice {
            number: " ".into(),
            ..issue()
        },
        "empty_number",
    );
    refused(
        IssueInvoice {
            amount: 0,
            ..issue()
        },
        "zero_amount",
    );
    refused(
        IssueInvoice {
            amount: -5,
            ..issue()
        },
        "negative_amount",
    );
}

#[test]
fn payments_are_taken_up_to_what_is_outstanding_and_not_beyond() {
    let state = given::<InvoiceState>([issued()])
        .when(pay(PAYMENT, 50_000))
        .then(vec![paid(PAYMENT, 50_000)]);
    assert_eq!(state.invoice.as_ref().unwrap().outstanding(), 70_000);
    given::<InvoiceState>([issued(), paid(PAYMENT, 50_000)])
        .when(pay(PAYMENT2, 70_001))
        .then_error("payment_exceeds_outstanding");
    let state = given::<InvoiceState>([issued(), paid(PAYMENT, 50_000)])
        .when(pay(PAYMENT2, 70_000))
        .then(vec![paid(PAYMENT2, 70_000)]);
    let invoice = state.invoice.unwrap();
    assert_eq!((invoice.paid(), invoice.outstanding()), (120_000, 0));
    // A paid invoice takes nothing more.
    given::<InvoiceState>([issued(), paid(PAYMENT, 120_000)])
        .when(pay(PAYMENT2, 1))
        .then_error("payment_exceeds_outstanding");
}

#[test]
fn a_payment_is_positive_of_a_known_invoice_and_its_id_is_a_retry() {
    given::<InvoiceState>([issued()])
        .when(pay(PAYMENT, 0))
        .then_error("zero_amount");
    given::<InvoiceState>([issued()])
        .when(pay(PAYMENT, -1))
        .then_error("negative_amount");
    given::<InvoiceState>([])
        .when(pay(PAYMENT, 1))
        .then_error("not_found");
    given::<InvoiceState>([issued(), paid(PAYMENT, 50_000)])
        .when(pay(PAYMENT, 50_000))
        .then(vec![]);
    given::<InvoiceState>([issued(), paid(PAYMENT, 50_000)])
        .when(pay(PAYMENT, 40_000))
        .then_error("duplicate_payment_id");
}
