//! [`Sim`]: the company's year played out. Everything that is to happen is an
//! [`Action`] on the agenda; the run takes them in time order, each one deciding
//! commands through the domain and planning what follows. Each day plans the day's
//! new leads and other work, in numbers steered so the log ends with its events
//! spread over the whole year.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, Utc};
use crm_domain::interaction::{InteractionCommand, LogInteraction};
use crm_domain::values::{ClientKind, Direction, InteractionKind};
use uuid::Uuid;

use super::batch::Batch;
use super::company::Profile;
use super::random::Dice;
use super::sales::PipelinePlan;
use super::tasks::TaskMove;
use super::team::Team;
use super::time::{self, Agenda, Timeline, SPAN_DAYS};
use super::world::{decide, Actor, World};
use super::SeedError;

/// Something that is to happen at a planned time.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    /// The team and the pipelines are set up.
    Setup,
    /// A new day: its leads and other work are planned.
    Day(i64),
    /// A request comes in.
    LeadArrives,
    /// A head gives an unassigned lead to a manager.
    LeadAssign(Uuid),
    /// A manager answers a lead.
    LeadAnswer(Uuid),
    /// A manager gets back to a lead he answered.
    LeadFollowUp(Uuid),
    /// A lead is converted or rejected.
    LeadDecide(Uuid),
    /// A lead nobody answered is given up.
    LeadDrop(Uuid),
    /// A deal moves on: to another stage, won or lost.
    DealStep(Uuid),
    /// A call, email, meeting or message about a deal.
    DealContact(Uuid),
    /// A stalled deal is written off.
    DealCleanup(Uuid),
    /// A won or lost deal is opened again.
    DealReopen(Uuid),
    /// A task moves on.
    Task(Uuid, TaskMove),
    /// A manager finds a client himself.
    Prospect,
    /// A deal opened with a client found by prospecting.
    DirectDeal(Uuid),
    /// A client who bought before buys again.
    RepeatBusiness(Uuid),
    /// A call or message with some client, not about a deal.
    AccountTouch,
    /// A client's card is completed or changed.
    ClientUpdate(Uuid),
    /// Some client passes to another manager.
    ClientReassign,
    /// A manager of this department leaves, handing his book over.
    ManagerLeaves(usize),
    /// A manager joins this department.
    ManagerJoins(usize),
}

/// A pipeline as defined, with its plan.
pub struct Pipe {
    /// Its id.
    pub id: Uuid,
    /// How deals go through it.
    pub plan: &'static PipelinePlan,
    /// Its stages' ids, in order.
    pub stages: Vec<Uuid>,
}

/// What the story remembers about a lead until it is closed.
pub struct LeadInfo {
    /// The kind of client behind it.
    pub kind: ClientKind,
    /// How likely it converts, relative to the average.
    pub quality: f64,
    /// The department it is for.
    pub department: usize,
    /// The card of the new client, filled in after conversion.
    pub profile: Option<Profile>,
}

/// What the story remembers about a client.
#[derive(Default)]
pub struct ClientInfo {
    /// The card still to fill in after a conversion.
    pub card: Option<Profile>,
    /// Deals won.
    pub won: u32,
}

/// How much happens each day: steered so the log fills the whole year.
pub struct Volume {
    /// The events to make.
    pub target: u64,
    /// New leads on an average day.
    pub leads: f64,
    /// Client touches on an average day.
    pub touches: f64,
    /// Prospecting finds on an average day.
    pub prospects: f64,
    /// Client card changes on an average day.
    pub updates: f64,
    /// Events made by the start of each day so far.
    pub by_day: Vec<u64>,
    /// Touches added only to fill the log, so far.
    pub filled: u64,
}

/// Events one lead brings within the year on average, its deal and the client's
/// repeat business included (measured on the model).
const EVENTS_PER_LEAD: f64 = 9.5;

impl Volume {
    fn new(target: u64, setup: u64) -> Self {
        let daily = target.saturating_sub(setup) as f64 / SPAN_DAYS as f64;
        Volume {
            target,
            leads: 0.8 * daily / EVENTS_PER_LEAD,
            touches: 0.05 * daily,
            prospects: 0.02 * daily / 8.0,
            updates: 0.004 * daily,
            by_day: Vec::new(),
            filled: 0,
        }
    }
}

/// The year being played.
pub struct Sim {
    /// All randomness.
    pub dice: Dice,
    /// The year.
    pub time: Timeline,
    /// What is still to happen.
    pub agenda: Agenda<Action>,
    /// Every entity's state.
    pub world: World,
    /// The sales team.
    pub team: Team,
    /// The pipelines.
    pub pipes: Vec<Pipe>,
    /// Every client registered, in order.
    pub client_list: Vec<Uuid>,
    /// What the story keeps about clients.
    pub client_info: HashMap<Uuid, ClientInfo>,
    /// What the story keeps about open leads.
    pub lead_info: HashMap<Uuid, LeadInfo>,
    /// How much happens.
    pub volume: Volume,
    /// The time of the action being played.
    pub now: DateTime<Utc>,
    /// Set when a command did not fit in the events left.
    full: bool,
    finished: bool,
}

impl Sim {
    /// A year ending at `time.until`, making exactly `events` events (fewer only if
    /// the setup alone is more) in appends of about `batch_size`.
    pub fn new(seed: u64, time: Timeline, events: u64, batch_size: usize) -> Self {
        let mut agenda = Agenda::new();
        agenda.plan(time.start, Action::Setup);
        agenda.plan(time.start, Action::Day(0));
        let team = Team::planned(events);
        let setup = team.setup_events() as u64;
        Sim {
            dice: Dice::new(seed),
            time,
            agenda,
            world: World::new(events, batch_size),
            team,
            pipes: Vec::new(),
            client_list: Vec::new(),
            client_info: HashMap::new(),
            lead_info: HashMap::new(),
            volume: Volume::new(events, setup),
            now: time.start,
            full: false,
            finished: false,
        }
    }

    /// The next batch of events, or None when the log is complete.
    pub fn next_batch(&mut self) -> Result<Option<Batch>, SeedError> {
        loop {
            if let Some(batch) = self.world.take() {
                return Ok(Some(batch));
            }
            if self.finished {
                return Ok(None);
            }
            if self.full || self.world.room() == 0 {
                self.fill_rest()?;
                self.finish();
                continue;
            }
            match self.agenda.next_before(self.time.until) {
                Some((at, action)) => {
                    self.now = at;
                    self.dice.set_clock(at);
                    self.act(action)?;
                }
                None => {
                    self.fill_rest()?;
                    self.finish();
                }
            }
        }
    }

    fn finish(&mut self) {
        self.world.cut();
        self.finished = true;
    }

    fn act(&mut self, action: Action) -> Result<(), SeedError> {
        match action {
            Action::Setup => self.setup(),
            Action::Day(n) => self.day(n),
            Action::LeadArrives => self.lead_arrives(),
            Action::LeadAssign(id) => self.lead_assign(id),
            Action::LeadAnswer(id) => self.lead_answer(id),
            Action::LeadFollowUp(id) => self.lead_follow_up(id),
            Action::LeadDecide(id) => self.lead_decide(id),
            Action::LeadDrop(id) => self.lead_drop(id),
            Action::DealStep(id) => self.deal_step(id),
            Action::DealContact(id) => self.deal_contact(id),
            Action::DealCleanup(id) => self.deal_cleanup(id),
            Action::DealReopen(id) => self.deal_reopen(id),
            Action::Task(id, step) => self.task_moves(id, step),
            Action::Prospect => self.prospect(),
            Action::DirectDeal(id) => self.direct_deal(id),
            Action::RepeatBusiness(id) => self.repeat_business(id),
            Action::AccountTouch => self.account_touch(),
            Action::ClientUpdate(id) => self.client_update(id),
            Action::ClientReassign => self.client_reassign(),
            Action::ManagerLeaves(dept) => self.manager_leaves(dept),
            Action::ManagerJoins(dept) => self.manager_joins(dept),
        }
    }

    /// Stages a decided command at the current time; remembers when it did not fit.
    pub fn commit(&mut self, actor: Actor, events: Vec<crm_domain::DomainEvent>) -> bool {
        let ok = self.world.commit(&mut self.dice, self.now, actor, events);
        if !ok {
            self.full = true;
        }
        ok
    }

    /// Plans `action` at `at`, if that is before the end.
    pub fn plan(&mut self, at: DateTime<Utc>, action: Action) {
        if at < self.time.until {
            self.agenda.plan(at, action);
        }
    }

    /// Plans a day's work: its leads, prospecting and client care, steering how
    /// much so the log fills the year.
    fn day(&mut self, n: i64) -> Result<(), SeedError> {
        let midnight = self.time.day(n);
        self.plan(self.time.day(n + 1), Action::Day(n + 1));
        self.volume.by_day.push(self.world.emitted());
        self.steer(n);
        let weekday = !time::weekend(midnight);
        // Five working days at full pace and two quiet ones average to one.
        let pace = if weekday { 1.0 / 0.814 } else { 0.35 / 0.814 };
        // Busier in spring and autumn, quieter around the new year and in summer.
        let season = 1.0
            - 0.15 * (f64::from(midnight.ordinal()) / 365.25 * 4.0 * std::f64::consts::PI).cos();
        for _ in 0..self.dice.round(self.volume.leads * pace * season) {
            let at = time::arrival(midnight, &mut self.dice);
            self.plan(at, Action::LeadArrives);
        }
        if weekday {
            for _ in 0..self.dice.round(self.volume.prospects / 0.714) {
                let at = time::during_work(midnight, &mut self.dice);
                self.plan(at, Action::Prospect);
            }
            let touches = self.touches_today(n) / 0.714;
            for _ in 0..self.dice.round(touches) {
                let at = time::during_work(midnight, &mut self.dice);
                self.plan(at, Action::AccountTouch);
            }
            if !self.client_list.is_empty() {
                for _ in 0..self.dice.round(self.volume.updates / 0.714) {
                    let client = *self.dice.pick(&self.client_list);
                    let at = time::during_work(midnight, &mut self.dice);
                    self.plan(at, Action::ClientUpdate(client));
                }
            }
            if self.dice.chance(0.25) {
                let at = time::during_work(midnight, &mut self.dice);
                self.plan(at, Action::ClientReassign);
            }
        }
        Ok(())
    }

    /// Steers the number of new leads toward making the target by the end: from
    /// the pace of the last two weeks, the multiplier the rest of the year needs,
    /// applied a little each day (a lead's events come over weeks).
    fn steer(&mut self, n: i64) {
        let days = &self.volume.by_day;
        let left = SPAN_DAYS - n;
        if n < 60 || left < 20 || days.len() < 15 {
            return;
        }
        let made = self.world.emitted();
        let organic = made.saturating_sub(self.volume.filled);
        let fortnight = days[days.len() - 15];
        let pace = organic.saturating_sub(fortnight.min(organic)) as f64 / 14.0;
        if pace <= 0.0 {
            return;
        }
        let wanted = (self.volume.target as f64 * 0.985 - made as f64).max(0.0);
        let factor = (wanted / (pace * left as f64)).clamp(0.7, 1.4);
        self.volume.leads *= factor.powf(0.015);
    }

    /// Client touches for today: the usual number, and in the last month more or
    /// fewer, so that at the pace of the last two weeks the log makes its target
    /// by the end (touches are one event each, made at once: an exact knob).
    fn touches_today(&mut self, n: i64) -> f64 {
        let usual = self.volume.touches;
        let left = SPAN_DAYS - n;
        let days = &self.volume.by_day;
        if left > 30 || days.len() < 15 {
            return usual;
        }
        let made = self.world.emitted();
        let pace = (days[days.len() - 1] - days[days.len() - 15]) as f64 / 14.0;
        let short = self.volume.target as f64 - made as f64 - pace * left as f64;
        let today = (usual + short / left as f64).max(0.0);
        self.volume.filled += (today - usual).max(0.0).round() as u64;
        today
    }

    /// Fills what is left of the log with client touches spread over the time left.
    fn fill_rest(&mut self) -> Result<(), SeedError> {
        let left = self.world.room();
        if left == 0 {
            return Ok(());
        }
        self.full = false;
        let from = self.now;
        let span = (self.time.until - from).num_seconds().max(1);
        for n in 0..left {
            let offset = span * n as i64 / left as i64;
            self.now = from + Duration::seconds(offset);
            self.dice.set_clock(self.now);
            if !self.touch_someone()? {
                break;
            }
        }
        Ok(())
    }

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
        });
        let events =
            decide::<crm_domain::interaction::InteractionState>("log interaction", None, command)?;
        Ok(self.commit(Actor::Manager(c.manager), events))
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
