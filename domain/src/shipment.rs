//! The shipment aggregate (`shipment-<uuid>`): goods sent for a deal, recorded once.
//! A stream of its own, like an invoice's, so that a shipment is created
//! idempotently by its id; it names its deal, whose reach governs it.

use serde::Serialize;
use uuid::Uuid;

use crate::aggregate::{absent, target, Aggregate, Ref};
use crate::deal::DealState;
use crate::events::ShipmentSent;
use crate::rules::long;
use crate::{DomainError, DomainEvent};

/// A recorded shipment: exactly its event.
pub type Shipment = ShipmentSent;

/// A shipment's state; the default is "not sent".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ShipmentState {
    /// Events folded from the stream.
    pub version: i64,
    /// The shipment, once sent.
    pub shipment: Option<Shipment>,
}

/// `POST /deals/{id}/shipments`.
#[derive(Debug, Clone, PartialEq)]
pub struct SendShipment {
    /// The new shipment's id.
    pub shipment_id: Uuid,
    /// The deal it delivers (the path's): must exist, else `not_found`.
    pub deal: Ref<DealState>,
    /// The day it left.
    pub shipped_on: chrono::NaiveDate,
    /// A note.
    pub note: Option<String>,
}

/// What can be asked of a shipment.
#[derive(Debug, Clone, PartialEq)]
pub enum ShipmentCommand {
    /// `POST /deals/{id}/shipments`: `ShipmentSent`.
    Send(SendShipment),
}

/// Applies one event to a shipment's state.
pub fn evolve(mut state: ShipmentState, event: &DomainEvent) -> ShipmentState {
    if let DomainEvent::ShipmentSent(e) = event {
        if state.shipment.is_none() {
            state.shipment = Some(e.clone());
            state.version += 1;
        }
    }
    state
}

/// Folds a shipment's stream.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a DomainEvent>) -> ShipmentState {
    ShipmentState::fold(events)
}

/// Decides a shipment command.
pub fn decide(
    state: &ShipmentState,
    command: ShipmentCommand,
) -> Result<Vec<DomainEvent>, DomainError> {
    match command {
        ShipmentCommand::Send(c) => {
            absent(state)?;
            let deal_id = target(&c.deal.state, c.deal.id)?.id;
            long(c.note.as_deref(), "note")?;
            Ok(vec![DomainEvent::ShipmentSent(ShipmentSent {
                shipment_id: c.shipment_id,
                deal_id,
                shipped_on: c.shipped_on,
                note: c.note,
            })])
        }
    }
}

impl Aggregate for ShipmentState {
    const ENTITY: &'static str = "shipment";
    type Entity = Shipment;
    type Command = ShipmentCommand;

    fn entity(&self) -> Option<&Shipment> {
        self.shipment.as_ref()
    }
    fn id(&self) -> Option<Uuid> {
        self.shipment.as_ref().map(|s| s.shipment_id)
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn evolve(self, event: &DomainEvent) -> Self {
        evolve(self, event)
    }
    fn decide(&self, command: ShipmentCommand) -> Result<Vec<DomainEvent>, DomainError> {
        decide(self, command)
    }
}

#[cfg(test)]
mod tests;
