//! Looking after clients: managers find clients themselves, open deals with them,
//! bring back those who bought before, keep in touch, complete and change their
//! cards, and pass some clients to colleagues.

use chrono::Duration;
use crm_domain::client::{ClientCommand, ClientState, RegisterClient};
use crm_domain::deal::{DealCommand, DealState, OpenDeal};
use crm_domain::events::ClientChanges;
use crm_domain::values::{ClientKind, Contact, Direction, InteractionKind};
use uuid::Uuid;

use super::company;
use super::contact::Contacted;
use super::sales::{self, Line};
use super::story::{Action, ClientInfo, Sim};
use super::time;
use super::world::{decide, Actor};
use super::SeedError;

/// The share of new clients' cards that repeat a client already registered (by
/// name, phone or email, written otherwise): a handful per thousand.
const DUPLICATES: f64 = 0.005;

impl Sim {
    /// A new client's card: made up, or now and then (unknowingly) one of a client
    /// already registered, under a name, phone or email written otherwise.
    pub(super) fn new_profile(&mut self, kind: ClientKind) -> company::Profile {
        if self.client_list.is_empty() || !self.dice.chance(DUPLICATES) {
            return self.fresh_profile(kind);
        }
        let known = (0..5).find_map(|_| {
            let id = *self.dice.pick(&self.client_list);
            self.world
                .clients
                .get(&id)
                .and_then(|c| c.client.clone())
                .filter(|c| c.kind == kind)
        });
        let Some(known) = known else {
            return self.fresh_profile(kind);
        };
        let mut profile = company::profile(kind, known.name.clone(), &mut self.dice);
        let phone = known.contacts.iter().find_map(|c| c.phone.clone());
        let email = known.contacts.iter().find_map(|c| c.email.clone());
        let first = &mut profile.contacts[0];
        match (self.dice.index(3), phone, email) {
            (1, Some(phone), _) => {
                profile.name = company::name_unlike(&known.name, kind);
                first.phone = Some(company::phone_variant(&phone, &mut self.dice));
            }
            (2, _, Some(email)) => {
                profile.name = company::name_unlike(&known.name, kind);
                first.email = Some(company::email_variant(&email));
            }
            _ => profile.name = company::name_variant(&known.name, &mut self.dice),
        }
        if kind == ClientKind::Person {
            first.name = profile.name.clone();
        }
        profile
    }

    /// A made-up card under a name no client has yet. A company's first contact
    /// gets such a name too: a converted lead's client bears it until its card is
    /// filled in (and keeps it when it never is).
    fn fresh_profile(&mut self, kind: ClientKind) -> company::Profile {
        let name = company::unique_client_name(kind, &mut self.client_names, &mut self.dice);
        let mut profile = company::profile(kind, name, &mut self.dice);
        if kind == ClientKind::Company {
            let person = company::unique_client_name(
                ClientKind::Person,
                &mut self.client_names,
                &mut self.dice,
            );
            let domain = company::company_domain(&profile.name);
            let first = &mut profile.contacts[0];
            first.email = Some(company::email(&person, &domain));
            first.name = person;
        }
        profile
    }

    /// A call or message with some client.
    pub(super) fn account_touch(&mut self) -> Result<(), SeedError> {
        self.touch_someone()?;
        Ok(())
    }

    /// A manager registers a client he found himself, calls, and then opens a deal
    /// with it, plans a follow-up, or leaves it at that.
    pub(super) fn prospect(&mut self) -> Result<(), SeedError> {
        let kind = if self.dice.chance(0.8) {
            ClientKind::Company
        } else {
            ClientKind::Person
        };
        let dept = self.team.department_for(kind, &mut self.dice);
        let Some(manager) = self.team.seller(dept, &self.world, &mut self.dice) else {
            return Ok(());
        };
        let profile = self.new_profile(kind);
        let client_id = self.dice.id();
        let command = ClientCommand::Register(RegisterClient {
            client_id,
            name: profile.name,
            kind,
            size: profile.size,
            industry: profile.industry,
            region: Some(profile.region),
            source: Some((*self.dice.weighted(sales::PROSPECT_SOURCES)).to_owned()),
            manager: self.world.manager(manager),
            contacts: profile.contacts,
        });
        let events = decide::<ClientState>("register client", None, command)?;
        if !self.commit(Actor::Manager(manager), events) {
            return Ok(());
        }
        self.client_list.push(client_id);
        self.client_info.insert(client_id, ClientInfo::default());
        let called = self.interaction(Contacted {
            manager,
            kind: InteractionKind::Call,
            direction: Direction::Outbound,
            client: Some(client_id),
            deal: None,
            lead: None,
            goal: "first contact",
        })?;
        if !called {
            return Ok(());
        }
        if self.dice.chance(0.55) {
            let later = self.now + Duration::days(self.dice.int(1, 10));
            let at = time::working(later, &mut self.dice);
            self.plan(at, Action::DirectDeal(client_id));
        } else if self.dice.chance(0.5) {
            let (title, kind) = *self.dice.pick(sales::CLIENT_TASKS);
            let later = self.now + Duration::days(self.dice.int(2, 20));
            let due = time::working(later, &mut self.dice);
            self.schedule_task(manager, Some(client_id), None, title, kind, due)?;
        }
        Ok(())
    }

    /// A deal opened directly with a client (no lead): new business with a
    /// prospect, or repeat business.
    fn open_deal(
        &mut self,
        client_id: Uuid,
        line: Line,
        source: Option<String>,
    ) -> Result<(), SeedError> {
        let Some(client) = self
            .world
            .clients
            .get(&client_id)
            .and_then(|c| c.client.clone())
        else {
            return Ok(());
        };
        if !self.world.active(client.manager_id) {
            return Ok(());
        }
        let Some(pipe) = self.pipe(line) else {
            return Ok(());
        };
        let (pipeline_id, plan) = (self.pipes[pipe].id, self.pipes[pipe].plan);
        let cycle = self.dice.int(plan.cycle_days.0, plan.cycle_days.1);
        let deal_id = self.dice.id();
        let command = DealCommand::Open(OpenDeal {
            deal_id,
            client: self.world.client(client_id),
            pipeline: crm_domain::Ref::new(
                pipeline_id,
                self.world
                    .pipelines
                    .get(&pipeline_id)
                    .cloned()
                    .unwrap_or_default(),
            ),
            stage_id: None,
            title: (*self.dice.pick(plan.titles)).to_owned(),
            amount: sales::deal_amount(line, client.kind, client.size.as_deref(), &mut self.dice),
            manager: self.world.manager(client.manager_id),
            source,
            expected_close_on: Some((self.now + Duration::days(cycle)).date_naive()),
            lead: None,
        });
        let events = decide::<DealState>("open deal", None, command)?;
        if self.commit(Actor::Manager(client.manager_id), events) {
            self.deal_opened(deal_id)?;
        }
        Ok(())
    }

    /// The first deal with a client found by prospecting.
    pub(super) fn direct_deal(&mut self, client_id: Uuid) -> Result<(), SeedError> {
        let Some(client) = self
            .world
            .clients
            .get(&client_id)
            .and_then(|c| c.client.clone())
        else {
            return Ok(());
        };
        let line = match client.kind {
            ClientKind::Company => Line::Companies,
            ClientKind::Person => Line::Persons,
        };
        self.open_deal(client_id, line, client.source)
    }

    /// A client who bought before buys again.
    pub(super) fn repeat_business(&mut self, client_id: Uuid) -> Result<(), SeedError> {
        let Some(kind) = self
            .world
            .clients
            .get(&client_id)
            .and_then(|c| c.client.as_ref())
            .map(|c| c.kind)
        else {
            return Ok(());
        };
        let line = match kind {
            ClientKind::Company if self.dice.chance(0.75) => Line::Renewals,
            ClientKind::Company => Line::Companies,
            ClientKind::Person => Line::Persons,
        };
        self.open_deal(client_id, line, Some("repeat".to_owned()))
    }

    /// A client's card: completed after a conversion from what the manager learnt
    /// (a company's name, size, industry, region and contacts; a person's region),
    /// else some change (a move, a new contact).
    pub(super) fn client_update(&mut self, client_id: Uuid) -> Result<(), SeedError> {
        let Some(client) = self
            .world
            .clients
            .get(&client_id)
            .and_then(|c| c.client.clone())
        else {
            return Ok(());
        };
        let card = self
            .client_info
            .get_mut(&client_id)
            .and_then(|i| i.card.take());
        let mut changes = ClientChanges::default();
        match card {
            Some(card) => {
                if client.kind == ClientKind::Company {
                    changes.name = Some(card.name);
                }
                changes.size = Some(card.size);
                changes.industry = Some(card.industry);
                changes.region = Some(Some(card.region));
                if client.kind == ClientKind::Company {
                    changes.contacts = Some(card.contacts);
                }
            }
            None if self.dice.chance(0.5) => {
                changes.region = Some(Some((*self.dice.weighted(company::REGIONS)).to_owned()));
            }
            None => {
                let mut contacts = client.contacts.clone();
                let name = company::person_name(&mut self.dice);
                contacts.push(Contact {
                    phone: Some(company::phone(&mut self.dice)),
                    email: self
                        .dice
                        .chance(0.5)
                        .then(|| company::personal_email(&name, &mut self.dice)),
                    name,
                });
                changes.contacts = Some(contacts);
            }
        }
        // Only what differs from the card: the domain refuses an update that changes nothing.
        if changes.name.as_ref() == Some(&client.name) {
            changes.name = None;
        }
        if changes.size.as_ref() == Some(&client.size) {
            changes.size = None;
        }
        if changes.industry.as_ref() == Some(&client.industry) {
            changes.industry = None;
        }
        if changes.region.as_ref() == Some(&client.region) {
            changes.region = None;
        }
        if changes.contacts.as_ref() == Some(&client.contacts) {
            changes.contacts = None;
        }
        if changes.is_empty() || !self.world.active(client.manager_id) {
            return Ok(());
        }
        let state = self.world.clients.get(&client_id).cloned();
        let events = decide(
            "update client",
            state.as_ref(),
            ClientCommand::Update { client_id, changes },
        )?;
        self.commit(Actor::Manager(client.manager_id), events);
        Ok(())
    }

    /// Some client changes hands within its department.
    pub(super) fn client_reassign(&mut self) -> Result<(), SeedError> {
        if self.client_list.is_empty() {
            return Ok(());
        }
        let client_id = *self.dice.pick(&self.client_list);
        let Some(client) = self
            .world
            .clients
            .get(&client_id)
            .and_then(|c| c.client.clone())
        else {
            return Ok(());
        };
        let Some(to) = self
            .team
            .colleague(client.manager_id, &self.world, &mut self.dice)
        else {
            return Ok(());
        };
        let dept = self.team.department_of(client.manager_id).unwrap_or(0);
        let state = self.world.clients.get(&client_id).cloned();
        let command = ClientCommand::Reassign {
            client_id,
            manager: self.world.manager(to),
        };
        let events = decide("reassign client", state.as_ref(), command)?;
        self.commit(self.team.boss_of(dept), events);
        Ok(())
    }
}
