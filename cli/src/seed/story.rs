//! [`Sim`]: the company's year played out. Everything that is to happen is an
//! [`Action`] on the agenda; the run takes them in time order, each one deciding
//! commands through the domain and planning what follows, until the log has its
//! events or the year ends.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use crm_domain::values::ClientKind;
use uuid::Uuid;

use super::batch::Batch;
use super::business::{Books, CATALOGUE};
use super::company::Profile;
use super::plans::Tallies;
use super::random::Dice;
use super::sales::PipelinePlan;
use super::tasks::TaskMove;
use super::team::Team;
use super::time::{Agenda, Timeline};
use super::volume::Volume;
use super::world::{Actor, World};
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
    /// A new deal gets its lines.
    DealLines(Uuid),
    /// A won deal is invoiced.
    Invoice(Uuid),
    /// A payment of an invoice comes in: this amount, or 0 for all outstanding.
    Payment(Uuid, i64),
    /// The goods of a paid deal are shipped.
    Ship(Uuid),
    /// The month's plans are set.
    SetPlans,
    /// A manager's plan for the month is replaced.
    RevisePlan(Uuid),
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
    /// Every client's name key (see [`super::company::client_key`]), so that
    /// names do not repeat but where a duplicate is meant.
    pub client_names: HashSet<String>,
    /// What the story keeps about clients.
    pub client_info: HashMap<Uuid, ClientInfo>,
    /// What the story keeps about open leads.
    pub lead_info: HashMap<Uuid, LeadInfo>,
    /// How much happens.
    pub volume: Volume,
    /// The catalogue and the invoices' numbering.
    pub books: Books,
    /// What each manager did this month and the last, for the plans.
    pub tallies: Tallies,
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
        let setup = (team.setup_events() + CATALOGUE.len()) as u64;
        Sim {
            dice: Dice::new(seed),
            time,
            agenda,
            world: World::new(events, batch_size),
            team,
            pipes: Vec::new(),
            client_list: Vec::new(),
            client_names: HashSet::new(),
            client_info: HashMap::new(),
            lead_info: HashMap::new(),
            volume: Volume::new(events, setup),
            books: Books::default(),
            tallies: Tallies::default(),
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
            // The setup goes alone in the first append (see `run::seed_after_setup`).
            Action::Setup => self.setup().map(|()| self.world.cut()),
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
            Action::DealLines(id) => self.deal_lines(id),
            Action::Invoice(id) => self.invoice(id),
            Action::Payment(id, amount) => self.payment(id, amount),
            Action::Ship(id) => self.ship(id),
            Action::SetPlans => self.set_plans(),
            Action::RevisePlan(id) => self.revise_plan(id),
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
}
