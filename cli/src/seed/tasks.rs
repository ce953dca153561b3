//! A task's life: scheduled for a manager (with helpers and watchers now and
//! then), then done on time or late, rescheduled, passed on, cancelled, or
//! forgotten (and overdue once its time has passed).

use chrono::{DateTime, Duration, Utc};
use crm_domain::task::{ScheduleTask, Task, TaskCommand, TaskState, TaskStatus};
use uuid::Uuid;

use super::sales;
use super::story::{Action, Sim};
use super::time;
use super::world::{decide, Actor};
use super::SeedError;

/// The next thing that happens to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskMove {
    /// Done.
    Complete,
    /// Moved to a later time.
    Reschedule,
    /// Passed to a colleague.
    Reassign,
    /// Called off.
    Cancel,
}

impl Sim {
    /// Schedules a task for `assignee` due at `due`, and plans what becomes of it.
    pub(super) fn schedule_task(
        &mut self,
        assignee: Uuid,
        client: Option<Uuid>,
        deal: Option<Uuid>,
        title: &str,
        kind: &str,
        due: DateTime<Utc>,
    ) -> Result<(), SeedError> {
        if !self.world.active(assignee) {
            return Ok(());
        }
        let co_executors = match self.dice.chance(0.1) {
            true => self.team.colleague(assignee, &self.world, &mut self.dice),
            false => None,
        };
        let dept = self.team.department_of(assignee);
        let observer = dept
            .and_then(|d| self.team.departments.get(d))
            .and_then(|d| d.head)
            .filter(|h| *h != assignee && self.world.active(*h) && self.dice.chance(0.08));
        let task_id = self.dice.id();
        let command = TaskCommand::Schedule(ScheduleTask {
            task_id,
            title: title.to_owned(),
            kind: Some(kind.to_owned()),
            assignee: self.world.manager(assignee),
            due_at: due,
            client: client.map(|id| self.world.client(id)),
            deal: deal.map(|id| self.world.deal(id)),
            co_executors: co_executors
                .map(|m| self.world.manager(m))
                .into_iter()
                .collect(),
            observers: observer
                .map(|m| self.world.manager(m))
                .into_iter()
                .collect(),
        });
        let events = decide::<TaskState>("schedule task", None, command)?;
        if self.commit(Actor::Manager(assignee), events) {
            self.plan_task(task_id, true);
        }
        Ok(())
    }

    fn task_now(&self, task_id: Uuid) -> Option<Task> {
        self.world
            .tasks
            .get(&task_id)?
            .task
            .clone()
            .filter(|t| t.status == TaskStatus::Open)
    }

    /// Draws what becomes of an open task next; a task already moved once is not
    /// rescheduled or passed on again.
    fn plan_task(&mut self, task_id: Uuid, first: bool) {
        let Some(task) = self.task_now(task_id) else {
            return;
        };
        let (now, due) = (self.now, task.due_at);
        let before = |sim: &mut Sim, low: f64, high: f64| {
            let span = (due - now).num_minutes().max(30) as f64;
            now + Duration::minutes((span * sim.dice.uniform(low, high)) as i64)
        };
        let fates: &[(u8, f64)] = if first {
            &[
                (0, 58.0),
                (1, 14.0),
                (2, 10.0),
                (3, 5.0),
                (4, 7.0),
                (5, 6.0),
            ]
        } else {
            &[(0, 70.0), (1, 18.0), (4, 7.0), (5, 5.0)]
        };
        let (at, step) = match *self.dice.weighted(fates) {
            0 => (before(self, 0.2, 0.95), TaskMove::Complete),
            1 => {
                let late = due + Duration::minutes(self.dice.int(60, 3 * 1440));
                (time::working(late, &mut self.dice), TaskMove::Complete)
            }
            2 => (before(self, 0.3, 0.9), TaskMove::Reschedule),
            3 => (before(self, 0.1, 0.6), TaskMove::Reassign),
            4 => (before(self, 0.1, 1.2), TaskMove::Cancel),
            // Forgotten: nobody touches it again.
            _ => return,
        };
        let at = if at <= now {
            now + Duration::minutes(5)
        } else {
            at
        };
        self.plan(at, Action::Task(task_id, step));
    }

    /// A planned move of a task.
    pub(super) fn task_moves(&mut self, task_id: Uuid, step: TaskMove) -> Result<(), SeedError> {
        let Some(task) = self.task_now(task_id) else {
            return Ok(());
        };
        let state = self.world.tasks.get(&task_id).cloned();
        let assignee = Actor::Manager(task.assignee_id);
        match step {
            TaskMove::Complete => {
                let result = self
                    .dice
                    .chance(0.7)
                    .then(|| (*self.dice.pick(sales::TASK_RESULTS)).to_owned());
                let events = decide(
                    "complete task",
                    state.as_ref(),
                    TaskCommand::Complete { task_id, result },
                )?;
                self.commit(assignee, events);
            }
            TaskMove::Cancel => {
                let reason = self
                    .dice
                    .chance(0.8)
                    .then(|| (*self.dice.pick(sales::CANCEL_REASONS)).to_owned());
                let events = decide(
                    "cancel task",
                    state.as_ref(),
                    TaskCommand::Cancel { task_id, reason },
                )?;
                self.commit(assignee, events);
            }
            TaskMove::Reschedule => {
                let later = task.due_at + Duration::hours(self.dice.int(20, 5 * 24));
                let due_at = time::working(later, &mut self.dice);
                let due_at = if due_at == task.due_at {
                    due_at + Duration::hours(1)
                } else {
                    due_at
                };
                let events = decide(
                    "reschedule task",
                    state.as_ref(),
                    TaskCommand::Reschedule { task_id, due_at },
                )?;
                if self.commit(assignee, events) {
                    self.plan_task(task_id, false);
                }
            }
            TaskMove::Reassign => {
                let Some(to) = self
                    .team
                    .colleague(task.assignee_id, &self.world, &mut self.dice)
                else {
                    self.plan_task(task_id, false);
                    return Ok(());
                };
                let command = TaskCommand::Reassign {
                    task_id,
                    assignee: self.world.manager(to),
                };
                let events = decide("reassign task", state.as_ref(), command)?;
                let boss = self
                    .team
                    .department_of(task.assignee_id)
                    .map_or(assignee, |d| self.team.boss_of(d));
                if self.commit(boss, events) {
                    self.plan_task(task_id, false);
                }
            }
        }
        Ok(())
    }
}
