#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::testing::*;

fn open() -> OpenDeal {
    OpenDeal {
        deal_id: DEAL,
        client: client(CLIENT),
        pipeline: pipeline(PIPELINE),
        stage_id: None,
        title: "100 pallets".into(),
        amount: 100_000,
        manager: manager(MANAGER),
        source: None,
        expected_close_on: None,
        lead: None,
    }
}

fn opened_at(stage_id: Uuid) -> DomainEvent {
    match deal_opened(DEAL) {
        DomainEvent::DealOpened(e) => DomainEvent::DealOpened(DealOpened { stage_id, ..e }),
        other => other,
    }
}

fn won(amount: i64) -> DomainEvent {
    DomainEvent::DealWon(DealWon {
        deal_id: DEAL,
        amount,
    })
}

fn lost() -> DomainEvent {
    DomainEvent::DealLost(DealLost {
        deal_id: DEAL,
        reason: "price".into(),
        comment: None,
    })
}

fn stage(stage_id: Uuid) -> DealCommand {
    DealCommand::ChangeStage {
        deal_id: DEAL,
        stage_id,
        pipeline: pipeline_state(),
    }
}

fn reopen(stage_id: Option<Uuid>) -> DealCommand {
    DealCommand::Reopen {
        deal_id: DEAL,
        stage_id,
        pipeline: pipeline_state(),
    }
}

// --- open ---

#[test]
fn open_at_the_pipelines_first_stage_by_default() {
    let state = given::<DealState>([])
        .when(DealCommand::Open(open()))
        .then(vec![deal_opened(DEAL)]);
    let deal = state.deal.unwrap();
    assert_eq!(deal.status, DealStatus::Open);
    assert_eq!(deal.stage_id, STAGE1);
}

#[test]
fn open_at_a_given_stage_with_every_field() {
    let command = OpenDeal {
        stage_id: Some(STAGE2),
        source: Some("fair".into()),
        expected_close_on: Some(date(4, 30)),
        lead: Some(lead(LEAD)),
        ..open()
    };
    given::<DealState>([])
        .when(DealCommand::Open(command))
        .then(vec![DomainEvent::DealOpened(DealOpened {
            deal_id: DEAL,
            client_id: CLIENT,
            pipeline_id: PIPELINE,
            stage_id: STAGE2,
            title: "100 pallets".into(),
            amount: 100_000,
            manager_id: MANAGER,
            source: Some("fair".into()),
            expected_close_on: Some(date(4, 30)),
            lead_id: Some(LEAD),
        })]);
}

#[test]
fn open_twice_is_already_exists() {
    given::<DealState>([deal_opened(DEAL)])
        .when(DealCommand::Open(open()))
        .then_error(codes::ALREADY_EXISTS);
}

#[test]
fn open_needs_a_title() {
    given::<DealState>([])
        .when(DealCommand::Open(OpenDeal {
            title: " ".into(),
            ..open()
        }))
        .then_error(codes::EMPTY_TITLE);
}

#[test]
fn open_refuses_a_negative_amount() {
    given::<DealState>([])
        .when(DealCommand::Open(OpenDeal {
            amount: -1,
            ..open()
        }))
        .then_error(codes::NEGATIVE_AMOUNT);
}

#[test]
fn open_accepts_a_zero_amount() {
    let state = given::<DealState>([])
        .when(DealCommand::Open(OpenDeal {
            amount: 0,
            ..open()
        }))
        .then(vec![DomainEvent::DealOpened(DealOpened {
            amount: 0,
            ..match deal_opened(DEAL) {
                DomainEvent::DealOpened(e) => e,
                _ => unreachable!(),
            }
        })]);
    assert_eq!(state.deal.unwrap().amount, 0);
}

#[test]
fn open_needs_a_stage_of_the_pipeline() {
    given::<DealState>([])
        .when(DealCommand::Open(OpenDeal {
            stage_id: Some(FOREIGN_STAGE),
            ..open()
        }))
        .then_error(codes::STAGE_NOT_IN_PIPELINE);
}

#[test]
fn open_needs_existing_client_pipeline_and_lead() {
    for command in [
        OpenDeal {
            client: client(NOBODY),
            ..open()
        },
        OpenDeal {
            pipeline: pipeline(NOBODY),
            ..open()
        },
        OpenDeal {
            manager: manager(NOBODY),
            ..open()
        },
        OpenDeal {
            lead: Some(lead(NOBODY)),
            ..open()
        },
    ] {
        given::<DealState>([])
            .when(DealCommand::Open(command))
            .then_error(codes::REFERENCE_NOT_FOUND);
    }
}

#[test]
fn open_needs_an_active_manager() {
    given::<DealState>([])
        .when(DealCommand::Open(OpenDeal {
            manager: manager(GONE_MANAGER),
            ..open()
        }))
        .then_error(codes::MANAGER_INACTIVE);
}

// --- stage ---

#[test]
fn change_stage() {
    let state = given::<DealState>([deal_opened(DEAL)])
        .when(stage(STAGE3))
        .then(vec![DomainEvent::DealStageChanged(DealStageChanged {
            deal_id: DEAL,
            from_stage_id: STAGE1,
            to_stage_id: STAGE3,
        })]);
    assert_eq!(state.deal.unwrap().stage_id, STAGE3);
}

#[test]
fn change_stage_of_unknown_deal_is_not_found() {
    given::<DealState>([])
        .when(stage(STAGE2))
        .then_error(codes::NOT_FOUND);
}

#[test]
fn change_to_the_current_stage_is_refused() {
    given::<DealState>([deal_opened(DEAL)])
        .when(stage(STAGE1))
        .then_error(codes::SAME_STAGE);
}

#[test]
fn change_to_a_stage_of_another_pipeline_is_refused() {
    given::<DealState>([deal_opened(DEAL)])
        .when(stage(FOREIGN_STAGE))
        .then_error(codes::STAGE_NOT_IN_PIPELINE);
}

#[test]
fn change_stage_needs_the_deals_own_pipeline() {
    given::<DealState>([deal_opened(DEAL)])
        .when(DealCommand::ChangeStage {
            deal_id: DEAL,
            stage_id: STAGE2,
            pipeline: PipelineState::default(),
        })
        .then_error(codes::REFERENCE_NOT_FOUND);
}

#[test]
fn closed_deals_change_no_stage() {
    for closed in [won(1), lost()] {
        given::<DealState>([deal_opened(DEAL), closed])
            .when(stage(STAGE2))
            .then_error(codes::DEAL_CLOSED);
    }
}

// --- amount ---

#[test]
fn change_amount() {
    let state = given::<DealState>([deal_opened(DEAL)])
        .when(DealCommand::ChangeAmount {
            deal_id: DEAL,
            amount: 150_000,
        })
        .then(vec![DomainEvent::DealAmountChanged(DealAmountChanged {
            deal_id: DEAL,
            from: 100_000,
            to: 150_000,
        })]);
    assert_eq!(state.deal.unwrap().amount, 150_000);
}

#[test]
fn change_amount_refuses_negative_and_same() {
    given::<DealState>([deal_opened(DEAL)])
        .when(DealCommand::ChangeAmount {
            deal_id: DEAL,
            amount: -5,
        })
        .then_error(codes::NEGATIVE_AMOUNT);
    given::<DealState>([deal_opened(DEAL)])
        .when(DealCommand::ChangeAmount {
            deal_id: DEAL,
            amount: 100_000,
        })
        .then_error(codes::SAME_AMOUNT);
}

#[test]
fn closed_deals_change_no_amount() {
    for closed in [won(1), lost()] {
        given::<DealState>([deal_opened(DEAL), closed])
            .when(DealCommand::ChangeAmount {
                deal_id: DEAL,
                amount: 5,
            })
            .then_error(codes::DEAL_CLOSED);
    }
}

// --- assign ---

#[test]
fn reassign() {
    let state = given::<DealState>([deal_opened(DEAL)])
        .when(DealCommand::Reassign {
            deal_id: DEAL,
            manager: manager(OTHER_MANAGER),
        })
        .then(vec![DomainEvent::DealReassigned(DealReassigned {
            deal_id: DEAL,
            from_manager_id: MANAGER,
            to_manager_id: OTHER_MANAGER,
        })]);
    assert_eq!(state.deal.unwrap().manager_id, OTHER_MANAGER);
}

#[test]
fn a_won_deal_can_still_be_reassigned() {
    given::<DealState>([deal_opened(DEAL), won(1)])
        .when(DealCommand::Reassign {
            deal_id: DEAL,
            manager: manager(OTHER_MANAGER),
        })
        .then(vec![DomainEvent::DealReassigned(DealReassigned {
            deal_id: DEAL,
            from_manager_id: MANAGER,
            to_manager_id: OTHER_MANAGER,
        })]);
}

#[test]
fn reassign_refuses_same_inactive_and_unknown_managers() {
    for (who, code) in [
        (MANAGER, codes::SAME_MANAGER),
        (GONE_MANAGER, codes::MANAGER_INACTIVE),
        (NOBODY, codes::REFERENCE_NOT_FOUND),
    ] {
        given::<DealState>([deal_opened(DEAL)])
            .when(DealCommand::Reassign {
                deal_id: DEAL,
                manager: manager(who),
            })
            .then_error(code);
    }
}

// --- win ---

#[test]
fn win_defaults_to_the_current_amount() {
    let state = given::<DealState>([deal_opened(DEAL)])
        .when(DealCommand::Win {
            deal_id: DEAL,
            amount: None,
        })
        .then(vec![won(100_000)]);
    assert_eq!(state.deal.unwrap().status, DealStatus::Won);
}

#[test]
fn win_with_an_amount_sets_the_deals_amount() {
    let state = given::<DealState>([deal_opened(DEAL)])
        .when(DealCommand::Win {
            deal_id: DEAL,
            amount: Some(90_000),
        })
        .then(vec![won(90_000)]);
    assert_eq!(state.deal.unwrap().amount, 90_000);
}

#[test]
fn win_refuses_a_negative_amount() {
    given::<DealState>([deal_opened(DEAL)])
        .when(DealCommand::Win {
            deal_id: DEAL,
            amount: Some(-1),
        })
        .then_error(codes::NEGATIVE_AMOUNT);
}

#[test]
fn amounts_above_ten_to_the_fifteenth_are_refused_when_given() {
    let too_large = crate::MAX_AMOUNT + 1;
    given::<DealState>([])
        .when(DealCommand::Open(OpenDeal {
            amount: too_large,
            ..open()
        }))
        .then_error(codes::AMOUNT_TOO_LARGE);
    for command in [
        DealCommand::ChangeAmount {
            deal_id: DEAL,
            amount: too_large,
        },
        DealCommand::Win {
            deal_id: DEAL,
            amount: Some(too_large),
        },
    ] {
        given::<DealState>([deal_opened(DEAL)])
            .when(command)
            .then_error(codes::AMOUNT_TOO_LARGE);
    }
    // A deal opened before the bound with a larger amount is won at that amount.
    let legacy = match deal_opened(DEAL) {
        DomainEvent::DealOpened(e) => DomainEvent::DealOpened(DealOpened {
            amount: i64::MAX,
            ..e
        }),
        other => other,
    };
    given::<DealState>([legacy])
        .when(DealCommand::Win {
            deal_id: DEAL,
            amount: None,
        })
        .then(vec![won(i64::MAX)]);
}

#[test]
fn a_closed_deal_is_not_won_again() {
    for closed in [won(1), lost()] {
        given::<DealState>([deal_opened(DEAL), closed])
            .when(DealCommand::Win {
                deal_id: DEAL,
                amount: None,
            })
            .then_error(codes::DEAL_CLOSED);
    }
}

// --- lose ---

#[test]
fn lose() {
    let state = given::<DealState>([deal_opened(DEAL)])
        .when(DealCommand::Lose {
            deal_id: DEAL,
            reason: "price".into(),
            comment: None,
        })
        .then(vec![lost()]);
    let deal = state.deal.unwrap();
    assert_eq!(deal.status, DealStatus::Lost);
    assert_eq!(deal.lost_reason.as_deref(), Some("price"));
}

#[test]
fn lose_needs_a_reason() {
    given::<DealState>([deal_opened(DEAL)])
        .when(DealCommand::Lose {
            deal_id: DEAL,
            reason: "".into(),
            comment: Some("no idea".into()),
        })
        .then_error(codes::EMPTY_REASON);
}

#[test]
fn a_closed_deal_is_not_lost_again() {
    for closed in [won(1), lost()] {
        given::<DealState>([deal_opened(DEAL), closed])
            .when(DealCommand::Lose {
                deal_id: DEAL,
                reason: "price".into(),
                comment: None,
            })
            .then_error(codes::DEAL_CLOSED);
    }
}

// --- reopen ---

#[test]
fn reopen_at_the_stage_it_had_by_default() {
    let state = given::<DealState>([opened_at(STAGE2), lost()])
        .when(reopen(None))
        .then(vec![DomainEvent::DealReopened(DealReopened {
            deal_id: DEAL,
            stage_id: STAGE2,
        })]);
    let deal = state.deal.unwrap();
    assert_eq!(deal.status, DealStatus::Open);
    assert_eq!(deal.lost_reason, None);
}

#[test]
fn reopen_at_a_given_stage() {
    let state = given::<DealState>([deal_opened(DEAL), won(100_000)])
        .when(reopen(Some(STAGE3)))
        .then(vec![DomainEvent::DealReopened(DealReopened {
            deal_id: DEAL,
            stage_id: STAGE3,
        })]);
    assert_eq!(state.deal.unwrap().stage_id, STAGE3);
}

#[test]
fn reopen_needs_a_stage_of_the_pipeline() {
    given::<DealState>([deal_opened(DEAL), lost()])
        .when(reopen(Some(FOREIGN_STAGE)))
        .then_error(codes::STAGE_NOT_IN_PIPELINE);
}

#[test]
fn only_a_closed_deal_is_reopened() {
    given::<DealState>([deal_opened(DEAL)])
        .when(reopen(None))
        .then_error(codes::DEAL_NOT_CLOSED);
}

#[test]
fn a_reopened_deal_changes_again() {
    let reopened = DomainEvent::DealReopened(DealReopened {
        deal_id: DEAL,
        stage_id: STAGE1,
    });
    given::<DealState>([deal_opened(DEAL), lost(), reopened])
        .when(stage(STAGE2))
        .then(vec![DomainEvent::DealStageChanged(DealStageChanged {
            deal_id: DEAL,
            from_stage_id: STAGE1,
            to_stage_id: STAGE2,
        })]);
}

#[test]
fn evolve_ignores_other_deals_and_counts_the_version() {
    let other = id(41);
    let state = fold(&[
        deal_opened(DEAL),
        deal_opened(other),
        DomainEvent::DealWon(DealWon {
            deal_id: other,
            amount: 1,
        }),
        client_registered(CLIENT),
        won(7),
    ]);
    assert_eq!(state.version, 2);
    let deal = state.deal.unwrap();
    assert_eq!(deal.id, DEAL);
    assert_eq!(deal.amount, 7);
}
