#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::events::DealOpened;
use crate::lead::LeadCommand;
use crate::testing::*;

const NEW_CLIENT: Uuid = id(22);

fn command() -> ConvertLead {
    ConvertLead {
        lead_id: LEAD,
        client: None,
        new_client_id: NEW_CLIENT,
        new_client_kind: ClientKind::Person,
        manager: manager(MANAGER).state,
        deal_id: DEAL,
        pipeline: pipeline(PIPELINE),
        stage_id: None,
        title: "First order".into(),
        amount: 50_000,
        expected_close_on: Some(date(3, 31)),
    }
}

fn deal_for(client_id: Uuid) -> DomainEvent {
    DomainEvent::DealOpened(DealOpened {
        deal_id: DEAL,
        client_id,
        pipeline_id: PIPELINE,
        stage_id: STAGE1,
        title: "First order".into(),
        amount: 50_000,
        manager_id: MANAGER,
        source: Some("site".into()),
        expected_close_on: Some(date(3, 31)),
        lead_id: Some(LEAD),
    })
}

fn lead_converted(client_id: Uuid) -> DomainEvent {
    DomainEvent::LeadConverted(LeadConverted {
        lead_id: LEAD,
        client_id,
        deal_id: DEAL,
    })
}

fn assigned_lead() -> [DomainEvent; 2] {
    [lead_captured(LEAD), lead_assigned(LEAD, MANAGER)]
}

#[test]
fn convert_registers_a_client_from_the_lead() {
    let client = DomainEvent::ClientRegistered(ClientRegistered {
        client_id: NEW_CLIENT,
        name: "Ivan Petrov".into(),
        kind: ClientKind::Person,
        size: None,
        industry: None,
        region: None,
        source: Some("site".into()),
        manager_id: MANAGER,
        contacts: vec![Contact {
            name: "Ivan Petrov".into(),
            phone: Some("+7 900 000-00-00".into()),
            email: None,
        }],
    });
    let state = given::<LeadState>(assigned_lead())
        .when(LeadCommand::Convert(command()))
        .then(vec![
            client,
            deal_for(NEW_CLIENT),
            lead_converted(NEW_CLIENT),
        ]);
    assert_eq!(
        state.lead.unwrap().status,
        crate::lead::LeadStatus::Converted
    );
}

#[test]
fn each_event_goes_to_its_own_stream() {
    let events = convert(&crate::lead::fold(&assigned_lead()), command()).unwrap();
    let streams: Vec<String> = events.iter().map(|e| e.stream()).collect();
    assert_eq!(
        streams,
        [
            format!("client-{NEW_CLIENT}"),
            format!("deal-{DEAL}"),
            format!("lead-{LEAD}")
        ]
    );
}

#[test]
fn convert_for_a_named_client() {
    given::<LeadState>(assigned_lead())
        .when(LeadCommand::Convert(ConvertLead {
            client: Some(client(OTHER_CLIENT)),
            stage_id: Some(STAGE2),
            ..command()
        }))
        .then(vec![
            match deal_for(OTHER_CLIENT) {
                DomainEvent::DealOpened(e) => DomainEvent::DealOpened(DealOpened {
                    stage_id: STAGE2,
                    ..e
                }),
                other => other,
            },
            lead_converted(OTHER_CLIENT),
        ]);
}

#[test]
fn convert_uses_the_leads_client_when_none_is_named() {
    let captured = match lead_captured(LEAD) {
        DomainEvent::LeadCaptured(e) => DomainEvent::LeadCaptured(crate::events::LeadCaptured {
            client_id: Some(CLIENT),
            ..e
        }),
        other => other,
    };
    given::<LeadState>([captured, lead_assigned(LEAD, MANAGER)])
        .when(LeadCommand::Convert(command()))
        .then(vec![deal_for(CLIENT), lead_converted(CLIENT)]);
}

#[test]
fn convert_of_unknown_lead_is_not_found() {
    given::<LeadState>([])
        .when(LeadCommand::Convert(command()))
        .then_error(codes::NOT_FOUND);
}

#[test]
fn a_lead_is_converted_at_most_once() {
    let converted = lead_converted(CLIENT);
    let rejected = DomainEvent::LeadRejected(crate::events::LeadRejected {
        lead_id: LEAD,
        reason: "spam".into(),
    });
    for closed in [converted, rejected] {
        let [captured, assigned] = assigned_lead();
        given::<LeadState>([captured, assigned, closed])
            .when(LeadCommand::Convert(command()))
            .then_error(codes::LEAD_CLOSED);
    }
}

#[test]
fn convert_needs_an_assigned_lead() {
    given::<LeadState>([lead_captured(LEAD)])
        .when(LeadCommand::Convert(command()))
        .then_error(codes::LEAD_UNASSIGNED);
}

#[test]
fn convert_needs_the_leads_manager_active() {
    given::<LeadState>([lead_captured(LEAD), lead_assigned(LEAD, GONE_MANAGER)])
        .when(LeadCommand::Convert(ConvertLead {
            manager: manager(GONE_MANAGER).state,
            ..command()
        }))
        .then_error(codes::MANAGER_INACTIVE);
}

#[test]
fn convert_needs_the_leads_own_manager_state() {
    given::<LeadState>(assigned_lead())
        .when(LeadCommand::Convert(ConvertLead {
            manager: manager(OTHER_MANAGER).state,
            ..command()
        }))
        .then_error(codes::REFERENCE_NOT_FOUND);
}

#[test]
fn convert_needs_existing_client_and_pipeline() {
    for command in [
        ConvertLead {
            client: Some(client(NOBODY)),
            ..command()
        },
        ConvertLead {
            pipeline: pipeline(NOBODY),
            ..command()
        },
    ] {
        given::<LeadState>(assigned_lead())
            .when(LeadCommand::Convert(command))
            .then_error(codes::REFERENCE_NOT_FOUND);
    }
}

#[test]
fn convert_checks_the_deals_rules() {
    for (command, code) in [
        (
            ConvertLead {
                title: "".into(),
                ..command()
            },
            codes::EMPTY_TITLE,
        ),
        (
            ConvertLead {
                amount: -1,
                ..command()
            },
            codes::NEGATIVE_AMOUNT,
        ),
        (
            ConvertLead {
                stage_id: Some(FOREIGN_STAGE),
                ..command()
            },
            codes::STAGE_NOT_IN_PIPELINE,
        ),
    ] {
        given::<LeadState>(assigned_lead())
            .when(LeadCommand::Convert(command))
            .then_error(code);
    }
}

#[test]
fn an_erased_lead_registers_no_client_but_converts_for_a_named_one() {
    let [captured, assigned] = assigned_lead();
    let erased = DomainEvent::LeadErased(crate::events::LeadErased {
        lead_id: LEAD,
        reason: None,
    });
    given::<LeadState>([captured.clone(), assigned.clone(), erased.clone()])
        .when(LeadCommand::Convert(command()))
        .then_error(codes::SUBJECT_ERASED);
    given::<LeadState>([captured, assigned, erased])
        .when(LeadCommand::Convert(ConvertLead {
            client: Some(client(OTHER_CLIENT)),
            ..command()
        }))
        .then(vec![deal_for(OTHER_CLIENT), lead_converted(OTHER_CLIENT)]);
}
