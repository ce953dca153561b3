//! Lead conversion (`POST /leads/{id}/convert`): the lead becomes a deal, of an
//! existing client or of a client registered from the lead.
//!
//! The events span three streams; append them together (`append_multi`), each to
//! its [`DomainEvent::stream`], the new deal's and client's with "no stream"
//! expected: the domain cannot see those streams, so that expectation is what
//! refuses an id that exists already.

use chrono::NaiveDate;
use uuid::Uuid;

use crate::aggregate::{implied, target, Ref};
use crate::client::ClientState;
use crate::deal::{opened, NewDeal};
use crate::events::{ClientRegistered, LeadConverted};
use crate::lead::LeadState;
use crate::manager::ManagerState;
use crate::pipeline::PipelineState;
use crate::rules::inactive;
use crate::values::{ClientKind, Contact};
use crate::{codes, DomainError, DomainEvent};

/// The command: the lead, which client, and the deal to open.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertLead {
    /// The lead.
    pub lead_id: Uuid,
    /// The client named by the request: must exist. Without it, the lead's own
    /// `client_id` is used, and without that a client is registered.
    pub client: Option<Ref<ClientState>>,
    /// The id of the client registered when there is none.
    pub new_client_id: Uuid,
    /// The kind of the client registered when there is none (the API's choice).
    pub new_client_kind: ClientKind,
    /// The lead's manager, folded by the caller: must be active. The deal (and a
    /// new client) take him.
    pub manager: ManagerState,
    /// The new deal's id.
    pub deal_id: Uuid,
    /// The deal's pipeline: must exist.
    pub pipeline: Ref<PipelineState>,
    /// The deal's stage; default: the pipeline's first.
    pub stage_id: Option<Uuid>,
    /// The deal's title, not blank.
    pub title: String,
    /// The deal's amount, not negative.
    pub amount: i64,
    /// The deal's expected close date.
    pub expected_close_on: Option<NaiveDate>,
}

/// The events of a conversion, in causal order: `ClientRegistered` (when a client
/// is registered), `DealOpened` (with the lead's manager, source and id),
/// `LeadConverted`.
pub fn convert(lead: &LeadState, c: ConvertLead) -> Result<Vec<DomainEvent>, DomainError> {
    let lead = target(lead, c.lead_id)?;
    lead.require_open()?;
    let Some(manager_id) = lead.manager_id else {
        return Err(DomainError::rule(
            codes::LEAD_UNASSIGNED,
            format!("lead {} has no manager; assign one first", lead.id),
        ));
    };
    let manager = implied(&c.manager, manager_id)?;
    if !manager.active {
        return Err(inactive(manager));
    }
    let pipeline = c.pipeline.get()?;
    let mut events = Vec::with_capacity(3);
    let client_id = match (&c.client, lead.client_id) {
        (Some(client), _) => client.get()?.id,
        (None, Some(client_id)) => client_id,
        (None, None) if lead.erased => {
            return Err(DomainError::rule(
                codes::SUBJECT_ERASED,
                format!(
                    "the personal data of lead {} was erased: no client can be registered from it; name an existing client",
                    lead.id
                ),
            ));
        }
        (None, None) => {
            events.push(DomainEvent::ClientRegistered(ClientRegistered {
                client_id: c.new_client_id,
                name: lead.name.clone(),
                kind: c.new_client_kind,
                size: None,
                industry: None,
                region: None,
                source: Some(lead.source.clone()),
                manager_id,
                contacts: vec![Contact {
                    name: lead.name.clone(),
                    phone: lead.phone.clone(),
                    email: lead.email.clone(),
                }],
            }));
            c.new_client_id
        }
    };
    let deal = opened(NewDeal {
        deal_id: c.deal_id,
        client_id,
        pipeline,
        stage_id: c.stage_id,
        title: c.title,
        amount: c.amount,
        manager_id,
        source: Some(lead.source.clone()),
        expected_close_on: c.expected_close_on,
        lead_id: Some(lead.id),
    })?;
    events.push(DomainEvent::DealOpened(deal));
    events.push(DomainEvent::LeadConverted(LeadConverted {
        lead_id: lead.id,
        client_id,
        deal_id: c.deal_id,
    }));
    Ok(events)
}

#[cfg(test)]
mod tests;
