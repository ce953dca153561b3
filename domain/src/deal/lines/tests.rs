#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::deal::{DealCommand, DealState, NewLine};
use crate::events::{DealLineAdded, DealLineRemoved, DealLost, DealReopened, DealWon};
use crate::testing::*;
use crate::DomainEvent;

const LINE2: uuid::Uuid = id(82_001);

fn add(line_id: uuid::Uuid, quantity: i64, price: i64) -> DealCommand {
    DealCommand::AddLine {
        deal_id: DEAL,
        line: NewLine {
            line_id,
            product: product(PRODUCT),
            quantity,
            price,
        },
    }
}

fn added(line_id: uuid::Uuid, quantity: i64, price: i64) -> DomainEvent {
    DomainEvent::DealLineAdded(DealLineAdded {
        deal_id: DEAL,
        line_id,
        product_id: PRODUCT,
        quantity,
        price,
    })
}

fn remove(line_id: uuid::Uuid) -> DealCommand {
    DealCommand::RemoveLine {
        deal_id: DEAL,
        line_id,
    }
}

fn removed(line_id: uuid::Uuid) -> DomainEvent {
    DomainEvent::DealLineRemoved(DealLineRemoved {
        deal_id: DEAL,
        line_id,
    })
}

fn won() -> DomainEvent {
    DomainEvent::DealWon(DealWon {
        deal_id: DEAL,
        amount: 100_000,
    })
}

#[test]
fn a_line_is_added_to_an_open_deal() {
    let state = given::<DealState>([deal_opened(DEAL)])
        .when(add(LINE, 4, 1_400))
        .then(vec![added(LINE, 4, 1_400)]);
    let lines = state.deal.unwrap().lines;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].amount(), 5_600);
}

#[test]
fn a_line_is_removed_and_its_id_is_not_given_again() {
    let state = given::<DealState>([
        deal_opened(DEAL),
        added(LINE, 4, 1_400),
        added(LINE2, 1, 10),
    ])
    .when(remove(LINE))
    .then(vec![removed(LINE)]);
    let deal = state.deal.as_ref().unwrap();
    assert_eq!(
        deal.lines.iter().map(|l| l.line_id).collect::<Vec<_>>(),
        [LINE2]
    );
    given::<DealState>([deal_opened(DEAL), added(LINE, 4, 1_400), removed(LINE)])
        .when(add(LINE, 4, 1_400))
        .then_error("duplicate_line_id");
}

#[test]
fn the_same_line_again_is_a_retry_and_another_with_its_id_is_refused() {
    given::<DealState>([deal_opened(DEAL), added(LINE, 4, 1_400)])
        .when(add(LINE, 4, 1_400))
        .then(vec![]);
    given::<DealState>([deal_opened(DEAL), added(LINE, 4, 1_400)])
        .when(add(LINE, 5, 1_400))
        .then_error("duplicate_line_id");
}

#[test]
fn a_won_or_lost_deal_takes_no_line_and_loses_none_until_reopened() {
    let lost = DomainEvent::DealLost(DealLost {
        deal_id: DEAL,
        reason: "price".into(),
        comment: None,
    });
    for closed in [won(), lost] {
        given::<DealState>([deal_opened(DEAL), added(LINE, 4, 1_400), closed.clone()])
            .when(add(LINE2, 1, 10))
            .then_error("deal_closed");
        given::<DealState>([deal_opened(DEAL), added(LINE, 4, 1_400), closed.clone()])
            .when(remove(LINE))
            .then_error("deal_closed");
    }
    let reopened = DomainEvent::DealReopened(DealReopened {
        deal_id: DEAL,
        stage_id: STAGE1,
    });
    given::<DealState>([deal_opened(DEAL), added(LINE, 4, 1_400), won(), reopened])
        .when(remove(LINE))
        .then(vec![removed(LINE)]);
}

#[test]
fn the_lines_as_they_stood_at_the_win_are_the_stream_folded_up_to_it() {
    let reopened = DomainEvent::DealReopened(DealReopened {
        deal_id: DEAL,
        stage_id: STAGE1,
    });
    let history = [
        deal_opened(DEAL),
        added(LINE, 4, 1_400),
        added(LINE2, 2, 500),
        removed(LINE2),
        won(),
        reopened,
        added(LINE2.rotate(), 9, 9),
    ];
    let at_win = crate::deal::fold(&history[..5]);
    let lines = at_win.deal.unwrap().lines;
    assert_eq!(lines.iter().map(|l| l.amount()).sum::<i64>(), 5_600);
    let now = crate::deal::fold(&history);
    assert_eq!(now.deal.unwrap().lines.len(), 2);
}

trait Rotate {
    fn rotate(self) -> uuid::Uuid;
}

impl Rotate for uuid::Uuid {
    fn rotate(self) -> uuid::Uuid {
        uuid::Uuid::from_u128(self.as_u128() + 1)
    }
}

#[test]
fn an_unknown_line_an_unknown_product_or_a_bad_quantity_or_price_is_refused() {
    let open = || given::<DealState>([deal_opened(DEAL)]);
    open().when(remove(LINE)).then_error("line_not_found");
    open()
        .when(DealCommand::AddLine {
            deal_id: DEAL,
            line: NewLine {
                line_id: LINE,
                product: product(NOBODY),
                quantity: 1,
                price: 1,
            },
        })
        .then_error("reference_not_found");
    open().when(add(LINE, 0, 1)).then_error("invalid_quantity");
    open().when(add(LINE, -2, 1)).then_error("invalid_quantity");
    open().when(add(LINE, 1, -1)).then_error("negative_amount");
    open()
        .when(add(LINE, 1_000_001, 1_000_000_000_000))
        .then_error("amount_too_large");
    open()
        .when(add(LINE, i64::MAX, 2))
        .then_error("amount_too_large");
    // A free line (price 0) is a line.
    open().when(add(LINE, 1, 0)).then(vec![added(LINE, 1, 0)]);
    given::<DealState>([])
        .when(add(LINE, 1, 1))
        .then_error("not_found");
}
