//! The sales team at work: set up with the pipelines on the first day, managers
//! picked for leads and clients, and the year's turnover (a manager leaves,
//! handing his book to a colleague, and another joins).

use std::collections::{HashMap, HashSet};

use crm_domain::handover::Handover;
use crm_domain::manager::{ManagerCommand, ManagerState};
use crm_domain::pipeline::{PipelineCommand, PipelineState};
use crm_domain::values::{ClientKind, Role, Stage};
use crm_domain::Aggregate;
use uuid::Uuid;

use super::company::{self, DepartmentPlan};
use super::random::Dice;
use super::sales::{Line, PIPELINES};
use super::story::{Action, Pipe, Sim};
use super::time::{self, SPAN_DAYS};
use super::world::{decide, Actor, World};
use super::SeedError;

/// A department: its head and its active managers.
pub struct Department {
    /// Its plan: name, focus and size.
    pub plan: DepartmentPlan,
    /// Its head, once registered.
    pub head: Option<Uuid>,
    /// Its active managers, head not included.
    pub members: Vec<Uuid>,
}

/// The sales team.
pub struct Team {
    /// The director, once registered.
    pub director: Option<Uuid>,
    /// The departments.
    pub departments: Vec<Department>,
    /// Every manager's department.
    home: HashMap<Uuid, usize>,
    names: HashSet<String>,
}

impl Team {
    /// The team for a log of `events`, not registered yet.
    pub fn planned(events: u64) -> Self {
        let departments = company::departments(company::sales_staff(events))
            .into_iter()
            .map(|plan| Department {
                plan,
                head: None,
                members: Vec::new(),
            })
            .collect();
        Team {
            director: None,
            departments,
            home: HashMap::new(),
            names: HashSet::new(),
        }
    }

    /// The events of the first day: pipelines, the director and every department.
    pub fn setup_events(&self) -> usize {
        PIPELINES.len() + 1 + self.departments.iter().map(|d| d.plan.size).sum::<usize>()
    }

    /// The department of a manager.
    pub fn department_of(&self, manager: Uuid) -> Option<usize> {
        self.home.get(&manager).copied()
    }

    /// A department selling to `kind`, bigger ones more often.
    pub fn department_for(&self, kind: ClientKind, dice: &mut Dice) -> usize {
        let choices: Vec<(usize, f64)> = self
            .departments
            .iter()
            .enumerate()
            .filter(|(_, d)| d.plan.focus == kind)
            .map(|(n, d)| (n, d.members.len() as f64 + 1.0))
            .collect();
        if choices.is_empty() {
            return dice.index(self.departments.len());
        }
        *dice.weighted(&choices)
    }

    /// Who in department `dept` takes on new work: mostly a manager, now and then
    /// the head himself.
    pub fn seller(&self, dept: usize, world: &World, dice: &mut Dice) -> Option<Uuid> {
        let department = self.departments.get(dept)?;
        let members: Vec<Uuid> = department
            .members
            .iter()
            .copied()
            .filter(|m| world.active(*m))
            .collect();
        let head = department.head.filter(|h| world.active(*h));
        if members.is_empty() || (head.is_some() && dice.chance(0.08)) {
            return head.or_else(|| members.first().copied());
        }
        Some(*dice.pick(&members))
    }

    /// Some active manager of any department.
    pub fn anyone(&self, world: &World, dice: &mut Dice) -> Option<Uuid> {
        if self.departments.is_empty() {
            return None;
        }
        let start = dice.index(self.departments.len());
        (0..self.departments.len())
            .map(|n| (start + n) % self.departments.len())
            .find_map(|dept| self.seller(dept, world, dice))
    }

    /// Another active manager of `of`'s department (its head included), if any.
    pub fn colleague(&self, of: Uuid, world: &World, dice: &mut Dice) -> Option<Uuid> {
        let department = self.departments.get(self.department_of(of)?)?;
        let others: Vec<Uuid> = department
            .members
            .iter()
            .copied()
            .chain(department.head)
            .filter(|m| *m != of && world.active(*m))
            .collect();
        (!others.is_empty()).then(|| *dice.pick(&others))
    }

    /// The head of `of`'s department, or the director: who hands out work.
    pub fn boss_of(&self, dept: usize) -> Actor {
        match self
            .departments
            .get(dept)
            .and_then(|d| d.head)
            .or(self.director)
        {
            Some(id) => Actor::Manager(id),
            None => Actor::Admin,
        }
    }

    fn unique_name(&mut self, dice: &mut Dice) -> String {
        for _ in 0..20 {
            let name = company::person_name(dice);
            if self.names.insert(name.clone()) {
                return name;
            }
        }
        let name = format!("{} {}", company::person_name(dice), self.names.len());
        self.names.insert(name.clone());
        name
    }
}

impl Sim {
    /// The first day: pipelines, the director, heads and managers; the year's
    /// departures planned.
    pub(super) fn setup(&mut self) -> Result<(), SeedError> {
        for plan in PIPELINES {
            let id = self.dice.id();
            let stages: Vec<Stage> = plan
                .stages
                .iter()
                .map(|s| Stage {
                    stage_id: self.dice.id(),
                    name: s.name.to_owned(),
                    probability: s.probability,
                })
                .collect();
            let ids = stages.iter().map(|s| s.stage_id).collect();
            let command = PipelineCommand::Define {
                pipeline_id: id,
                name: plan.name.to_owned(),
                stages,
            };
            let events = decide::<PipelineState>("define pipeline", None, command)?;
            if !self.commit(Actor::Admin, events) {
                return Ok(());
            }
            self.pipes.push(Pipe {
                id,
                plan,
                stages: ids,
            });
        }
        let Some(director) = self.register(None, Role::Director, "Management")? else {
            return Ok(());
        };
        self.team.director = Some(director);
        for dept in 0..self.team.departments.len() {
            let name = self.team.departments[dept].plan.name.clone();
            let Some(head) = self.register(Some(dept), Role::Head, &name)? else {
                return Ok(());
            };
            self.team.departments[dept].head = Some(head);
            for _ in 1..self.team.departments[dept].plan.size {
                if self.register(Some(dept), Role::Manager, &name)?.is_none() {
                    return Ok(());
                }
            }
        }
        if !self.define_catalogue()? {
            return Ok(());
        }
        let staff: usize = self.team.departments.iter().map(|d| d.members.len()).sum();
        for _ in 0..(staff / 12).max(1) {
            let day = self.dice.int(60, SPAN_DAYS - 35);
            let at = time::during_work(self.time.day(day), &mut self.dice);
            let dept = self.dice.index(self.team.departments.len());
            self.plan(at, Action::ManagerLeaves(dept));
        }
        Ok(())
    }

    /// Registers a manager in `dept` (a member unless he is its head); his id, or
    /// None when the log is full.
    fn register(
        &mut self,
        dept: Option<usize>,
        role: Role,
        department: &str,
    ) -> Result<Option<Uuid>, SeedError> {
        let id = self.dice.id();
        let name = self.team.unique_name(&mut self.dice);
        let command = ManagerCommand::Register {
            manager_id: id,
            email: Some(company::email(&name, "example.com")),
            name,
            department: department.to_owned(),
            role,
        };
        let events = decide::<ManagerState>("register manager", None, command)?;
        let actor = match self.team.director {
            Some(director) => Actor::Manager(director),
            None => Actor::Admin,
        };
        if !self.commit(actor, events) {
            return Ok(None);
        }
        if let Some(dept) = dept {
            self.team.home.insert(id, dept);
            if role == Role::Manager {
                self.team.departments[dept].members.push(id);
            }
        }
        Ok(Some(id))
    }

    /// A manager leaves: his clients, open deals, open tasks and open leads go to
    /// a colleague (one handover), then he is deactivated; someone joins later.
    pub(super) fn manager_leaves(&mut self, dept: usize) -> Result<(), SeedError> {
        // The department asked for, or the first after it with someone to spare.
        let count = self.team.departments.len();
        let Some(dept) = (0..count)
            .map(|n| (dept + n) % count)
            .find(|d| self.team.departments[*d].members.len() >= 2)
        else {
            return Ok(());
        };
        let members = self.team.departments[dept].members.clone();
        let leaving = *self.dice.pick(&members);
        let Some(to) = self.team.colleague(leaving, &self.world, &mut self.dice) else {
            return Ok(());
        };
        let handover = self.book_of(leaving, to);
        let state = self.world.managers.get(&leaving).cloned();
        let events = decide(
            "hand over",
            state.as_ref(),
            ManagerCommand::Handover {
                manager_id: leaving,
                handover,
            },
        )?;
        let boss = self.team.boss_of(dept);
        if !self.commit(boss, events) {
            return Ok(());
        }
        let state = self.world.managers.get(&leaving).cloned();
        let events = decide(
            "deactivate manager",
            state.as_ref(),
            ManagerCommand::Deactivate {
                manager_id: leaving,
            },
        )?;
        if !self.commit(boss, events) {
            return Ok(());
        }
        self.team.departments[dept]
            .members
            .retain(|m| *m != leaving);
        let later = self.now + chrono::Duration::days(self.dice.int(5, 25));
        let at = time::working(later, &mut self.dice);
        self.plan(at, Action::ManagerJoins(dept));
        Ok(())
    }

    /// Everything `from` is responsible for, in a fixed order, to hand to `to`.
    fn book_of(&self, from: Uuid, to: Uuid) -> Handover {
        fn sorted<S: Aggregate>(mut states: Vec<S>) -> Vec<S> {
            states.sort_by_key(|s| s.id());
            states
        }
        let w = &self.world;
        Handover {
            to: w.manager(to),
            clients: sorted(
                w.clients
                    .values()
                    .filter(|s| s.client.as_ref().is_some_and(|c| c.manager_id == from))
                    .cloned()
                    .collect(),
            ),
            deals: sorted(
                w.deals
                    .values()
                    .filter(|s| {
                        s.deal.as_ref().is_some_and(|d| {
                            d.manager_id == from && d.status == crm_domain::deal::DealStatus::Open
                        })
                    })
                    .cloned()
                    .collect(),
            ),
            tasks: sorted(
                w.tasks
                    .values()
                    .filter(|s| {
                        s.task.as_ref().is_some_and(|t| {
                            t.assignee_id == from && t.status == crm_domain::task::TaskStatus::Open
                        })
                    })
                    .cloned()
                    .collect(),
            ),
            leads: sorted(
                w.leads
                    .values()
                    .filter(|s| {
                        s.lead
                            .as_ref()
                            .is_some_and(|l| l.manager_id == Some(from) && l.is_open())
                    })
                    .cloned()
                    .collect(),
            ),
        }
    }

    /// A new manager joins department `dept`.
    pub(super) fn manager_joins(&mut self, dept: usize) -> Result<(), SeedError> {
        let name = self.team.departments[dept].plan.name.clone();
        self.register(Some(dept), Role::Manager, &name)?;
        Ok(())
    }

    /// The pipeline for `line`.
    pub fn pipe(&self, line: Line) -> Option<usize> {
        self.pipes.iter().position(|p| p.plan.line == line)
    }

    /// The pipeline with this id.
    pub fn pipe_by_id(&self, id: Uuid) -> Option<usize> {
        self.pipes.iter().position(|p| p.id == id)
    }
}
