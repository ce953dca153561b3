//! A deal's life: it moves through its pipeline's stages with contacts and tasks
//! between the steps, drops off at each stage with the stage's odds, stalls now
//! and then (and may be written off later), changes amount or manager, is won or
//! lost for a reason, and sometimes reopened.

use chrono::Duration;
use crm_domain::deal::{Deal, DealCommand, DealStatus};
use crm_domain::values::{ClientKind, Direction, InteractionKind};
use uuid::Uuid;

use super::contact::Contacted;
use super::sales::{self, Line};
use super::story::{Action, Sim};
use super::time;
use super::world::{decide, Actor};
use super::SeedError;

impl Sim {
    /// A deal was just opened: plan its first step.
    pub(super) fn deal_opened(&mut self, deal_id: Uuid) -> Result<(), SeedError> {
        self.plan_lines(deal_id);
        self.plan_step(deal_id)
    }

    fn deal_now(&self, deal_id: Uuid) -> Option<Deal> {
        self.world.deals.get(&deal_id)?.deal.clone()
    }

    /// Plans the deal's next step after the time its stage usually takes, contacts
    /// before it, and now and then a task.
    fn plan_step(&mut self, deal_id: Uuid) -> Result<(), SeedError> {
        let Some(deal) = self.deal_now(deal_id) else {
            return Ok(());
        };
        let Some(pipe) = self.pipe_by_id(deal.pipeline_id) else {
            return Ok(());
        };
        let plan = self.pipes[pipe].plan;
        let index = self.pipes[pipe]
            .stages
            .iter()
            .position(|s| *s == deal.stage_id)
            .unwrap_or(0);
        let mean = plan.stages.get(index).map_or(3.0, |s| s.mean_days);
        let days = self.dice.exp(mean) + 0.1;
        let later = self.now + Duration::minutes((days * 1440.0) as i64);
        let at = time::working(later, &mut self.dice);
        self.plan(at, Action::DealStep(deal_id));
        let contacts = match plan.line {
            Line::Companies => self.dice.int(1, 3),
            Line::Persons | Line::Renewals => self.dice.int(0, 2),
        };
        let span = (at - self.now).num_minutes().max(1);
        for _ in 0..contacts {
            let when = self.now + Duration::minutes(self.dice.int(1, span));
            let when = time::working(when, &mut self.dice);
            self.plan(when, Action::DealContact(deal_id));
        }
        if self.dice.chance(0.4) {
            let (title, kind) = *self.dice.pick(sales::DEAL_TASKS);
            let due = time::working(at + Duration::hours(self.dice.int(-24, 24)), &mut self.dice);
            let due = if due <= self.now { at } else { due };
            self.schedule_task(
                deal.manager_id,
                Some(deal.client_id),
                Some(deal_id),
                title,
                kind,
                due,
            )?;
        }
        Ok(())
    }

    /// The deal's manager, reassigned first to someone active when he has left
    /// (a closed deal keeps a manager who left; reopening brings it back).
    fn active_owner(&mut self, deal: &Deal) -> Result<Option<Uuid>, SeedError> {
        if self.world.active(deal.manager_id) {
            return Ok(Some(deal.manager_id));
        }
        let dept = self.team.department_of(deal.manager_id).unwrap_or(0);
        let Some(to) = self.team.seller(dept, &self.world, &mut self.dice) else {
            return Ok(None);
        };
        self.reassign(deal.id, to, dept).map(|ok| ok.then_some(to))
    }

    fn reassign(&mut self, deal_id: Uuid, to: Uuid, dept: usize) -> Result<bool, SeedError> {
        let state = self.world.deals.get(&deal_id).cloned();
        let command = DealCommand::Reassign {
            deal_id,
            manager: self.world.manager(to),
        };
        let events = decide("reassign deal", state.as_ref(), command)?;
        Ok(self.commit(self.team.boss_of(dept), events))
    }

    fn deal_command(
        &mut self,
        what: &'static str,
        deal_id: Uuid,
        actor: Uuid,
        command: DealCommand,
    ) -> Result<bool, SeedError> {
        let state = self.world.deals.get(&deal_id).cloned();
        let events = decide(what, state.as_ref(), command)?;
        Ok(self.commit(Actor::Manager(actor), events))
    }

    /// The deal moves on: maybe re-valued or passed on first, then to another
    /// stage, won, lost or stalled.
    pub(super) fn deal_step(&mut self, deal_id: Uuid) -> Result<(), SeedError> {
        let Some(deal) = self
            .deal_now(deal_id)
            .filter(|d| d.status == DealStatus::Open)
        else {
            return Ok(());
        };
        let Some(mut owner) = self.active_owner(&deal)? else {
            return Ok(());
        };
        let Some(pipe) = self.pipe_by_id(deal.pipeline_id) else {
            return Ok(());
        };
        let (plan, stages) = (self.pipes[pipe].plan, self.pipes[pipe].stages.clone());
        let pipeline = self
            .world
            .pipelines
            .get(&deal.pipeline_id)
            .cloned()
            .unwrap_or_default();
        let index = stages.iter().position(|s| *s == deal.stage_id).unwrap_or(0);
        let last = stages.len() - 1;
        if self.dice.chance(0.04) {
            if let Some(to) = self.team.colleague(owner, &self.world, &mut self.dice) {
                let dept = self.team.department_of(owner).unwrap_or(0);
                if !self.reassign(deal_id, to, dept)? {
                    return Ok(());
                }
                owner = to;
            }
        }
        if index > 0 && self.dice.chance(0.12) {
            let factor = if self.dice.chance(0.6) {
                self.dice.uniform(0.8, 0.97)
            } else {
                self.dice.uniform(1.05, 1.4)
            };
            let amount = ((deal.amount as f64 * factor / 10_000.0).round() as i64).max(1) * 10_000;
            if amount != deal.amount
                && !self.deal_command(
                    "change amount",
                    deal_id,
                    owner,
                    DealCommand::ChangeAmount { deal_id, amount },
                )?
            {
                return Ok(());
            }
        }
        if !self.maybe_drop_line(deal_id, owner)? {
            return Ok(());
        }
        let drop_off = plan.stages.get(index).map_or(0.2, |s| s.drop_off);
        if index == last {
            return if self.dice.chance(1.0 - drop_off) {
                self.win(deal_id, owner)
            } else {
                self.lose(deal_id, owner, index, stages.len())
            };
        }
        if self.dice.chance(drop_off) {
            return self.lose(deal_id, owner, index, stages.len());
        }
        if self.dice.chance(0.05) {
            // Stalled: nobody moves it any more; some are written off later.
            if self.dice.chance(0.45) {
                let later = self.now + Duration::days(self.dice.int(45, 120));
                let at = time::working(later, &mut self.dice);
                self.plan(at, Action::DealCleanup(deal_id));
            }
            return Ok(());
        }
        let to = if index + 2 <= last && self.dice.chance(0.05) {
            index + 2
        } else if index > 0 && self.dice.chance(0.03) {
            index - 1
        } else {
            index + 1
        };
        let command = DealCommand::ChangeStage {
            deal_id,
            stage_id: stages[to],
            pipeline,
        };
        if self.deal_command("change stage", deal_id, owner, command)? {
            self.plan_step(deal_id)?;
        }
        Ok(())
    }

    fn win(&mut self, deal_id: Uuid, owner: Uuid) -> Result<(), SeedError> {
        let Some(deal) = self.deal_now(deal_id) else {
            return Ok(());
        };
        // Won for its lines' total when it has lines, else now and then for a little less.
        let amount = match self.lines_total(deal_id) {
            Some(total) => (total != deal.amount).then_some(total),
            None => self.dice.chance(0.15).then(|| {
                ((deal.amount as f64 * self.dice.uniform(0.93, 0.99) / 10_000.0).round() as i64)
                    .max(1)
                    * 10_000
            }),
        };
        if !self.deal_command(
            "win deal",
            deal_id,
            owner,
            DealCommand::Win { deal_id, amount },
        )? {
            return Ok(());
        }
        let tally = self.tallies.of(owner);
        tally.deals_won += 1;
        tally.won_amount += amount.unwrap_or(deal.amount);
        let info = self.client_info.entry(deal.client_id).or_default();
        info.won += 1;
        let kind = self
            .world
            .clients
            .get(&deal.client_id)
            .and_then(|c| c.client.as_ref())
            .map(|c| c.kind);
        let again = if kind == Some(ClientKind::Company) {
            0.5
        } else {
            0.25
        };
        self.plan_invoice(deal_id, kind);
        if self.dice.chance(again) {
            let later = self.now + Duration::days(self.dice.int(30, 210));
            let at = time::working(later, &mut self.dice);
            self.plan(at, Action::RepeatBusiness(deal.client_id));
        }
        if self.dice.chance(0.025) {
            let later = self.now + Duration::days(self.dice.int(3, 30));
            let at = time::working(later, &mut self.dice);
            self.plan(at, Action::DealReopen(deal_id));
        }
        Ok(())
    }

    fn lose(
        &mut self,
        deal_id: Uuid,
        owner: Uuid,
        index: usize,
        stages: usize,
    ) -> Result<(), SeedError> {
        let (reason, comment) = sales::loss_reason(index, stages, &mut self.dice);
        let command = DealCommand::Lose {
            deal_id,
            reason,
            comment,
        };
        if self.deal_command("lose deal", deal_id, owner, command)? && self.dice.chance(0.05) {
            let later = self.now + Duration::days(self.dice.int(14, 60));
            let at = time::working(later, &mut self.dice);
            self.plan(at, Action::DealReopen(deal_id));
        }
        Ok(())
    }

    /// A stalled deal is written off in a pipeline review.
    pub(super) fn deal_cleanup(&mut self, deal_id: Uuid) -> Result<(), SeedError> {
        let Some(deal) = self
            .deal_now(deal_id)
            .filter(|d| d.status == DealStatus::Open)
        else {
            return Ok(());
        };
        let Some(owner) = self.active_owner(&deal)? else {
            return Ok(());
        };
        let reason = *self.dice.pick(&["Lost contact", "No decision"]);
        let command = DealCommand::Lose {
            deal_id,
            reason: reason.to_owned(),
            comment: Some("Closed in the pipeline review".to_owned()),
        };
        self.deal_command("write off deal", deal_id, owner, command)?;
        Ok(())
    }

    /// A closed deal is opened again: a lost one where it was (or a step back),
    /// a won one at its last stage; then it moves on as before.
    pub(super) fn deal_reopen(&mut self, deal_id: Uuid) -> Result<(), SeedError> {
        let Some(deal) = self
            .deal_now(deal_id)
            .filter(|d| d.status != DealStatus::Open)
        else {
            return Ok(());
        };
        let Some(owner) = self.active_owner(&deal)? else {
            return Ok(());
        };
        let pipeline = self
            .world
            .pipelines
            .get(&deal.pipeline_id)
            .cloned()
            .unwrap_or_default();
        let stage_id = match self.pipe_by_id(deal.pipeline_id) {
            Some(pipe) if deal.status == DealStatus::Lost && self.dice.chance(0.4) => {
                let stages = &self.pipes[pipe].stages;
                let index = stages.iter().position(|s| *s == deal.stage_id).unwrap_or(0);
                Some(stages[index.saturating_sub(1)])
            }
            _ => None,
        };
        let command = DealCommand::Reopen {
            deal_id,
            stage_id,
            pipeline,
        };
        if self.deal_command("reopen deal", deal_id, owner, command)? {
            self.plan_step(deal_id)?;
        }
        Ok(())
    }

    /// A call, email, meeting or message with the deal's client.
    pub(super) fn deal_contact(&mut self, deal_id: Uuid) -> Result<(), SeedError> {
        let Some(deal) = self.deal_now(deal_id) else {
            return Ok(());
        };
        if !self.world.active(deal.manager_id) {
            return Ok(());
        }
        let line = self
            .pipe_by_id(deal.pipeline_id)
            .map(|p| self.pipes[p].plan.line);
        let kind = match line {
            Some(Line::Persons) => *self.dice.weighted(&[
                (InteractionKind::Call, 40.0),
                (InteractionKind::Message, 35.0),
                (InteractionKind::Email, 20.0),
                (InteractionKind::Meeting, 5.0),
            ]),
            _ => *self.dice.weighted(&[
                (InteractionKind::Call, 45.0),
                (InteractionKind::Email, 30.0),
                (InteractionKind::Meeting, 15.0),
                (InteractionKind::Message, 10.0),
            ]),
        };
        let direction = if self.dice.chance(0.3) {
            Direction::Inbound
        } else {
            Direction::Outbound
        };
        let goal = match deal.status {
            DealStatus::Open => *self.dice.pick(sales::GOALS),
            _ => "after-sales",
        };
        self.interaction(Contacted {
            manager: deal.manager_id,
            kind,
            direction,
            client: Some(deal.client_id),
            deal: Some(deal_id),
            lead: None,
            goal,
        })?;
        Ok(())
    }
}
