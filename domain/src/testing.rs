//! Test support: a given-events / when-command / then-events-or-error harness, and
//! fixtures (ids, events, folded references) shared by the aggregates' tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use uuid::Uuid;

use crate::client::ClientState;
use crate::deal::DealState;
use crate::events::*;
use crate::lead::LeadState;
use crate::manager::ManagerState;
use crate::pipeline::PipelineState;
use crate::values::{ClientKind, Contact, Direction, InteractionKind, Role, Stage};
use crate::{Aggregate, DomainError, DomainEvent, Ref};

/// The state folded from the given events.
pub struct Given<A> {
    state: A,
}

/// Starts a case: `given::<DealState>(events).when(command).then(events)`.
pub fn given<A: Aggregate>(events: impl IntoIterator<Item = DomainEvent>) -> Given<A> {
    let events: Vec<DomainEvent> = events.into_iter().collect();
    Given {
        state: A::fold(&events),
    }
}

impl<A: Aggregate> Given<A> {
    /// Decides the command against the folded state.
    pub fn when(self, command: A::Command) -> Then<A> {
        let result = self.state.decide(command);
        Then {
            state: self.state,
            result,
        }
    }
}

/// The outcome of a case, to be checked.
pub struct Then<A> {
    state: A,
    result: Result<Vec<DomainEvent>, DomainError>,
}

impl<A: Aggregate> Then<A> {
    /// Asserts exactly these events; returns the state they evolve into, after
    /// checking that its version grew by the number of its own events.
    #[track_caller]
    pub fn then(self, expected: Vec<DomainEvent>) -> A {
        let events = match self.result {
            Ok(events) => events,
            Err(e) => panic!("expected events, got error {}: {e}", e.code()),
        };
        assert_eq!(events, expected);
        let before = self.state.version();
        let after = events.iter().fold(self.state, A::evolve);
        let own = events
            .iter()
            .filter(|e| Some(e.entity().1) == after.id())
            .count() as i64;
        assert_eq!(after.version(), before + own, "version after the events");
        after
    }

    /// Asserts a refusal with this code.
    #[track_caller]
    pub fn then_error(self, code: &str) -> DomainError {
        match self.result {
            Err(e) => {
                assert_eq!(e.code(), code, "refused, but for another reason: {e}");
                e
            }
            Ok(events) => panic!("expected error {code}, got events {events:?}"),
        }
    }
}

/// A fixed id.
pub const fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// An active manager.
pub const MANAGER: Uuid = id(1);
/// Another active manager.
pub const OTHER_MANAGER: Uuid = id(2);
/// A deactivated manager.
pub const GONE_MANAGER: Uuid = id(3);
/// An id with no stream.
pub const NOBODY: Uuid = id(99);
/// The pipeline.
pub const PIPELINE: Uuid = id(10);
/// Its first stage.
pub const STAGE1: Uuid = id(11);
/// Its second stage.
pub const STAGE2: Uuid = id(12);
/// Its third stage.
pub const STAGE3: Uuid = id(13);
/// A stage of no pipeline.
pub const FOREIGN_STAGE: Uuid = id(19);
/// The client.
pub const CLIENT: Uuid = id(20);
/// Another client.
pub const OTHER_CLIENT: Uuid = id(21);
/// The lead.
pub const LEAD: Uuid = id(30);
/// The deal.
pub const DEAL: Uuid = id(40);
/// The task.
pub const TASK: Uuid = id(50);
/// The interaction.
pub const INTERACTION: Uuid = id(60);
/// The automation rule.
pub const RULE: Uuid = id(70);
/// The product.
pub const PRODUCT: Uuid = id(80);
/// A deal's line.
pub const LINE: Uuid = id(81);
/// The invoice.
pub const INVOICE: Uuid = id(82);
/// A payment.
pub const PAYMENT: Uuid = id(83);
/// The shipment.
pub const SHIPMENT: Uuid = id(84);

/// 2026-03-01 at `hour`:00 UTC.
pub fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, hour, 0, 0).unwrap()
}

/// A date in 2026.
pub fn date(month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, month, day).unwrap()
}

/// `ManagerRegistered` of a manager named after its id.
pub fn manager_registered(manager_id: Uuid) -> DomainEvent {
    DomainEvent::ManagerRegistered(ManagerRegistered {
        manager_id,
        name: format!("Manager {}", manager_id.as_u128()),
        email: None,
        department: "Sales".into(),
        role: Role::Manager,
    })
}

/// `ManagerDeactivated`.
pub fn manager_deactivated(manager_id: Uuid) -> DomainEvent {
    DomainEvent::ManagerDeactivated(ManagerDeactivated { manager_id })
}

/// A reference to a manager: [`GONE_MANAGER`] is deactivated, [`NOBODY`] missing.
pub fn manager(manager_id: Uuid) -> Ref<ManagerState> {
    let events = match manager_id {
        NOBODY => vec![],
        GONE_MANAGER => vec![
            manager_registered(manager_id),
            manager_deactivated(manager_id),
        ],
        _ => vec![manager_registered(manager_id)],
    };
    Ref::new(manager_id, ManagerState::fold(&events))
}

/// The three stages of [`PIPELINE`].
pub fn stages() -> Vec<Stage> {
    vec![
        Stage {
            stage_id: STAGE1,
            name: "Qualification".into(),
            probability: 0.1,
        },
        Stage {
            stage_id: STAGE2,
            name: "Proposal".into(),
            probability: 0.5,
        },
        Stage {
            stage_id: STAGE3,
            name: "Contract".into(),
            probability: 0.9,
        },
    ]
}

/// `PipelineDefined` of [`PIPELINE`].
pub fn pipeline_defined() -> DomainEvent {
    DomainEvent::PipelineDefined(PipelineDefined {
        pipeline_id: PIPELINE,
        name: "Wholesale".into(),
        stages: stages(),
    })
}

/// The folded [`PIPELINE`].
pub fn pipeline_state() -> PipelineState {
    PipelineState::fold(&[pipeline_defined()])
}

/// A reference to a pipeline: [`PIPELINE`] exists, any other id is missing.
pub fn pipeline(pipeline_id: Uuid) -> Ref<PipelineState> {
    if pipeline_id == PIPELINE {
        Ref::new(pipeline_id, pipeline_state())
    } else {
        Ref::missing(pipeline_id)
    }
}

/// `ClientRegistered` of a company managed by [`MANAGER`].
pub fn client_registered(client_id: Uuid) -> DomainEvent {
    DomainEvent::ClientRegistered(ClientRegistered {
        client_id,
        name: format!("Client {}", client_id.as_u128()),
        kind: ClientKind::Company,
        size: None,
        industry: None,
        region: None,
        source: None,
        manager_id: MANAGER,
        contacts: vec![],
    })
}

/// A reference to a client: [`NOBODY`] is missing.
pub fn client(client_id: Uuid) -> Ref<ClientState> {
    if client_id == NOBODY {
        Ref::missing(client_id)
    } else {
        Ref::new(
            client_id,
            ClientState::fold(&[client_registered(client_id)]),
        )
    }
}

/// `LeadCaptured` from the site, received at 9:00.
pub fn lead_captured(lead_id: Uuid) -> DomainEvent {
    DomainEvent::LeadCaptured(LeadCaptured {
        lead_id,
        source: "site".into(),
        channel: Some("form".into()),
        name: "Ivan Petrov".into(),
        phone: Some("+7 900 000-00-00".into()),
        email: None,
        client_id: None,
        received_at: at(9),
    })
}

/// `LeadAssigned`.
pub fn lead_assigned(lead_id: Uuid, manager_id: Uuid) -> DomainEvent {
    DomainEvent::LeadAssigned(LeadAssigned {
        lead_id,
        manager_id,
    })
}

/// A reference to a lead: [`NOBODY`] is missing.
pub fn lead(lead_id: Uuid) -> Ref<LeadState> {
    if lead_id == NOBODY {
        Ref::missing(lead_id)
    } else {
        Ref::new(lead_id, LeadState::fold(&[lead_captured(lead_id)]))
    }
}

/// `DealOpened` of a deal of [`CLIENT`] in [`PIPELINE`] at [`STAGE1`], 1000.00,
/// by [`MANAGER`].
pub fn deal_opened(deal_id: Uuid) -> DomainEvent {
    DomainEvent::DealOpened(DealOpened {
        deal_id,
        client_id: CLIENT,
        pipeline_id: PIPELINE,
        stage_id: STAGE1,
        title: "100 pallets".into(),
        amount: 100_000,
        manager_id: MANAGER,
        source: None,
        expected_close_on: None,
        lead_id: None,
    })
}

/// A reference to a deal of [`CLIENT`]: [`NOBODY`] is missing.
pub fn deal(deal_id: Uuid) -> Ref<DealState> {
    if deal_id == NOBODY {
        Ref::missing(deal_id)
    } else {
        Ref::new(deal_id, DealState::fold(&[deal_opened(deal_id)]))
    }
}

/// `ProductDefined`: a pallet of the packaging category, 15.00.
pub fn product_defined(product_id: Uuid) -> DomainEvent {
    DomainEvent::ProductDefined(ProductDefined {
        product_id,
        name: "Pallet".into(),
        category: "Packaging".into(),
        price: Some(1_500),
    })
}

/// A reference to a product: [`NOBODY`] is missing.
pub fn product(product_id: Uuid) -> Ref<crate::product::ProductState> {
    if product_id == NOBODY {
        Ref::missing(product_id)
    } else {
        Ref::new(
            product_id,
            crate::product::ProductState::fold(&[product_defined(product_id)]),
        )
    }
}

/// One event of every type, every optional field set.
pub fn every_event() -> Vec<DomainEvent> {
    use DomainEvent as E;
    vec![
        E::ManagerRegistered(ManagerRegistered {
            manager_id: MANAGER,
            name: "Anna Smirnova".into(),
            email: Some("anna@example.com".into()),
            department: "Wholesale".into(),
            role: Role::Head,
        }),
        E::ManagerDeactivated(ManagerDeactivated {
            manager_id: MANAGER,
        }),
        pipeline_defined(),
        E::ClientRegistered(ClientRegistered {
            client_id: CLIENT,
            name: "Romashka LLC".into(),
            kind: ClientKind::Company,
            size: Some("50-200".into()),
            industry: Some("food".into()),
            region: Some("Kazan".into()),
            source: Some("exhibition".into()),
            manager_id: MANAGER,
            contacts: vec![Contact {
                name: "Oleg".into(),
                phone: Some("+7 900 111-11-11".into()),
                email: Some("oleg@romashka.example".into()),
            }],
        }),
        E::ClientUpdated(ClientUpdated {
            client_id: CLIENT,
            changes: ClientChanges {
                name: Some("Romashka JSC".into()),
                kind: Some(ClientKind::Company),
                size: Some(None),
                industry: Some(Some("retail".into())),
                region: None,
                source: None,
                contacts: Some(vec![]),
            },
        }),
        E::ClientReassigned(ClientReassigned {
            client_id: CLIENT,
            from_manager_id: MANAGER,
            to_manager_id: OTHER_MANAGER,
        }),
        E::LeadCaptured(LeadCaptured {
            lead_id: LEAD,
            source: "site".into(),
            channel: Some("chat".into()),
            name: "Ivan".into(),
            phone: Some("+7 900 222-22-22".into()),
            email: Some("ivan@example.com".into()),
            client_id: Some(CLIENT),
            received_at: at(9),
        }),
        lead_assigned(LEAD, MANAGER),
        E::LeadConverted(LeadConverted {
            lead_id: LEAD,
            client_id: CLIENT,
            deal_id: DEAL,
        }),
        E::LeadRejected(LeadRejected {
            lead_id: LEAD,
            reason: "spam".into(),
        }),
        E::DealOpened(DealOpened {
            deal_id: DEAL,
            client_id: CLIENT,
            pipeline_id: PIPELINE,
            stage_id: STAGE1,
            title: "100 pallets".into(),
            amount: 100_000,
            manager_id: MANAGER,
            source: Some("site".into()),
            expected_close_on: Some(date(4, 30)),
            lead_id: Some(LEAD),
        }),
        E::DealStageChanged(DealStageChanged {
            deal_id: DEAL,
            from_stage_id: STAGE1,
            to_stage_id: STAGE2,
        }),
        E::DealAmountChanged(DealAmountChanged {
            deal_id: DEAL,
            from: 100_000,
            to: 120_000,
        }),
        E::DealReassigned(DealReassigned {
            deal_id: DEAL,
            from_manager_id: MANAGER,
            to_manager_id: OTHER_MANAGER,
        }),
        E::DealWon(DealWon {
            deal_id: DEAL,
            amount: 120_000,
        }),
        E::DealLost(DealLost {
            deal_id: DEAL,
            reason: "price".into(),
            comment: Some("went to a cheaper supplier".into()),
        }),
        E::DealReopened(DealReopened {
            deal_id: DEAL,
            stage_id: STAGE2,
        }),
        E::InteractionLogged(InteractionLogged {
            interaction_id: INTERACTION,
            kind: InteractionKind::Call,
            direction: Direction::Outbound,
            manager_id: MANAGER,
            client_id: Some(CLIENT),
            deal_id: Some(DEAL),
            lead_id: Some(LEAD),
            duration: Some(InteractionDuration { seconds: 185 }),
            outcome: Some("interested".into()),
            goal: Some("qualify".into()),
            notes: Some("call back Monday".into()),
            goal_reached: Some(true),
        }),
        E::TaskScheduled(TaskScheduled {
            task_id: TASK,
            title: "Send the offer".into(),
            kind: "email".into(),
            assignee_id: MANAGER,
            due_at: at(12),
            client_id: Some(CLIENT),
            deal_id: Some(DEAL),
            co_executor_ids: vec![OTHER_MANAGER],
            observer_ids: vec![GONE_MANAGER],
        }),
        E::TaskRescheduled(TaskRescheduled {
            task_id: TASK,
            from_due_at: at(12),
            to_due_at: at(15),
        }),
        E::TaskReassigned(TaskReassigned {
            task_id: TASK,
            from_assignee_id: MANAGER,
            to_assignee_id: OTHER_MANAGER,
        }),
        E::TaskCompleted(TaskCompleted {
            task_id: TASK,
            result: Some("sent".into()),
        }),
        E::TaskCancelled(TaskCancelled {
            task_id: TASK,
            reason: Some("client went silent".into()),
        }),
        E::ProjectionDefined(ProjectionDefined {
            projection_id: crate::custom_projection::id_of("calls"),
            name: "calls".into(),
            definition: serde_json::json!({"event_types": ["InteractionLogged"]}),
        }),
        E::ProjectionRedefined(ProjectionRedefined {
            projection_id: crate::custom_projection::id_of("calls"),
            definition: serde_json::json!({"event_types": ["DealWon"]}),
        }),
        E::ProjectionDropped(ProjectionDropped {
            projection_id: crate::custom_projection::id_of("calls"),
        }),
        E::DataExported(DataExported {
            export_id: Uuid::from_u128(0xE0),
            what: "events".into(),
            format: "ndjson".into(),
            filters: serde_json::json!({"types": ["DealWon"], "from": "2026-01-01T00:00:00Z"}),
            via: "api".into(),
        }),
        E::ClientErased(ClientErased {
            client_id: CLIENT,
            reason: Some("the data subject asked".into()),
        }),
        E::LeadErased(LeadErased {
            lead_id: LEAD,
            reason: None,
        }),
        E::RuleDefined(RuleDefined {
            rule_id: RULE,
            name: "Call on proposal".into(),
            spec: crate::rule::RuleSpec::TaskOnStage(crate::rule::TaskOnStage {
                pipeline_id: PIPELINE,
                stage_id: STAGE2,
                title: "Call the client".into(),
                kind: Some("call".into()),
                due_in_hours: 24,
            }),
            defined_by: Some(MANAGER),
        }),
        E::RuleDisabled(RuleDisabled { rule_id: RULE }),
        E::LeadSlaBreached(LeadSlaBreached {
            lead_id: LEAD,
            manager_id: Some(MANAGER),
            minutes: 30,
        }),
        E::TaskReminderDue(TaskReminderDue {
            task_id: TASK,
            assignee_id: OTHER_MANAGER,
            due_at: at(15),
        }),
        product_defined(PRODUCT),
        E::DealLineAdded(DealLineAdded {
            deal_id: DEAL,
            line_id: LINE,
            product_id: PRODUCT,
            quantity: 4,
            price: 1_400,
        }),
        E::DealLineRemoved(DealLineRemoved {
            deal_id: DEAL,
            line_id: LINE,
        }),
        E::InvoiceIssued(InvoiceIssued {
            invoice_id: INVOICE,
            deal_id: DEAL,
            number: "INV-2026-001".into(),
            amount: 120_000,
            due_on: date(3, 15),
        }),
        E::PaymentReceived(PaymentReceived {
            invoice_id: INVOICE,
            deal_id: DEAL,
            payment_id: PAYMENT,
            amount: 50_000,
            paid_on: date(3, 10),
        }),
        E::ShipmentSent(ShipmentSent {
            shipment_id: SHIPMENT,
            deal_id: DEAL,
            shipped_on: date(3, 12),
            note: Some("waybill 7731".into()),
        }),
        E::PlanSet(PlanSet {
            plan_id: crate::plan::plan_id(MANAGER, crate::values::Month::new(2026, 3).unwrap()),
            manager_id: MANAGER,
            month: crate::values::Month::new(2026, 3).unwrap(),
            targets: PlanTargets {
                calls: Some(120),
                meetings: Some(10),
                call_seconds: Some(36_000),
                deals_won: Some(4),
                won_amount: Some(500_000),
            },
        }),
        E::ClientMerged(ClientMerged {
            client_id: OTHER_CLIENT,
            into_client_id: CLIENT,
        }),
        E::ClientUnmerged(ClientUnmerged {
            client_id: OTHER_CLIENT,
            from_client_id: CLIENT,
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deal::{DealCommand, DealState};

    #[test]
    #[should_panic(expected = "expected error")]
    fn then_error_fails_on_events() {
        given::<DealState>([deal_opened(DEAL)])
            .when(DealCommand::Win {
                deal_id: DEAL,
                amount: None,
            })
            .then_error("deal_closed");
    }

    #[test]
    #[should_panic(expected = "assertion")]
    fn then_fails_on_other_events() {
        given::<DealState>([deal_opened(DEAL)])
            .when(DealCommand::Win {
                deal_id: DEAL,
                amount: None,
            })
            .then(vec![]);
    }

    #[test]
    #[should_panic(expected = "another reason")]
    fn then_error_fails_on_another_code() {
        given::<DealState>([])
            .when(DealCommand::Win {
                deal_id: DEAL,
                amount: None,
            })
            .then_error("deal_closed");
    }
}
