//! A lead's life: it arrives from a source, is routed to a manager (or assigned by
//! the head), answered fast, late or never, sometimes passed on, then converted
//! into a deal (and a client) or rejected.

use chrono::Duration;
use crm_domain::conversion::ConvertLead;
use crm_domain::lead::{CaptureLead, LeadCommand, LeadState};
use crm_domain::values::{ClientKind, Direction, InteractionKind};
use crm_domain::Ref;
use uuid::Uuid;

use super::company;
use super::contact::Contacted;
use super::sales::{self, Line};
use super::story::{Action, ClientInfo, LeadInfo, Sim};
use super::time;
use super::world::{decide, Actor};
use super::SeedError;

impl Sim {
    /// A request arrives: from a new or a known client, through some source.
    pub(super) fn lead_arrives(&mut self) -> Result<(), SeedError> {
        let source = sales::lead_source(&mut self.dice);
        let channel = *self.dice.pick(source.channels);
        let known = if !self.client_list.is_empty() && self.dice.chance(0.12) {
            let id = *self.dice.pick(&self.client_list);
            self.world.clients.get(&id).and_then(|c| c.client.clone())
        } else {
            None
        };
        let lead_id = self.dice.id();
        let (info, name, phone, email, client, manager) = match known {
            Some(client) => {
                let contact = client.contacts.first().cloned();
                let dept = self.team.department_of(client.manager_id).unwrap_or(0);
                let manager = Some(client.manager_id).filter(|m| self.world.active(*m));
                let info = LeadInfo {
                    kind: client.kind,
                    quality: 1.3,
                    department: dept,
                    profile: None,
                };
                let name = contact
                    .as_ref()
                    .map_or(client.name.clone(), |c| c.name.clone());
                let phone = contact.as_ref().and_then(|c| c.phone.clone());
                let email = contact.and_then(|c| c.email);
                (info, name, phone, email, Some(client.id), manager)
            }
            None => {
                let kind = if self.dice.chance(0.55) {
                    ClientKind::Company
                } else {
                    ClientKind::Person
                };
                let profile = self.new_profile(kind);
                let dept = self.team.department_for(kind, &mut self.dice);
                let contact = profile.contacts.first().cloned();
                let phone = contact.as_ref().and_then(|c| c.phone.clone());
                let email = contact.as_ref().and_then(|c| c.email.clone());
                let (phone, email) = match channel {
                    "call" => (phone.or_else(|| Some(company::phone(&mut self.dice))), None),
                    "email" => (None, email),
                    _ => (phone, email),
                };
                let routed = self.dice.chance(0.75);
                let manager = if routed {
                    self.team.seller(dept, &self.world, &mut self.dice)
                } else {
                    None
                };
                // The person who asked, by name (a company's name comes with its card).
                let name = contact.map_or(profile.name.clone(), |c| c.name);
                let info = LeadInfo {
                    kind,
                    quality: source.quality,
                    department: dept,
                    profile: Some(profile),
                };
                (info, name, phone, email, None, manager)
            }
        };
        let command = LeadCommand::Capture(CaptureLead {
            lead_id,
            source: source.name.to_owned(),
            channel: Some(channel.to_owned()),
            name,
            phone,
            email,
            client: client.map(|id| self.world.client(id)),
            manager: manager.map(|id| self.world.manager(id)),
            received_at: self.now,
        });
        let events = decide::<LeadState>("capture lead", None, command)?;
        if !self.commit(Actor::Admin, events) {
            return Ok(());
        }
        self.lead_info.insert(lead_id, info);
        if manager.is_some() {
            self.plan_answer(lead_id);
        } else if self.dice.chance(0.97) {
            let later = self.now + Duration::minutes(self.dice.int(2, 40));
            let at = time::working(later, &mut self.dice);
            self.plan(at, Action::LeadAssign(lead_id));
        }
        Ok(())
    }

    /// How soon the lead is answered: mostly within minutes, some hours or days
    /// later, some never (and of those, some are given up after a while).
    fn plan_answer(&mut self, lead_id: Uuid) {
        let now = self.now;
        let roll = self.dice.uniform(0.0, 1.0);
        let at = if roll < 0.55 {
            now + Duration::minutes(self.dice.int(2, 14))
        } else if roll < 0.77 {
            now + Duration::minutes(self.dice.int(20, 360))
        } else if roll < 0.88 {
            now + Duration::hours(self.dice.int(24, 72))
        } else {
            if self.dice.chance(0.45) {
                let later = now + Duration::days(self.dice.int(5, 30));
                let at = time::working(later, &mut self.dice);
                self.plan(at, Action::LeadDrop(lead_id));
            }
            return;
        };
        let at = time::working(at, &mut self.dice);
        self.plan(at, Action::LeadAnswer(lead_id));
    }

    /// The head of the lead's department gives it to a manager.
    pub(super) fn lead_assign(&mut self, lead_id: Uuid) -> Result<(), SeedError> {
        let Some(dept) = self.lead_info.get(&lead_id).map(|i| i.department) else {
            return Ok(());
        };
        let Some(manager) = self.team.seller(dept, &self.world, &mut self.dice) else {
            return Ok(());
        };
        let state = self.world.leads.get(&lead_id).cloned();
        let command = LeadCommand::Assign {
            lead_id,
            manager: self.world.manager(manager),
        };
        let events = decide("assign lead", state.as_ref(), command)?;
        if self.commit(self.team.boss_of(dept), events) {
            self.plan_answer(lead_id);
        }
        Ok(())
    }

    /// The lead's manager and its client, while it is open and has an active manager.
    fn open_lead(&self, lead_id: Uuid) -> Option<(Uuid, Option<Uuid>, Option<String>)> {
        let lead = self.world.leads.get(&lead_id)?.lead.as_ref()?;
        let manager = lead.manager_id.filter(|m| self.world.active(*m))?;
        lead.is_open()
            .then(|| (manager, lead.client_id, lead.channel.clone()))
    }

    /// The first answer: a call, an email or a message naming the lead.
    pub(super) fn lead_answer(&mut self, lead_id: Uuid) -> Result<(), SeedError> {
        let Some((manager, client, channel)) = self.open_lead(lead_id) else {
            return Ok(());
        };
        let chat = matches!(channel.as_deref(), Some("messenger" | "chat"));
        let kind = if chat && self.dice.chance(0.6) {
            InteractionKind::Message
        } else if self.dice.chance(0.7) {
            InteractionKind::Call
        } else {
            InteractionKind::Email
        };
        let logged = self.interaction(Contacted {
            manager,
            kind,
            direction: Direction::Outbound,
            client,
            deal: None,
            lead: Some(lead_id),
            goal: "first contact",
        })?;
        if !logged {
            return Ok(());
        }
        let (action, days) = if self.dice.chance(0.2) {
            (Action::LeadFollowUp(lead_id), self.dice.uniform(0.05, 2.0))
        } else {
            (Action::LeadDecide(lead_id), self.dice.exp(1.2) + 0.01)
        };
        let later = self.now + Duration::minutes((days * 1440.0) as i64);
        let at = time::working(later, &mut self.dice);
        self.plan(at, action);
        Ok(())
    }

    /// A second contact before the decision.
    pub(super) fn lead_follow_up(&mut self, lead_id: Uuid) -> Result<(), SeedError> {
        let Some((manager, client, _)) = self.open_lead(lead_id) else {
            return Ok(());
        };
        let kind = if self.dice.chance(0.6) {
            InteractionKind::Call
        } else {
            InteractionKind::Email
        };
        let direction = if self.dice.chance(0.3) {
            Direction::Inbound
        } else {
            Direction::Outbound
        };
        if !self.interaction(Contacted {
            manager,
            kind,
            direction,
            client,
            deal: None,
            lead: Some(lead_id),
            goal: "qualification",
        })? {
            return Ok(());
        }
        let later = self.now + Duration::minutes((self.dice.exp(1.5) * 1440.0) as i64 + 30);
        let at = time::working(later, &mut self.dice);
        self.plan(at, Action::LeadDecide(lead_id));
        Ok(())
    }

    /// The lead is passed to a colleague, converted or rejected.
    pub(super) fn lead_decide(&mut self, lead_id: Uuid) -> Result<(), SeedError> {
        let Some((manager, client, _)) = self.open_lead(lead_id) else {
            return Ok(());
        };
        let Some((kind, quality, dept)) = self
            .lead_info
            .get(&lead_id)
            .map(|i| (i.kind, i.quality, i.department))
        else {
            return Ok(());
        };
        if self.dice.chance(0.05) {
            if let Some(other) = self.team.colleague(manager, &self.world, &mut self.dice) {
                let state = self.world.leads.get(&lead_id).cloned();
                let command = LeadCommand::Assign {
                    lead_id,
                    manager: self.world.manager(other),
                };
                let events = decide("reassign lead", state.as_ref(), command)?;
                if self.commit(self.team.boss_of(dept), events) {
                    let later = self.now + Duration::hours(self.dice.int(4, 72));
                    let at = time::working(later, &mut self.dice);
                    self.plan(at, Action::LeadDecide(lead_id));
                }
                return Ok(());
            }
        }
        let p = (0.62 * quality).min(0.9);
        if self.dice.chance(p) {
            self.convert(lead_id, manager, client, kind)
        } else {
            let mut reason = *self.dice.weighted(sales::REJECT_REASONS);
            if client.is_some() && reason == "Spam" {
                reason = "Duplicate";
            }
            let state = self.world.leads.get(&lead_id).cloned();
            let command = LeadCommand::Reject {
                lead_id,
                reason: reason.to_owned(),
            };
            let events = decide("reject lead", state.as_ref(), command)?;
            if self.commit(Actor::Manager(manager), events) {
                self.lead_info.remove(&lead_id);
            }
            Ok(())
        }
    }

    /// The lead becomes a deal, of its known client or of a client registered from it.
    fn convert(
        &mut self,
        lead_id: Uuid,
        manager: Uuid,
        client: Option<Uuid>,
        kind: ClientKind,
    ) -> Result<(), SeedError> {
        let won_before = client
            .and_then(|c| self.client_info.get(&c))
            .is_some_and(|i| i.won > 0);
        let line = match kind {
            ClientKind::Person => Line::Persons,
            ClientKind::Company if won_before && self.dice.chance(0.5) => Line::Renewals,
            ClientKind::Company => Line::Companies,
        };
        let Some(pipe) = self.pipe(line) else {
            return Ok(());
        };
        let size = match client {
            Some(c) => self
                .world
                .clients
                .get(&c)
                .and_then(|s| s.client.as_ref())
                .and_then(|c| c.size.clone()),
            None => self
                .lead_info
                .get(&lead_id)
                .and_then(|i| i.profile.as_ref())
                .and_then(|p| p.size.clone()),
        };
        let (pipeline_id, plan) = (self.pipes[pipe].id, self.pipes[pipe].plan);
        let stage_id = (self.dice.chance(0.12) && self.pipes[pipe].stages.len() > 1)
            .then(|| self.pipes[pipe].stages[1]);
        let cycle = self.dice.int(plan.cycle_days.0, plan.cycle_days.1);
        let (deal_id, new_client_id) = (self.dice.id(), self.dice.id());
        let command = LeadCommand::Convert(ConvertLead {
            lead_id,
            client: None,
            new_client_id,
            new_client_kind: kind,
            manager: self
                .world
                .managers
                .get(&manager)
                .cloned()
                .unwrap_or_default(),
            deal_id,
            pipeline: Ref::new(
                pipeline_id,
                self.world
                    .pipelines
                    .get(&pipeline_id)
                    .cloned()
                    .unwrap_or_default(),
            ),
            stage_id,
            title: (*self.dice.pick(plan.titles)).to_owned(),
            amount: sales::deal_amount(line, kind, size.as_deref(), &mut self.dice),
            expected_close_on: Some((self.now + Duration::days(cycle)).date_naive()),
        });
        let state = self.world.leads.get(&lead_id).cloned();
        let events = decide("convert lead", state.as_ref(), command)?;
        if !self.commit(Actor::Manager(manager), events) {
            return Ok(());
        }
        let info = self.lead_info.remove(&lead_id);
        if client.is_none() {
            self.client_list.push(new_client_id);
            let card = info.and_then(|i| i.profile);
            let odds = match kind {
                ClientKind::Company => 0.95,
                ClientKind::Person => 0.6,
            };
            let fill = card.is_some() && self.dice.chance(odds);
            self.client_info.insert(
                new_client_id,
                ClientInfo {
                    card: card.filter(|_| fill),
                    won: 0,
                },
            );
            if fill {
                let later = self.now + Duration::minutes(self.dice.int(30, 4320));
                let at = time::working(later, &mut self.dice);
                self.plan(at, Action::ClientUpdate(new_client_id));
            }
        }
        self.deal_opened(deal_id)
    }

    /// A lead nobody answered is given up by the head.
    pub(super) fn lead_drop(&mut self, lead_id: Uuid) -> Result<(), SeedError> {
        let Some(state) = self.world.leads.get(&lead_id).cloned() else {
            return Ok(());
        };
        if !state.lead.as_ref().is_some_and(|l| l.is_open()) {
            return Ok(());
        }
        let dept = self.lead_info.get(&lead_id).map_or(0, |i| i.department);
        let command = LeadCommand::Reject {
            lead_id,
            reason: "Could not reach".to_owned(),
        };
        let events = decide("give up lead", Some(&state), command)?;
        if self.commit(self.team.boss_of(dept), events) {
            self.lead_info.remove(&lead_id);
        }
        Ok(())
    }
}
