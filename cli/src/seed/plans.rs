//! Monthly plans: on the first day of each month every department's head sets
//! each of his active managers' targets from what the manager did the month
//! before (a little more), and now and then replaces a plan in the middle of the
//! month.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, Utc};
use crm_domain::events::PlanTargets;
use crm_domain::plan::{plan_id, PlanCommand, PlanState, SetPlan};
use crm_domain::values::Month;
use uuid::Uuid;

use super::story::{Action, Sim};
use super::time;
use super::world::decide;
use super::SeedError;

/// What a manager did in a month, as the plans count it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    /// Calls made or taken.
    pub calls: i64,
    /// Meetings held.
    pub meetings: i64,
    /// Seconds on calls.
    pub call_seconds: i64,
    /// Deals won.
    pub deals_won: i64,
    /// Amount won, minor units.
    pub won_amount: i64,
}

/// Each manager's tally of the month running and of the month before.
#[derive(Default)]
pub struct Tallies {
    /// This month so far.
    pub now: HashMap<Uuid, Tally>,
    /// Last month.
    pub before: HashMap<Uuid, Tally>,
}

impl Tallies {
    /// The manager's tally this month, to add to.
    pub fn of(&mut self, manager: Uuid) -> &mut Tally {
        self.now.entry(manager).or_default()
    }
}

/// The chance that a month's plan is replaced in its middle.
const REVISED: f64 = 0.08;

/// The month of `at`.
fn month_of(at: DateTime<Utc>) -> Option<Month> {
    Month::new(at.year(), at.month())
}

/// `value` scaled by `factor`, rounded to a multiple of `step`, None when it
/// comes to nothing.
fn target(value: i64, factor: f64, step: i64) -> Option<i64> {
    let scaled = ((value as f64 * factor / step as f64).round() as i64) * step;
    (scaled >= 1).then_some(scaled)
}

impl Sim {
    /// A new month begins (`midnight` of its first day): its plans are set in the
    /// morning.
    pub(super) fn plan_month(&mut self, midnight: DateTime<Utc>) {
        let at = time::working(midnight + Duration::hours(8), &mut self.dice);
        self.plan(at, Action::SetPlans);
    }

    /// Every active manager's plan for this month, set by his head.
    pub(super) fn set_plans(&mut self) -> Result<(), SeedError> {
        let Some(month) = month_of(self.now) else {
            return Ok(());
        };
        self.tallies.before = std::mem::take(&mut self.tallies.now);
        for dept in 0..self.team.departments.len() {
            let members = self.team.departments[dept].members.clone();
            let active: Vec<Uuid> = members
                .into_iter()
                .filter(|m| self.world.active(*m))
                .collect();
            if active.is_empty() {
                continue;
            }
            // A newcomer's plan is the department's average.
            let mut sum = Tally::default();
            for m in &active {
                let t = self.tallies.before.get(m).copied().unwrap_or_default();
                sum.calls += t.calls;
                sum.meetings += t.meetings;
                sum.call_seconds += t.call_seconds;
                sum.deals_won += t.deals_won;
                sum.won_amount += t.won_amount;
            }
            let n = active.len() as i64;
            let average = Tally {
                calls: sum.calls / n,
                meetings: sum.meetings / n,
                call_seconds: sum.call_seconds / n,
                deals_won: sum.deals_won / n,
                won_amount: sum.won_amount / n,
            };
            for manager in active {
                let last = self
                    .tallies
                    .before
                    .get(&manager)
                    .copied()
                    .filter(|t| t.calls > 0)
                    .unwrap_or(average);
                let factor = self.dice.uniform(1.0, 1.25);
                let targets = PlanTargets {
                    calls: target(last.calls, factor, 5).or(Some(20)),
                    meetings: target(last.meetings, factor, 1),
                    call_seconds: target(last.call_seconds, factor, 600),
                    deals_won: target(last.deals_won, factor, 1),
                    won_amount: target(last.won_amount, factor, 100_000),
                };
                if !self.set_plan(dept, manager, month, targets)? {
                    return Ok(());
                }
                if self.dice.chance(REVISED) {
                    let later = self.now + Duration::days(self.dice.int(7, 18));
                    let at = time::working(later, &mut self.dice);
                    if month_of(at) == Some(month) {
                        self.plan(at, Action::RevisePlan(manager));
                    }
                }
            }
        }
        Ok(())
    }

    /// The manager's plan for this month replaced: every target a little up or down.
    pub(super) fn revise_plan(&mut self, manager: Uuid) -> Result<(), SeedError> {
        let Some(month) = month_of(self.now) else {
            return Ok(());
        };
        let Some(old) = self
            .world
            .plans
            .get(&plan_id(manager, month))
            .and_then(|p| p.plan.clone())
        else {
            return Ok(());
        };
        let Some(dept) = self.team.department_of(manager) else {
            return Ok(());
        };
        if !self.world.active(manager) {
            return Ok(());
        }
        let factor = if self.dice.chance(0.6) {
            self.dice.uniform(0.8, 0.95)
        } else {
            self.dice.uniform(1.05, 1.2)
        };
        let t = old.targets;
        let scale = |value: Option<i64>, step: i64| value.and_then(|v| target(v, factor, step));
        let targets = PlanTargets {
            calls: scale(t.calls, 5).or(t.calls),
            meetings: scale(t.meetings, 1),
            call_seconds: scale(t.call_seconds, 600),
            deals_won: scale(t.deals_won, 1),
            won_amount: scale(t.won_amount, 100_000),
        };
        self.set_plan(dept, manager, month, targets)?;
        Ok(())
    }

    fn set_plan(
        &mut self,
        dept: usize,
        manager: Uuid,
        month: Month,
        targets: PlanTargets,
    ) -> Result<bool, SeedError> {
        let state = self.world.plans.get(&plan_id(manager, month)).cloned();
        let command = PlanCommand::Set(SetPlan {
            manager: self.world.manager(manager),
            month,
            targets,
        });
        let events = decide::<PlanState>("set plan", state.as_ref(), command)?;
        Ok(self.commit(self.team.boss_of(dept), events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_whole_steps_or_nothing() {
        assert_eq!(target(103, 1.1, 5), Some(115));
        assert_eq!(target(0, 1.2, 1), None);
        assert_eq!(target(2, 1.0, 600), None);
        assert_eq!(target(12_345_678, 1.0, 100_000), Some(12_300_000));
    }
}
