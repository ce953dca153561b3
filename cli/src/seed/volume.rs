//! How much happens: each day plans its new leads, prospecting, client calls and
//! card changes, in numbers steered so that the log's events spread over the whole
//! year and reach their target by its end.

use chrono::{Datelike, Duration};

use super::story::{Action, Sim};
use super::time::{self, SPAN_DAYS};
use super::SeedError;

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

/// The share of the events that leads bring (their answers, deals, tasks and
/// contacts, and the repeat business of the clients they became); client calls,
/// prospecting and card changes make the rest.
const LEAD_SHARE: f64 = 0.8;

/// Events a lead brings within the year on average (measured on the model, so the
/// arrival rate it gives needs little steering): 9.5 before the sales department's
/// lines, invoices, payments and shipments, which add about a seventh.
const EVENTS_PER_LEAD: f64 = 10.8;

/// How busy a weekend day is for new leads, next to a working day.
const WEEKEND_PACE: f64 = 0.35;

/// A week's average pace of leads, in working days: five full days and two quiet ones.
const WEEK_PACE: f64 = (5.0 + 2.0 * WEEKEND_PACE) / 7.0;

/// The share of days that are working days: work done only on them is that much
/// denser there.
const WORKDAYS: f64 = 5.0 / 7.0;

impl Volume {
    /// The volume for `target` events, `setup` of them made on the first day.
    pub(super) fn new(target: u64, setup: u64) -> Self {
        let daily = target.saturating_sub(setup) as f64 / SPAN_DAYS as f64;
        Volume {
            target,
            leads: LEAD_SHARE * daily / EVENTS_PER_LEAD,
            touches: 0.05 * daily,
            prospects: 0.02 * daily / 8.0,
            updates: 0.004 * daily,
            by_day: Vec::new(),
            filled: 0,
        }
    }
}

impl Sim {
    /// Plans a day's work: its leads, prospecting and client care, steering how
    /// much so the log fills the year.
    pub(super) fn day(&mut self, n: i64) -> Result<(), SeedError> {
        let midnight = self.time.day(n);
        self.plan(self.time.day(n + 1), Action::Day(n + 1));
        self.volume.by_day.push(self.world.emitted());
        self.steer(n);
        if n > 0 && midnight.day() == 1 {
            self.plan_month(midnight);
        }
        let weekday = !time::weekend(midnight);
        let pace = if weekday { 1.0 } else { WEEKEND_PACE } / WEEK_PACE;
        // Busier in spring and autumn, quieter around the new year and in summer.
        let season = 1.0
            - 0.15 * (f64::from(midnight.ordinal()) / 365.25 * 4.0 * std::f64::consts::PI).cos();
        for _ in 0..self.dice.round(self.volume.leads * pace * season) {
            let at = time::arrival(midnight, &mut self.dice);
            self.plan(at, Action::LeadArrives);
        }
        if weekday {
            for _ in 0..self.dice.round(self.volume.prospects / WORKDAYS) {
                let at = time::during_work(midnight, &mut self.dice);
                self.plan(at, Action::Prospect);
            }
            let touches = self.touches_today(n) / WORKDAYS;
            for _ in 0..self.dice.round(touches) {
                let at = time::during_work(midnight, &mut self.dice);
                self.plan(at, Action::AccountTouch);
            }
            if !self.client_list.is_empty() {
                for _ in 0..self.dice.round(self.volume.updates / WORKDAYS) {
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
    pub(super) fn fill_rest(&mut self) -> Result<(), SeedError> {
        let left = self.world.room();
        if left == 0 {
            return Ok(());
        }
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
}
