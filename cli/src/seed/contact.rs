//! Interactions: a call, email, meeting or message logged with its duration and
//! outcome, and the everyday client calls that are not about a deal.

use crm_domain::interaction::{InteractionCommand, InteractionState, LogInteraction};
use crm_domain::values::{Direction, InteractionKind};
use uuid::Uuid;

use super::story::Sim;
use super::world::{decide, Actor};
use super::SeedError;

impl Sim {
    /// A call or message with a random client by his manager (or, before any
    /// client exists, a call by some manager). False when nobody can make it.
    pub fn touch_someone(&mut self) -> Result<bool, SeedError> {
        let client = if self.client_list.is_empty() {
            None
        } else {
            let id = *self.dice.pick(&self.client_list);
            Some(id)
        };
        let manager = match client {
            Some(id) => self
                .world
                .clients
                .get(&id)
                .and_then(|c| c.client.as_ref())
                .map(|c| c.manager_id)
                .filter(|m| self.world.active(*m)),
            None => None,
        };
        let manager = match manager.or_else(|| self.team.anyone(&self.world, &mut self.dice)) {
            Some(m) => m,
            None => return Ok(false),
        };
        let inbound = self.dice.chance(0.45);
        let kind = *self.dice.weighted(&[
            (InteractionKind::Call, 55.0),
            (InteractionKind::Email, 25.0),
            (InteractionKind::Message, 20.0),
        ]);
        let goal = if inbound {
            "support"
        } else {
            "account check-in"
        };
        self.interaction(Contacted {
            manager,
            kind,
            direction: if inbound {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            client,
            deal: None,
            lead: None,
            goal,
        })
    }

    /// Logs an interaction; false when it did not fit.
    pub fn interaction(&mut self, c: Contacted) -> Result<bool, SeedError> {
        let (duration_s, outcome) = match c.kind {
            InteractionKind::Call => {
                if c.direction == Direction::Outbound && self.dice.chance(0.2) {
                    (Some(0), Some("no answer"))
                } else {
                    let long = self.dice.chance(0.2);
                    let seconds = if long {
                        self.dice.int(600, 2400)
                    } else {
                        self.dice.int(40, 600)
                    };
                    let outcome = *self.dice.pick(&[
                        "reached",
                        "reached",
                        "callback requested",
                        "interested",
                    ]);
                    (Some(seconds), Some(outcome))
                }
            }
            InteractionKind::Meeting => (
                Some(self.dice.int(2, 12) * 600),
                Some(*self.dice.pick(&["held", "held", "rescheduled by client"])),
            ),
            InteractionKind::Email | InteractionKind::Message => (None, None),
        };
        let notes = self.dice.chance(0.15).then(|| {
            (*self.dice.pick(&[
                "Asked for a discount",
                "Wants a call next week",
                "Sent the price list",
                "Needs approval from the owner",
            ]))
            .to_owned()
        });
        // Most calls record whether their goal was reached: mostly when the client
        // was reached and interested, never when nobody answered.
        let goal_reached = match (c.kind, outcome) {
            (InteractionKind::Call, Some(outcome)) if self.dice.chance(0.85) => {
                let odds = match outcome {
                    "interested" => 0.85,
                    "reached" => 0.6,
                    "callback requested" => 0.2,
                    _ => 0.0,
                };
                Some(self.dice.chance(odds))
            }
            _ => None,
        };
        let command = InteractionCommand::Log(LogInteraction {
            interaction_id: self.dice.id(),
            kind: c.kind,
            direction: c.direction,
            manager: self.world.manager(c.manager),
            client: c.client.map(|id| self.world.client(id)),
            deal: c.deal.map(|id| self.world.deal(id)),
            lead: c.lead.map(|id| self.world.lead(id)),
            duration_s,
            outcome: outcome.map(str::to_owned),
            goal: Some(c.goal.to_owned()),
            notes,
            goal_reached,
        });
        let events = decide::<InteractionState>("log interaction", None, command)?;
        if !self.commit(Actor::Manager(c.manager), events) {
            return Ok(false);
        }
        let tally = self.tallies.of(c.manager);
        match c.kind {
            InteractionKind::Call => {
                tally.calls += 1;
                tally.call_seconds += duration_s.unwrap_or(0);
            }
            InteractionKind::Meeting => tally.meetings += 1,
            InteractionKind::Email | InteractionKind::Message => {}
        }
        Ok(true)
    }
}

/// An interaction to log.
pub struct Contacted {
    /// The manager on our side.
    pub manager: Uuid,
    /// Call, email, meeting or message.
    pub kind: InteractionKind,
    /// Who started it.
    pub direction: Direction,
    /// The client.
    pub client: Option<Uuid>,
    /// The deal.
    pub deal: Option<Uuid>,
    /// The lead it answers.
    pub lead: Option<Uuid>,
    /// What it was for.
    pub goal: &'static str,
}
