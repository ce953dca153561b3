//! [`DomainEvent`]: one variant per event type of the log's specification, with its
//! type name, schema version, JSON payload and the stream it belongs to.
//! The payload structs live in [`payloads`] and are re-exported here.

use serde_json::Value;
use uuid::Uuid;

pub mod payloads;

pub use payloads::*;

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
        }
    }

    /// The stream of the entity `id` of this kind: `deal-<uuid>`.
    pub fn stream(self, id: Uuid) -> String {
        format!("{}-{}", self.name(), id)
    }

    /// Every kind.
    pub const ALL: [EntityKind; 9] = [
        EntityKind::Manager,
        EntityKind::Pipeline,
        EntityKind::Client,
        EntityKind::Lead,
        EntityKind::Deal,
        EntityKind::Interaction,
        EntityKind::Task,
        EntityKind::Projection,
        EntityKind::Export,
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
