#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::testing::*;

fn send() -> SendShipment {
    SendShipment {
        shipment_id: SHIPMENT,
        deal: deal(DEAL),
        shipped_on: date(3, 12),
        note: Some("waybill 7731".into()),
    }
}

fn sent() -> DomainEvent {
    DomainEvent::ShipmentSent(ShipmentSent {
        shipment_id: SHIPMENT,
        deal_id: DEAL,
        shipped_on: date(3, 12),
        note: Some("waybill 7731".into()),
    })
}

#[test]
fn a_shipment_is_sent_for_a_deal_once() {
    let state = given::<ShipmentState>([])
        .when(ShipmentCommand::Send(send()))
        .then(vec![sent()]);
    assert_eq!(state.shipment.unwrap().deal_id, DEAL);
    given::<ShipmentState>([sent()])
        .when(ShipmentCommand::Send(send()))
        .then_error("already_exists");
}

#[test]
fn a_shipment_of_an_unknown_deal_is_not_found_and_its_note_is_bounded() {
    given::<ShipmentState>([])
        .when(ShipmentCommand::Send(SendShipment {
            deal: deal(NOBODY),
            ..send()
        }))
        .then_error("not_found");
    given::<ShipmentState>([])
        .when(ShipmentCommand::Send(SendShipment {
            note: Some("x".repeat(10_001)),
            ..send()
        }))
        .then_error("text_too_long");
}
