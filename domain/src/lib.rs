//! The CRM's domain: its events, commands and aggregates (Manager, Pipeline, Client,
//! Lead, Deal, Task, Interaction) as pure `decide`/`evolve` functions over plain data,
//! with the domain's errors.
//!
//! This crate does no IO, nothing async and reads no clock: every time it records
//! comes from the command. It is tested with given-events, when-command,
//! then-events-or-error cases and no database.
//!
//! The modules:
//! - [`values`]: small value types (roles, kinds, directions, contacts, stages).
//! - [`events`]: every event payload of the log's specification and [`DomainEvent`],
//!   with its type name, schema version, stream and JSON payload.
//! - [`codec`]: decoding stored events, with the per-type upcasting hook.
//! - [`error`]: [`DomainError`], the refusal of a command, with its stable code.
//! - [`codes`]: the stable rule codes, as constants.
//! - [`aggregate`]: the [`Aggregate`] trait every state implements, and [`Ref`], the
//!   way a command carries another entity's folded state.
//! - one module per aggregate: [`manager`], [`pipeline`], [`client`], [`lead`],
//!   [`deal`], [`task`], [`interaction`]: its state, `evolve`, `fold`, commands
//!   and `decide`.
//! - [`handover`]: a manager's book handed to another manager.
//! - [`conversion`]: a lead converted into a deal (and a client).
//! - [`personal`]: which payload values are personal data and whose (encrypted by
//!   the writers, erased with `ClientErased`/`LeadErased`).
//! - [`custom_projection`]: an analyst's projection definition, defined, redefined
//!   and dropped through the log.
//! - [`export`]: an export of the base, recorded as a fact of the log.
//! - [`rule`]: an automation rule (its kind and params), defined and disabled.
//! - [`automation`]: what each kind of rule does, as pure reactions to events and
//!   deadlines: the commands to run, with ids derived from the rule and the trigger.
//! - the sales department's business (issue 18): [`product`] (the catalogue),
//!   [`invoice`] (invoices and their payments), [`shipment`], [`plan`] (a manager's
//!   monthly targets); deal lines are the deal's ([`deal::lines`]), merges the
//!   client's.
//!
//! How a handler uses it: fold the target stream with the aggregate's `fold`, fold
//! every other stream the command names and put those states in the command (as
//! [`Ref`] when the command names the entity by id, as a bare state when it is
//! implied, like a deal's pipeline), call `decide`, and append the events, each to
//! [`DomainEvent::stream`], with the versions read.
//!
//! ```
//! use crm_domain::deal::{self, DealCommand};
//! use crm_domain::events::{DealOpened, PipelineDefined};
//! use crm_domain::pipeline;
//! use crm_domain::values::Stage;
//! use crm_domain::DomainEvent;
//! use uuid::Uuid;
//!
//! let (deal_id, pipeline_id, s1, s2) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
//! let stage = |stage_id, name: &str, probability| Stage { stage_id, name: name.into(), probability };
//! let pipeline_stream = [DomainEvent::PipelineDefined(PipelineDefined {
//!     pipeline_id,
//!     name: "Wholesale".into(),
//!     stages: vec![stage(s1, "Lead", 0.1), stage(s2, "Offer", 0.5)],
//! })];
//! let deal_stream = [DomainEvent::DealOpened(DealOpened {
//!     deal_id, client_id: Uuid::new_v4(), pipeline_id, stage_id: s1, title: "Pallets".into(),
//!     amount: 100_000, manager_id: Uuid::new_v4(), source: None, expected_close_on: None,
//!     lead_id: None,
//! })];
//!
//! let state = deal::fold(&deal_stream);
//! let command = DealCommand::ChangeStage {
//!     deal_id,
//!     stage_id: s2,
//!     pipeline: pipeline::fold(&pipeline_stream),
//! };
//! let events = deal::decide(&state, command).unwrap();
//! assert_eq!(events[0].event_type(), "DealStageChanged");
//! assert_eq!(events[0].stream(), format!("deal-{deal_id}"));
//! assert_eq!(state.version, 1); // append with ExpectedVersion::Exact(1)
//!
//! let refused = deal::decide(&state, DealCommand::ChangeAmount { deal_id, amount: -1 });
//! assert_eq!(refused.unwrap_err().code(), "negative_amount");
//! ```

pub mod aggregate;
pub mod automation;
pub mod client;
pub mod codec;
pub mod codes;
pub mod conversion;
pub mod custom_projection;
pub mod deal;
pub mod error;
pub mod events;
pub mod export;
pub mod handover;
pub mod interaction;
pub mod invoice;
pub mod lead;
pub mod manager;
mod nullable;
pub mod personal;
pub mod pipeline;
pub mod plan;
pub mod product;
pub mod rule;
mod rules;
pub mod shipment;
pub mod task;
pub mod values;

/// The given/when/then harness and fixtures; other crates' tests enable it with
/// `crm-domain = { workspace = true, features = ["testing"] }`.
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use aggregate::{Aggregate, Ref};
pub use codec::DecodeError;
pub use error::DomainError;
pub use events::{DomainEvent, EntityKind};
pub use rules::{MAX_AMOUNT, MAX_DURATION_S, MAX_ITEMS, MAX_NAME_CHARS, MAX_TEXT_CHARS};
