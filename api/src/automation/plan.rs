//! What the rules plan for an event or a deadline: the runner's view of the rules
//! (each acting on the events after its definition), of the team (in order of
//! registration), and the context each kind's pure reaction needs, gathered from
//! stream loads and, for `least_busy`, the leads and deals read models.

use std::collections::HashMap;
use std::time::Duration;

use crm_domain::automation::{
    self, follow_up, reminder, round_robin, sla, stage_task, Member, Planned, Trigger,
};
use crm_domain::deal::DealState;
use crm_domain::lead::LeadState;
use crm_domain::rule::{self, Rule, RuleSpec, RuleState, Strategy};
use crm_domain::task::TaskState;
use crm_domain::{DomainEvent, EntityKind};
use crm_eventlog::{Cursor, EventLog, RecordedEvent};
use uuid::Uuid;

use super::act::first_event_id;
use super::store::DueEntry;
use crate::commands::{CommandError, Commands};

/// How long a `least_busy` pick waits for the leads and deals read models to reflect
/// the runner's last events before counting on them as they stand.
const WORKLOAD_WAIT: Duration = Duration::from_secs(5);

/// The event types the runner follows: what defines rules and the team, and what
/// any kind reacts to or keeps deadlines by.
pub const FOLLOWED: &[&str] = &[
    "RuleDefined",
    "RuleDisabled",
    "ManagerRegistered",
    "ManagerDeactivated",
    "LeadCaptured",
    "LeadConverted",
    "LeadRejected",
    "InteractionLogged",
    "DealOpened",
    "DealStageChanged",
    "DealReopened",
    "DealWon",
    "TaskScheduled",
    "TaskRescheduled",
    "TaskCompleted",
    "TaskCancelled",
];

/// The rules in order of definition, as of the runner's place in the feed: each
/// one's state as the domain's [`rule::evolve`] folds it.
#[derive(Debug, Default)]
pub struct Rules {
    rules: Vec<RuleState>,
}

impl Rules {
    /// The rules defined (and disabled) up to `cursor`, from their streams' events.
    pub async fn up_to(log: &EventLog, cursor: Cursor) -> Result<Rules, CommandError> {
        let types = ["RuleDefined".to_owned(), "RuleDisabled".to_owned()];
        let mut rules = Rules::default();
        for stored in log.read_types(&types, 0, usize::MAX).await? {
            if stored.cursor() <= cursor {
                if let Some(event) = readable(&stored) {
                    rules.follow(&event);
                }
            }
        }
        Ok(rules)
    }

    /// Takes a rule's definition or disabling into account.
    pub fn follow(&mut self, event: &DomainEvent) {
        let id = match event {
            DomainEvent::RuleDefined(e) => e.rule_id,
            DomainEvent::RuleDisabled(e) => e.rule_id,
            _ => return,
        };
        let known = self
            .rules
            .iter_mut()
            .find(|state| state.rule.as_ref().is_some_and(|r| r.id == id));
        match known {
            Some(state) => *state = rule::evolve(std::mem::take(state), event),
            None => {
                let state = rule::evolve(RuleState::default(), event);
                if state.rule.is_some() {
                    self.rules.push(state);
                }
            }
        }
    }

    /// The enabled rules.
    pub fn active(&self) -> impl Iterator<Item = &Rule> {
        self.rules
            .iter()
            .filter_map(|state| state.rule.as_ref())
            .filter(|r| r.active)
    }

    /// The rule `id`, if enabled.
    pub fn get(&self, id: Uuid) -> Option<&Rule> {
        self.active().find(|r| r.id == id)
    }

    /// True when no rule is enabled.
    pub fn is_empty(&self) -> bool {
        self.active().next().is_none()
    }
}

/// The registered team in order of registration, as the log says now.
#[derive(Debug, Default)]
pub struct Roster {
    members: Vec<Member>,
}

impl Roster {
    /// Every manager registered so far, deactivations applied.
    pub async fn load(log: &EventLog) -> Result<Roster, CommandError> {
        let types = [
            "ManagerRegistered".to_owned(),
            "ManagerDeactivated".to_owned(),
        ];
        let mut roster = Roster::default();
        for stored in log.read_types(&types, 0, usize::MAX).await? {
            if let Some(event) = readable(&stored) {
                roster.follow(&event);
            }
        }
        Ok(roster)
    }

    /// Takes a registration or deactivation into account (again: no change).
    pub fn follow(&mut self, event: &DomainEvent) {
        match event {
            DomainEvent::ManagerRegistered(e)
                if !self.members.iter().any(|m| m.manager_id == e.manager_id) =>
            {
                self.members.push(Member {
                    manager_id: e.manager_id,
                    department: e.department.clone(),
                    role: e.role,
                    active: true,
                    open_work: 0,
                });
            }
            DomainEvent::ManagerDeactivated(e) => {
                if let Some(m) = self
                    .members
                    .iter_mut()
                    .find(|m| m.manager_id == e.manager_id)
                {
                    m.active = false;
                }
            }
            _ => {}
        }
    }
}

/// An event of the feed, decoded.
pub fn decode(stored: &RecordedEvent) -> Result<DomainEvent, CommandError> {
    DomainEvent::from_stored_ref(&stored.event_type, stored.schema_version, &stored.data)
        .map_err(|e| CommandError::internal(format!("event at position {}: {e}", stored.position)))
}

/// The event `stored` decoded, or None (logged) for one the runner cannot read: passed
/// over at start-up as while following, rather than stopping the runner on every start.
pub fn readable(stored: &RecordedEvent) -> Option<DomainEvent> {
    match decode(stored) {
        Ok(event) => Some(event),
        Err(err) => {
            tracing::warn!(error = %err, "automation skips an undecodable event");
            None
        }
    }
}

/// What the runner gathers context with.
pub struct Planner<'a> {
    /// The command path (stream loads).
    pub commands: &'a Commands,
    /// The team.
    pub roster: &'a Roster,
    /// Each round robin's last pick.
    pub last_assigned: &'a HashMap<Uuid, Uuid>,
    /// The last position the runner saw or appended (what `least_busy` waits for).
    pub seen: i64,
}

impl Planner<'_> {
    /// The commands `rule` plans for `trigger` (nothing unless it reacts to it). For a
    /// round robin whose lead is assigned already, the pick this rule made for it, if
    /// the log has it (a run before a crash): returned beside, to be remembered.
    pub async fn react(
        &self,
        rule: &Rule,
        trigger: &Trigger<'_>,
    ) -> Result<(Vec<Planned>, Option<Uuid>), CommandError> {
        if !automation::reacts_to(rule, trigger.event) {
            return Ok((Vec::new(), None));
        }
        let (_, entity) = trigger.event.entity();
        match &rule.spec {
            RuleSpec::LeadRoundRobin(params) => {
                let lead: LeadState = self.commands.state(EntityKind::Lead, entity).await?;
                let mut managers = self.roster.members.clone();
                // Only a lead with no manager is assigned: count work for it alone.
                let unassigned = lead.lead.as_ref().is_some_and(|l| l.manager_id.is_none());
                if params.strategy == Strategy::LeastBusy && unassigned {
                    self.count_work(&mut managers).await?;
                }
                let ctx = round_robin::Context {
                    lead: lead.lead.as_ref(),
                    managers: &managers,
                    last_assigned: self.last_assigned.get(&rule.id).copied(),
                };
                let planned = round_robin::react(rule, trigger, &ctx);
                let earlier = match (&lead.lead, planned.is_empty()) {
                    (Some(l), true) if l.manager_id.is_some() => {
                        self.earlier_pick(rule.id, trigger.event_id, entity).await?
                    }
                    _ => None,
                };
                Ok((planned, earlier))
            }
            RuleSpec::TaskOnStage(_) => {
                let deal: DealState = self.commands.state(EntityKind::Deal, entity).await?;
                Ok((stage_task::react(rule, trigger, deal.deal.as_ref()), None))
            }
            RuleSpec::FollowUpAfterWin(_) => {
                let deal: DealState = self.commands.state(EntityKind::Deal, entity).await?;
                Ok((follow_up::react(rule, trigger, deal.deal.as_ref()), None))
            }
            RuleSpec::LeadSla(_) | RuleSpec::TaskReminder(_) => Ok((Vec::new(), None)),
        }
    }

    /// What a deadline fires, on the subject as it stands now.
    pub async fn fire(&self, rule: &Rule, entry: &DueEntry) -> Result<Vec<Planned>, CommandError> {
        let due = &entry.due;
        match &rule.spec {
            RuleSpec::LeadSla(_) => {
                let lead: LeadState = self
                    .commands
                    .state(EntityKind::Lead, due.subject_id)
                    .await?;
                let ctx = sla::Context {
                    lead: lead.lead.as_ref(),
                    answered_at: entry.answered_at,
                    managers: &self.roster.members,
                };
                Ok(sla::fire(rule, due, &ctx))
            }
            RuleSpec::TaskReminder(_) => {
                let task: TaskState = self
                    .commands
                    .state(EntityKind::Task, due.subject_id)
                    .await?;
                Ok(reminder::fire(rule, due, task.task.as_ref()))
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Fills in each member's open work, once the read models reflect what the
    /// runner has seen (or after [`WORKLOAD_WAIT`], as they stand).
    async fn count_work(&self, managers: &mut [Member]) -> Result<(), CommandError> {
        let log = self.commands.log();
        // Nothing seen yet (a first run on an empty log): nothing to wait for.
        let names = if self.seen > 0 {
            [crm_projections::leads::NAME, crm_projections::deals::NAME].as_slice()
        } else {
            [].as_slice()
        };
        for name in names {
            if let Err(err) =
                crm_projections::wait_until_reflects(log, name, self.seen, WORKLOAD_WAIT).await
            {
                tracing::warn!(read_model = name, error = %err,
                    "counting open work on a lagging read model");
            }
        }
        let work = crm_projections::managers::open_work(log.pool()).await?;
        for m in managers {
            m.open_work = work.get(&m.manager_id).copied().unwrap_or(0);
        }
        Ok(())
    }

    /// The manager this rule's assignment of `lead_id` (planned for `trigger_id`)
    /// went to, if the lead's stream holds it.
    async fn earlier_pick(
        &self,
        rule_id: Uuid,
        trigger_id: Uuid,
        lead_id: Uuid,
    ) -> Result<Option<Uuid>, CommandError> {
        let command = automation::command_id(rule_id, trigger_id, "assign");
        let event_id = first_event_id(command);
        let stream = EntityKind::Lead.stream(lead_id);
        let events = self
            .commands
            .log()
            .read_stream(&stream, 1, usize::MAX)
            .await?;
        Ok(events
            .iter()
            .find(|e| e.event_id == event_id)
            .and_then(|e| e.data["manager_id"].as_str())
            .and_then(|s| s.parse().ok()))
    }
}
