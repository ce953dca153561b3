//! The interaction aggregate (`interaction-<uuid>`): a call, email, meeting or
//! message, logged once and never changed.

use serde::Serialize;
use uuid::Uuid;

use crate::aggregate::{absent, Aggregate, HasId, Ref};
use crate::client::ClientState;
use crate::deal::DealState;
use crate::events::{InteractionDuration, InteractionLogged};
use crate::lead::LeadState;
use crate::manager::ManagerState;
use crate::rules::{active_manager, client_and_deal, duration, long, short};
use crate::values::{Direction, InteractionKind};
use crate::{DomainError, DomainEvent};

/// A logged interaction: exactly its event.
pub type Interaction = InteractionLogged;

impl HasId for Interaction {
    fn id(&self) -> Uuid {
        self.interaction_id
    }
}

/// An interaction's state; the default is "not logged".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InteractionState {
    /// Events folded from the stream.
    pub version: i64,
    /// The interaction, once logged.
    pub interaction: Option<Interaction>,
}

/// `POST /interactions`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogInteraction {
    /// The new interaction's id.
    pub interaction_id: Uuid,
    /// Call, email, meeting or message.
    pub kind: InteractionKind,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The manager on our side: must exist and be active.
    pub manager: Ref<ManagerState>,
    /// The client: must exist.
    pub client: Option<Ref<ClientState>>,
    /// The deal: must exist, and be the client's when both are given.
    pub deal: Option<Ref<DealState>>,
    /// The lead: must exist.
    pub lead: Option<Ref<LeadState>>,
    /// Duration in seconds, not negative.
    pub duration_s: Option<i64>,
    /// How it went.
    pub outcome: Option<String>,
    /// What it was for.
    pub goal: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// Whether it reached its goal.
    pub goal_reached: Option<bool>,
}

/// What can be asked of an interaction.
#[derive(Debug, Clone, PartialEq)]
pub enum InteractionCommand {
    /// `POST /interactions`.
    Log(LogInteraction),
}

/// Applies one event to an interaction's state.
pub fn evolve(mut state: InteractionState, event: &DomainEvent) -> InteractionState {
    if let DomainEvent::InteractionLogged(e) = event {
        if state.interaction.is_none() {
            state.interaction = Some(e.clone());
            state.version += 1;
        }
    }
    state
}

/// Folds an interaction's stream.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a DomainEvent>) -> InteractionState {
    InteractionState::fold(events)
}

/// Decides an interaction command.
pub fn decide(
    state: &InteractionState,
    command: InteractionCommand,
) -> Result<Vec<DomainEvent>, DomainError> {
    match command {
        InteractionCommand::Log(c) => {
            absent(state)?;
            c.duration_s.map_or(Ok(()), duration)?;
            short(c.outcome.as_deref(), "outcome")?;
            short(c.goal.as_deref(), "goal")?;
            long(c.notes.as_deref(), "notes")?;
            let manager_id = active_manager(&c.manager)?.id;
            let (client_id, deal_id) = client_and_deal(c.client.as_ref(), c.deal.as_ref())?;
            let lead_id = c.lead.as_ref().map(Ref::get).transpose()?.map(|l| l.id);
            Ok(vec![DomainEvent::InteractionLogged(InteractionLogged {
                interaction_id: c.interaction_id,
                kind: c.kind,
                direction: c.direction,
                manager_id,
                client_id,
                deal_id,
                lead_id,
                duration: c.duration_s.map(|seconds| InteractionDuration { seconds }),
                outcome: c.outcome,
                goal: c.goal,
                notes: c.notes,
                goal_reached: c.goal_reached,
            })])
        }
    }
}

impl Aggregate for InteractionState {
    const ENTITY: &'static str = "interaction";
    type Entity = Interaction;
    type Command = InteractionCommand;

    fn entity(&self) -> Option<&Interaction> {
        self.interaction.as_ref()
    }
    fn id(&self) -> Option<Uuid> {
        self.interaction.as_ref().map(|i| i.interaction_id)
    }
    fn responsible(&self) -> Vec<Uuid> {
        self.interaction.iter().map(|i| i.manager_id).collect()
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn evolve(self, event: &DomainEvent) -> Self {
        evolve(self, event)
    }
    fn decide(&self, command: InteractionCommand) -> Result<Vec<DomainEvent>, DomainError> {
        decide(self, command)
    }
}

#[cfg(test)]
mod tests;
