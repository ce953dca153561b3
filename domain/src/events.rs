//! [`DomainEvent`]: one variant per event type of the log's specification, with its
//! type name, schema version, JSON payload and the stream it belongs to.
//! The payload structs live in [`payloads`] and are re-exported here.

use serde_json::Value;
use uuid::Uuid;

pub mod payloads;
pub mod sales;

pub use payloads::*;
pub use sales::*;

/// The kind of entity a stream holds; its prefix names the stream (`deal-<uuid>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    /// `manager-<uuid>`.
    Manager,
    /// `pipeline-<uuid>`.
    Pipeline,
    /// `client-<uuid>`.
    Client,
    /// `lead-<uuid>`.
    Lead,
    /// `deal-<uuid>`.
    Deal,
    /// `interaction-<uuid>`.
    Interaction,
    /// `task-<uuid>`.
    Task,
    /// `projection-<uuid>`: an analyst's custom projection definition.
    Projection,
    /// `export-<uuid>`: an export of the base, recorded.
    Export,
    /// `rule-<uuid>`: an automation rule.
    Rule,
    /// `product-<uuid>`: a product of the catalogue.
    Product,
    /// `invoice-<uuid>`: an invoice of a deal and its payments.
    Invoice,
    /// `shipment-<uuid>`: a shipment of a deal.
    Shipment,
    /// `plan-<uuid>`: a manager's plan for a month.
    Plan,
}

impl EntityKind {
    /// The entity's name, also the stream prefix: `manager`, `deal`, …
    pub fn name(self) -> &'static str {
        match self {
            EntityKind::Manager => "manager",
            EntityKind::Pipeline => "pipeline",
            EntityKind::Client => "client",
            EntityKind::Lead => "lead",
            EntityKind::Deal => "deal",
            EntityKind::Interaction => "interaction",
            EntityKind::Task => "task",
            EntityKind::Projection => "projection",
            EntityKind::Export => "export",
            EntityKind::Rule => "rule",
            EntityKind::Product => "product",
            EntityKind::Invoice => "invoice",
            EntityKind::Shipment => "shipment",
            EntityKind::Plan => "plan",
        }
    }

    /// The stream of the entity `id` of this kind: `deal-<uuid>`.
    pub fn stream(self, id: Uuid) -> String {
        format!("{}-{}", self.name(), id)
    }

    /// Every kind.
    pub const ALL: [EntityKind; 14] = [
        EntityKind::Manager,
        EntityKind::Pipeline,
        EntityKind::Client,
        EntityKind::Lead,
        EntityKind::Deal,
        EntityKind::Interaction,
        EntityKind::Task,
        EntityKind::Projection,
        EntityKind::Export,
        EntityKind::Rule,
        EntityKind::Product,
        EntityKind::Invoice,
        EntityKind::Shipment,
        EntityKind::Plan,
    ];

    /// The kind and id a stream name holds (`deal-<uuid>`); None for any other name.
    pub fn parse_stream(stream: &str) -> Option<(EntityKind, Uuid)> {
        let (prefix, id) = stream.split_once('-')?;
        let kind = EntityKind::ALL.into_iter().find(|k| k.name() == prefix)?;
        // Only the hyphenated form `stream` writes names a stream.
        let id: Uuid = id.parse().ok()?;
        (kind.stream(id) == stream).then_some((kind, id))
    }
}

macro_rules! domain_events {
    ($($name:ident),* $(,)?) => {
        /// Every fact the CRM records, one variant per event type.
        #[derive(Debug, Clone, PartialEq)]
        pub enum DomainEvent {
            $(
                #[doc = concat!("A `", stringify!($name), "` event.")]
                $name($name),
            )*
        }

        /// The type names of every event, as stored in the log's `type`.
        pub const EVENT_TYPES: &[&str] = &[$(stringify!($name)),*];

        impl DomainEvent {
            /// The event's type name, as stored in the log: `DealStageChanged`, …
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(DomainEvent::$name(_) => stringify!($name),)*
                }
            }

            /// The payload as JSON, without any tag: what the log stores in `data`.
            pub fn to_data(&self) -> Value {
                let value = match self {
                    $(DomainEvent::$name(payload) => serde_json::to_value(payload),)*
                };
                // Payloads are plain structs with string keys: serializing cannot fail.
                value.unwrap_or(Value::Null)
            }
        }

        /// Deserializes a payload already in the current shape of `event_type`.
        pub(crate) fn decode_current(
            event_type: &str,
            data: &Value,
        ) -> Option<Result<DomainEvent, serde_json::Error>> {
            use serde::Deserialize;
            match event_type {
                $(stringify!($name) => Some($name::deserialize(data).map(DomainEvent::$name)),)*
                _ => None,
            }
        }
    };
}

domain_events!(
    ManagerRegistered,
    ManagerDeactivated,
    PipelineDefined,
    ClientRegistered,
    ClientUpdated,
    ClientReassigned,
    LeadCaptured,
    LeadAssigned,
    LeadConverted,
    LeadRejected,
    DealOpened,
    DealStageChanged,
    DealAmountChanged,
    DealReassigned,
    DealWon,
    DealLost,
    DealReopened,
    InteractionLogged,
    TaskScheduled,
    TaskRescheduled,
    TaskReassigned,
    TaskCompleted,
    TaskCancelled,
    ProjectionDefined,
    ProjectionRedefined,
    ProjectionDropped,
    DataExported,
    ClientErased,
    LeadErased,
    RuleDefined,
    RuleDisabled,
    LeadSlaBreached,
    TaskReminderDue,
    ProductDefined,
    DealLineAdded,
    DealLineRemoved,
    InvoiceIssued,
    PaymentReceived,
    ShipmentSent,
    PlanSet,
    ClientMerged,
    ClientUnmerged,
);

impl DomainEvent {
    /// The schema version of the payload this code writes (1 for every type now).
    pub fn schema_version(&self) -> i32 {
        crate::codec::current_schema_version(self.event_type())
    }

    /// The entity the event belongs to: its kind and id.
    pub fn entity(&self) -> (EntityKind, Uuid) {
        use DomainEvent as E;
        use EntityKind as K;
        match self {
            E::ManagerRegistered(e) => (K::Manager, e.manager_id),
            E::ManagerDeactivated(e) => (K::Manager, e.manager_id),
            E::PipelineDefined(e) => (K::Pipeline, e.pipeline_id),
            E::ClientRegistered(e) => (K::Client, e.client_id),
            E::ClientUpdated(e) => (K::Client, e.client_id),
            E::ClientReassigned(e) => (K::Client, e.client_id),
            E::LeadCaptured(e) => (K::Lead, e.lead_id),
            E::LeadAssigned(e) => (K::Lead, e.lead_id),
            E::LeadConverted(e) => (K::Lead, e.lead_id),
            E::LeadRejected(e) => (K::Lead, e.lead_id),
            E::DealOpened(e) => (K::Deal, e.deal_id),
            E::DealStageChanged(e) => (K::Deal, e.deal_id),
            E::DealAmountChanged(e) => (K::Deal, e.deal_id),
            E::DealReassigned(e) => (K::Deal, e.deal_id),
            E::DealWon(e) => (K::Deal, e.deal_id),
            E::DealLost(e) => (K::Deal, e.deal_id),
            E::DealReopened(e) => (K::Deal, e.deal_id),
            E::InteractionLogged(e) => (K::Interaction, e.interaction_id),
            E::TaskScheduled(e) => (K::Task, e.task_id),
            E::TaskRescheduled(e) => (K::Task, e.task_id),
            E::TaskReassigned(e) => (K::Task, e.task_id),
            E::TaskCompleted(e) => (K::Task, e.task_id),
            E::TaskCancelled(e) => (K::Task, e.task_id),
            E::ProjectionDefined(e) => (K::Projection, e.projection_id),
            E::ProjectionRedefined(e) => (K::Projection, e.projection_id),
            E::ProjectionDropped(e) => (K::Projection, e.projection_id),
            E::DataExported(e) => (K::Export, e.export_id),
            E::ClientErased(e) => (K::Client, e.client_id),
            E::LeadErased(e) => (K::Lead, e.lead_id),
            E::RuleDefined(e) => (K::Rule, e.rule_id),
            E::RuleDisabled(e) => (K::Rule, e.rule_id),
            E::LeadSlaBreached(e) => (K::Lead, e.lead_id),
            E::TaskReminderDue(e) => (K::Task, e.task_id),
            E::ProductDefined(e) => (K::Product, e.product_id),
            E::DealLineAdded(e) => (K::Deal, e.deal_id),
            E::DealLineRemoved(e) => (K::Deal, e.deal_id),
            E::InvoiceIssued(e) => (K::Invoice, e.invoice_id),
            E::PaymentReceived(e) => (K::Invoice, e.invoice_id),
            E::ShipmentSent(e) => (K::Shipment, e.shipment_id),
            E::PlanSet(e) => (K::Plan, e.plan_id),
            E::ClientMerged(e) => (K::Client, e.client_id),
            E::ClientUnmerged(e) => (K::Client, e.client_id),
        }
    }

    /// The other entities the event names, besides its own (a deal's client,
    /// pipeline, manager and lead; a task's assignee, client, deal, co-executors and
    /// observers; the manager something is handed to; a rule's pipeline and definer;
    /// a line's product; an invoice's, payment's or shipment's deal; a plan's manager;
    /// a merge's survivor):
    /// whoever appends it must reach each of them. The manager something is taken from
    /// is not among them, nor the lead's manager a breach names or the assignee a
    /// reminder names: each is the entity's own state before the event.
    pub fn references(&self) -> Vec<(EntityKind, Uuid)> {
        use DomainEvent as E;
        use EntityKind as K;
        let manager = |id: Uuid| (K::Manager, id);
        let client = |id: Uuid| (K::Client, id);
        let deal = |id: Uuid| (K::Deal, id);
        let lead = |id: Uuid| (K::Lead, id);
        match self {
            E::ClientRegistered(e) => vec![manager(e.manager_id)],
            E::ClientReassigned(e) => vec![manager(e.to_manager_id)],
            E::LeadCaptured(e) => e.client_id.map(client).into_iter().collect(),
            E::LeadAssigned(e) => vec![manager(e.manager_id)],
            E::LeadConverted(e) => vec![client(e.client_id), deal(e.deal_id)],
            E::DealOpened(e) => {
                let mut named = vec![
                    client(e.client_id),
                    (K::Pipeline, e.pipeline_id),
                    manager(e.manager_id),
                ];
                named.extend(e.lead_id.map(lead));
                named
            }
            E::DealReassigned(e) => vec![manager(e.to_manager_id)],
            E::InteractionLogged(e) => {
                let mut named = vec![manager(e.manager_id)];
                named.extend(e.client_id.map(client));
                named.extend(e.deal_id.map(deal));
                named.extend(e.lead_id.map(lead));
                named
            }
            E::TaskScheduled(e) => {
                let mut named = vec![manager(e.assignee_id)];
                named.extend(e.client_id.map(client));
                named.extend(e.deal_id.map(deal));
                named.extend(e.co_executor_ids.iter().copied().map(manager));
                named.extend(e.observer_ids.iter().copied().map(manager));
                named
            }
            E::TaskReassigned(e) => vec![manager(e.to_assignee_id)],
            E::RuleDefined(e) => {
                let mut named: Vec<_> = e
                    .spec
                    .pipeline_id()
                    .map(|id| (K::Pipeline, id))
                    .into_iter()
                    .collect();
                named.extend(e.defined_by.map(manager));
                named
            }
            E::DealLineAdded(e) => vec![(K::Product, e.product_id)],
            E::InvoiceIssued(e) => vec![deal(e.deal_id)],
            E::PaymentReceived(e) => vec![deal(e.deal_id)],
            E::ShipmentSent(e) => vec![deal(e.deal_id)],
            E::PlanSet(e) => vec![manager(e.manager_id)],
            E::ClientMerged(e) => vec![client(e.into_client_id)],
            E::ManagerRegistered(_)
            | E::ManagerDeactivated(_)
            | E::PipelineDefined(_)
            | E::ClientUpdated(_)
            | E::LeadRejected(_)
            | E::DealStageChanged(_)
            | E::DealAmountChanged(_)
            | E::DealWon(_)
            | E::DealLost(_)
            | E::DealReopened(_)
            | E::TaskRescheduled(_)
            | E::TaskCompleted(_)
            | E::TaskCancelled(_)
            | E::ProjectionDefined(_)
            | E::ProjectionRedefined(_)
            | E::ProjectionDropped(_)
            | E::DataExported(_)
            | E::ClientErased(_)
            | E::LeadErased(_)
            | E::RuleDisabled(_)
            | E::LeadSlaBreached(_)
            | E::TaskReminderDue(_)
            | E::ProductDefined(_)
            | E::DealLineRemoved(_)
            | E::ClientUnmerged(_) => Vec::new(),
        }
    }

    /// The stream the event is appended to: `deal-<uuid>`, `lead-<uuid>`, …
    pub fn stream(&self) -> String {
        let (kind, id) = self.entity();
        kind.stream(id)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_event_names_the_entities_it_refers_to_and_not_the_previous_owner() {
        let [task, assignee, client, deal, helper, watcher] = [(); 6].map(|_| Uuid::new_v4());
        let scheduled = DomainEvent::TaskScheduled(TaskScheduled {
            task_id: task,
            title: "Call".into(),
            kind: "task".into(),
            assignee_id: assignee,
            due_at: chrono::DateTime::UNIX_EPOCH,
            client_id: Some(client),
            deal_id: Some(deal),
            co_executor_ids: vec![helper],
            observer_ids: vec![watcher],
        });
        assert_eq!(
            scheduled.references(),
            [
                (EntityKind::Manager, assignee),
                (EntityKind::Client, client),
                (EntityKind::Deal, deal),
                (EntityKind::Manager, helper),
                (EntityKind::Manager, watcher),
            ]
        );
        let reassigned = DomainEvent::ClientReassigned(ClientReassigned {
            client_id: client,
            from_manager_id: assignee,
            to_manager_id: helper,
        });
        assert_eq!(reassigned.references(), [(EntityKind::Manager, helper)]);
    }

    #[test]
    fn a_rule_names_its_pipeline_and_definer() {
        use crate::rule::{LeadSla, RuleSpec, TaskOnStage};
        let [rule, pipeline, stage, definer] = [(); 4].map(|_| Uuid::new_v4());
        let on_stage = DomainEvent::RuleDefined(RuleDefined {
            rule_id: rule,
            name: "Offer call".into(),
            spec: RuleSpec::TaskOnStage(TaskOnStage {
                pipeline_id: pipeline,
                stage_id: stage,
                title: "Call".into(),
                kind: None,
                due_in_hours: 1,
            }),
            defined_by: Some(definer),
        });
        assert_eq!(
            on_stage.references(),
            [
                (EntityKind::Pipeline, pipeline),
                (EntityKind::Manager, definer)
            ]
        );
        assert_eq!(on_stage.stream(), format!("rule-{rule}"));
        let sla = DomainEvent::RuleDefined(RuleDefined {
            rule_id: rule,
            name: "SLA".into(),
            spec: RuleSpec::LeadSla(LeadSla { sla_minutes: 30 }),
            defined_by: None,
        });
        assert_eq!(sla.references(), []);
    }

    #[test]
    fn a_stream_name_parses_back_into_its_kind_and_id() {
        let id = Uuid::new_v4();
        for kind in EntityKind::ALL {
            assert_eq!(EntityKind::parse_stream(&kind.stream(id)), Some((kind, id)));
        }
        for name in [
            "deal",
            "deal-",
            "deal-42",
            "order-00000000-0000-0000-0000-000000000000",
            &format!("deal-{}", id.simple()),
            &format!("deal-{}", id.to_string().to_uppercase()),
            &format!("Deal-{id}"),
        ] {
            assert_eq!(EntityKind::parse_stream(name), None, "{name}");
        }
    }
}
