//! The deal aggregate (`deal-<uuid>`): opened in a pipeline, moved between its
//! stages, re-valued, reassigned, won or lost, and reopened; its lines (products,
//! quantities, prices) added and removed while it is open ([`lines`]).

use chrono::NaiveDate;
use serde::Serialize;
use uuid::Uuid;

use crate::aggregate::{absent, implied, own, target, Aggregate, HasId, Ref};
use crate::client::ClientState;
use crate::events::{
    DealAmountChanged, DealLost, DealOpened, DealReassigned, DealReopened, DealStageChanged,
    DealWon,
};
use crate::lead::LeadState;
use crate::manager::ManagerState;
use crate::pipeline::{Pipeline, PipelineState};
use crate::rules::{
    active_manager, amount as check_amount, at_most, long, non_empty, short, MAX_NAME_CHARS,
};
use crate::{codes, DomainError, DomainEvent};

pub mod lines;

pub use lines::{DealLine, NewLine};

/// A deal's current outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DealStatus {
    /// Neither won nor lost.
    Open,
    /// Won (until reopened).
    Won,
    /// Lost (until reopened).
    Lost,
}

/// An opened deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deal {
    /// Id.
    pub id: Uuid,
    /// Its client.
    pub client_id: Uuid,
    /// Its pipeline.
    pub pipeline_id: Uuid,
    /// Its current stage (a won or lost deal keeps the stage it had).
    pub stage_id: Uuid,
    /// Title.
    pub title: String,
    /// Current amount, minor units; a win sets it to the amount won.
    pub amount: i64,
    /// The responsible manager.
    pub manager_id: Uuid,
    /// Source.
    pub source: Option<String>,
    /// Expected close date.
    pub expected_close_on: Option<NaiveDate>,
    /// The lead it came from.
    pub lead_id: Option<Uuid>,
    /// Open, won or lost.
    pub status: DealStatus,
    /// The reason of the last loss, while lost.
    pub lost_reason: Option<String>,
    /// Its lines as they stand, in the order they were added.
    pub lines: Vec<DealLine>,
    /// The ids of the lines removed: never given to another line.
    #[serde(skip)]
    pub retired_line_ids: Vec<Uuid>,
}

impl Deal {
    /// Refuses a won or lost deal.
    pub fn require_open(&self) -> Result<(), DomainError> {
        match self.status {
            DealStatus::Open => Ok(()),
            status => Err(DomainError::rule(
                codes::DEAL_CLOSED,
                format!(
                    "deal {} is {}; reopen it first",
                    self.id,
                    if status == DealStatus::Won {
                        "won"
                    } else {
                        "lost"
                    }
                ),
            )),
        }
    }
}

impl HasId for Deal {
    fn id(&self) -> Uuid {
        self.id
    }
}

/// A deal's state; the default is "not opened".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DealState {
    /// Events folded from the stream.
    pub version: i64,
    /// The deal, once opened.
    pub deal: Option<Deal>,
}

/// `POST /deals`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenDeal {
    /// The new deal's id.
    pub deal_id: Uuid,
    /// Its client: must exist.
    pub client: Ref<ClientState>,
    /// Its pipeline: must exist.
    pub pipeline: Ref<PipelineState>,
    /// Its stage, one of the pipeline's; default: the pipeline's first.
    pub stage_id: Option<Uuid>,
    /// Title, not blank.
    pub title: String,
    /// Amount, minor units, not negative.
    pub amount: i64,
    /// The responsible manager: must exist and be active.
    pub manager: Ref<ManagerState>,
    /// Source.
    pub source: Option<String>,
    /// Expected close date.
    pub expected_close_on: Option<NaiveDate>,
    /// The lead it came from: must exist.
    pub lead: Option<Ref<LeadState>>,
}

/// What can be asked of a deal. A won or lost deal refuses stage, amount, win and
/// lose (`deal_closed`) until reopened; it can still be reassigned.
// A command lives for one call and is moved once: boxing its create variant
// would only add noise for callers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum DealCommand {
    /// `POST /deals`.
    Open(OpenDeal),
    /// `POST /deals/{id}/stage`: refused with `same_stage` for the current stage.
    ChangeStage {
        /// The deal.
        deal_id: Uuid,
        /// The new stage, one of the deal's pipeline.
        stage_id: Uuid,
        /// The deal's pipeline, folded by the caller.
        pipeline: PipelineState,
    },
    /// `POST /deals/{id}/amount`: refused with `same_amount` for the current amount.
    ChangeAmount {
        /// The deal.
        deal_id: Uuid,
        /// The new amount, not negative.
        amount: i64,
    },
    /// `POST /deals/{id}/assign`: refused with `same_manager` for the current one.
    Reassign {
        /// The deal.
        deal_id: Uuid,
        /// The new manager: must exist and be active.
        manager: Ref<ManagerState>,
    },
    /// `POST /deals/{id}/win`.
    Win {
        /// The deal.
        deal_id: Uuid,
        /// The amount won, not negative; default: the deal's current amount.
        amount: Option<i64>,
    },
    /// `POST /deals/{id}/lose`.
    Lose {
        /// The deal.
        deal_id: Uuid,
        /// Why, not blank.
        reason: String,
        /// Free comment.
        comment: Option<String>,
    },
    /// `POST /deals/{id}/lines`: `DealLineAdded`; a won or lost deal refuses it
    /// (`deal_closed`), a line id the deal has had for another line too
    /// (`duplicate_line_id`).
    AddLine {
        /// The deal.
        deal_id: Uuid,
        /// The line.
        line: NewLine,
    },
    /// `POST /deals/{id}/lines/{line_id}/remove`: `DealLineRemoved`; `line_not_found`
    /// when the deal has no such line, `deal_closed` when it is won or lost.
    RemoveLine {
        /// The deal.
        deal_id: Uuid,
        /// The line.
        line_id: Uuid,
    },
    /// `POST /deals/{id}/reopen`: only a won or lost deal (`deal_not_closed`).
    Reopen {
        /// The deal.
        deal_id: Uuid,
        /// The stage to reopen at; default: the stage it had.
        stage_id: Option<Uuid>,
        /// The deal's pipeline, folded by the caller.
        pipeline: PipelineState,
    },
}

/// Applies one event to a deal's state.
pub fn evolve(mut state: DealState, event: &DomainEvent) -> DealState {
    if apply(&mut state, event) {
        state.version += 1;
    }
    state
}

fn apply(state: &mut DealState, event: &DomainEvent) -> bool {
    use DomainEvent as E;
    if let E::DealOpened(e) = event {
        if state.deal.is_some() {
            return false;
        }
        state.deal = Some(Deal {
            id: e.deal_id,
            client_id: e.client_id,
            pipeline_id: e.pipeline_id,
            stage_id: e.stage_id,
            title: e.title.clone(),
            amount: e.amount,
            manager_id: e.manager_id,
            source: e.source.clone(),
            expected_close_on: e.expected_close_on,
            lead_id: e.lead_id,
            status: DealStatus::Open,
            lost_reason: None,
            lines: Vec::new(),
            retired_line_ids: Vec::new(),
        });
        return true;
    }
    let (kind, id) = event.entity();
    if kind != crate::EntityKind::Deal {
        return false;
    }
    let Some(deal) = own(&mut state.deal, id) else {
        return false;
    };
    match event {
        E::DealStageChanged(e) => deal.stage_id = e.to_stage_id,
        E::DealAmountChanged(e) => deal.amount = e.to,
        E::DealReassigned(e) => deal.manager_id = e.to_manager_id,
        E::DealWon(e) => {
            deal.status = DealStatus::Won;
            deal.amount = e.amount;
        }
        E::DealLost(e) => {
            deal.status = DealStatus::Lost;
            deal.lost_reason = Some(e.reason.clone());
        }
        E::DealReopened(e) => {
            deal.status = DealStatus::Open;
            deal.stage_id = e.stage_id;
            deal.lost_reason = None;
        }
        E::DealLineAdded(e) => lines::apply_added(deal, e),
        E::DealLineRemoved(e) => lines::apply_removed(deal, e),
        _ => return false,
    }
    true
}

/// Folds a deal's stream.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a DomainEvent>) -> DealState {
    DealState::fold(events)
}

/// Decides a deal command.
pub fn decide(state: &DealState, command: DealCommand) -> Result<Vec<DomainEvent>, DomainError> {
    match command {
        DealCommand::Open(c) => {
            absent(state)?;
            let client_id = c.client.get()?.id;
            let lead_id = match &c.lead {
                Some(lead) => Some(lead.get()?.id),
                None => None,
            };
            let pipeline = c.pipeline.get()?;
            let manager_id = active_manager(&c.manager)?.id;
            let opened = opened(NewDeal {
                deal_id: c.deal_id,
                client_id,
                pipeline,
                stage_id: c.stage_id,
                title: c.title,
                amount: c.amount,
                manager_id,
                source: c.source,
                expected_close_on: c.expected_close_on,
                lead_id,
            })?;
            Ok(vec![DomainEvent::DealOpened(opened)])
        }
        DealCommand::ChangeStage {
            deal_id,
            stage_id,
            pipeline,
        } => {
            let deal = target(state, deal_id)?;
            deal.require_open()?;
            implied(&pipeline, deal.pipeline_id)?.require_stage(stage_id)?;
            if stage_id == deal.stage_id {
                return Err(DomainError::rule(
                    codes::SAME_STAGE,
                    format!("deal {deal_id} is already at stage {stage_id}"),
                ));
            }
            Ok(vec![DomainEvent::DealStageChanged(DealStageChanged {
                deal_id,
                from_stage_id: deal.stage_id,
                to_stage_id: stage_id,
            })])
        }
        DealCommand::ChangeAmount { deal_id, amount } => {
            let deal = target(state, deal_id)?;
            deal.require_open()?;
            check_amount(amount)?;
            if amount == deal.amount {
                return Err(DomainError::rule(
                    codes::SAME_AMOUNT,
                    format!("deal {deal_id} already has amount {amount}"),
                ));
            }
            Ok(vec![DomainEvent::DealAmountChanged(DealAmountChanged {
                deal_id,
                from: deal.amount,
                to: amount,
            })])
        }
        DealCommand::Reassign { deal_id, manager } => {
            let deal = target(state, deal_id)?;
            let manager = active_manager(&manager)?;
            if manager.id == deal.manager_id {
                return Err(DomainError::rule(
                    codes::SAME_MANAGER,
                    format!("manager {} is already responsible for the deal", manager.id),
                ));
            }
            Ok(vec![DomainEvent::DealReassigned(DealReassigned {
                deal_id,
                from_manager_id: deal.manager_id,
                to_manager_id: manager.id,
            })])
        }
        DealCommand::Win { deal_id, amount } => {
            let deal = target(state, deal_id)?;
            deal.require_open()?;
            // An amount given is checked; without one the deal's amount as it stands
            // is recorded (one appended before the bounds included).
            amount.map_or(Ok(()), check_amount)?;
            let amount = amount.unwrap_or(deal.amount);
            Ok(vec![DomainEvent::DealWon(DealWon { deal_id, amount })])
        }
        DealCommand::Lose {
            deal_id,
            reason,
            comment,
        } => {
            let deal = target(state, deal_id)?;
            deal.require_open()?;
            non_empty(&reason, codes::EMPTY_REASON, "reason")?;
            at_most(&reason, MAX_NAME_CHARS, "reason")?;
            long(comment.as_deref(), "comment")?;
            Ok(vec![DomainEvent::DealLost(DealLost {
                deal_id,
                reason,
                comment,
            })])
        }
        DealCommand::AddLine { deal_id, line } => lines::add(target(state, deal_id)?, line),
        DealCommand::RemoveLine { deal_id, line_id } => {
            lines::remove(target(state, deal_id)?, line_id)
        }
        DealCommand::Reopen {
            deal_id,
            stage_id,
            pipeline,
        } => {
            let deal = target(state, deal_id)?;
            if deal.status == DealStatus::Open {
                return Err(DomainError::rule(
                    codes::DEAL_NOT_CLOSED,
                    format!("deal {deal_id} is open; only a won or lost deal is reopened"),
                ));
            }
            let stage_id = stage_id.unwrap_or(deal.stage_id);
            implied(&pipeline, deal.pipeline_id)?.require_stage(stage_id)?;
            Ok(vec![DomainEvent::DealReopened(DealReopened {
                deal_id,
                stage_id,
            })])
        }
    }
}

/// A deal to open, its references already resolved and checked (shared with lead
/// conversion).
pub(crate) struct NewDeal<'a> {
    pub deal_id: Uuid,
    pub client_id: Uuid,
    pub pipeline: &'a Pipeline,
    pub stage_id: Option<Uuid>,
    pub title: String,
    pub amount: i64,
    pub manager_id: Uuid,
    pub source: Option<String>,
    pub expected_close_on: Option<NaiveDate>,
    pub lead_id: Option<Uuid>,
}

/// Checks a new deal's rules and makes its `DealOpened`.
pub(crate) fn opened(d: NewDeal<'_>) -> Result<DealOpened, DomainError> {
    non_empty(&d.title, codes::EMPTY_TITLE, "deal title")?;
    at_most(&d.title, MAX_NAME_CHARS, "deal title")?;
    short(d.source.as_deref(), "source")?;
    check_amount(d.amount)?;
    let stage_id = match d.stage_id {
        Some(stage_id) => {
            d.pipeline.require_stage(stage_id)?;
            stage_id
        }
        None => match d.pipeline.first_stage() {
            Some(stage) => stage.stage_id,
            None => {
                return Err(DomainError::rule(
                    codes::NO_STAGES,
                    format!("pipeline {} has no stages", d.pipeline.id),
                ))
            }
        },
    };
    Ok(DealOpened {
        deal_id: d.deal_id,
        client_id: d.client_id,
        pipeline_id: d.pipeline.id,
        stage_id,
        title: d.title,
        amount: d.amount,
        manager_id: d.manager_id,
        source: d.source,
        expected_close_on: d.expected_close_on,
        lead_id: d.lead_id,
    })
}

impl Aggregate for DealState {
    const ENTITY: &'static str = "deal";
    type Entity = Deal;
    type Command = DealCommand;

    fn entity(&self) -> Option<&Deal> {
        self.deal.as_ref()
    }
    fn id(&self) -> Option<Uuid> {
        self.deal.as_ref().map(|d| d.id)
    }
    fn responsible(&self) -> Vec<Uuid> {
        self.deal.iter().map(|d| d.manager_id).collect()
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn evolve(self, event: &DomainEvent) -> Self {
        evolve(self, event)
    }
    fn decide(&self, command: DealCommand) -> Result<Vec<DomainEvent>, DomainError> {
        decide(self, command)
    }
}

#[cfg(test)]
mod tests;
