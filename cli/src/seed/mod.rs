//! `crm seed`: a believable company's year, generated into the event log.
//!
//! A sales team in departments (heads and managers, about 60 for a million events),
//! three pipelines (companies, persons, renewals) with their stages and
//! probabilities, and a year of work: leads from several sources answered fast,
//! late or never, rejected or converted into deals and clients; deals moving
//! through their stages with drop-off, won or lost for reasons, reopened,
//! re-valued, reassigned; calls, emails, meetings and messages; tasks done on time
//! or late, rescheduled, passed on, cancelled or forgotten; managers leaving with a
//! handover and others joining. And the sales department's business: a catalogue,
//! lines on the deals, invoices after wins paid on time, late, in part or never,
//! shipments once paid, the managers' monthly plans, calls whose goal was or was
//! not reached, and a few clients registered twice. Every event comes from a command decided by the
//! domain's aggregates on the state folded so far, so the log is one the API would
//! have accepted.
//!
//! The same options give the same log, byte for byte (ids included): everything
//! random comes from a ChaCha stream seeded by [`SeedOptions::seed`], and business
//! time from [`SeedOptions::until`] (the year ends there). The log gets exactly
//! [`SeedOptions::events`] events (the first day's setup is cut short only when
//! it alone is more). The first append holds the setup alone (the team, the
//! pipelines and the catalogue), so that what names them (automation rules, webhooks) can be defined
//! before the year's first business event: [`seed_after_setup`].
//!
//! The modules: [`random`] (the seeded dice), [`time`] (the year, working hours,
//! the agenda), [`company`] (the team and the clients' cards), [`sales`] (pipelines,
//! sources, reasons), [`world`] (states and commands), [`batch`] (appends),
//! `story` (the year played out), `volume` (how much happens each day), the lives
//! of leads, deals, tasks, accounts and the team, `contact` (interactions),
//! [`business`] (catalogue, lines, invoices, payments, shipments), `plans`, and
//! `run` (appending while generating).

mod accounts;
pub mod batch;
pub mod business;
pub mod company;
mod contact;
mod deals;
mod leads;
mod plans;
pub mod random;
mod run;
pub mod sales;
mod story;
mod tasks;
mod team;
pub mod time;
mod volume;
pub mod world;

use chrono::NaiveDate;
use crm_domain::DomainError;
use crm_eventlog::EventLogError;

pub use batch::Batch;
pub use run::{log_is_empty, seed, seed_after_setup, seed_with_progress, SeedReport};

/// Events per append: large multi-stream batches, cut earlier where the story's
/// order needs it.
pub const DEFAULT_BATCH_SIZE: usize = 2_000;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedOptions {
    /// How many events the log gets.
    pub events: u64,
    /// The seed of everything random.
    pub seed: u64,
    /// The end of the year the story spans (at midnight UTC): nothing happens on or
    /// after it.
    pub until: NaiveDate,
    /// Events per append, at most (a larger single command goes alone).
    pub batch_size: usize,
}

impl SeedOptions {
    /// `events` events from `seed`, for the year ending at `until`.
    pub fn new(events: u64, seed: u64, until: NaiveDate) -> Self {
        SeedOptions {
            events,
            seed,
            until,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// Why seeding stopped.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The generator made a command the domain refused: a bug of the generator.
    #[error("the generator made a command the domain refused ({command}): {source}")]
    Refused {
        /// What the command was.
        command: &'static str,
        /// The domain's refusal.
        source: DomainError,
    },
    /// The log refused or failed an append.
    #[error("appending to the event log: {0}")]
    Log(#[from] EventLogError),
    /// What was to run between the setup and the year failed.
    #[error("after the setup: {0}")]
    AfterSetup(Box<dyn std::error::Error + Send + Sync>),
    /// The generating thread stopped unexpectedly.
    #[error("the generator stopped: {0}")]
    Stopped(String),
}

/// The batches of the log `options` describe, in append order.
pub struct Generator {
    sim: story::Sim,
}

impl Generator {
    /// The generator for `options`.
    pub fn new(options: &SeedOptions) -> Self {
        let timeline = time::Timeline::ending(options.until);
        Generator {
            sim: story::Sim::new(options.seed, timeline, options.events, options.batch_size),
        }
    }
}

impl Iterator for Generator {
    type Item = Result<Batch, SeedError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.sim.next_batch().transpose()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn types(batch: &Batch) -> Vec<&str> {
        batch
            .appends
            .iter()
            .flat_map(|a| &a.events)
            .map(|e| e.event_type.as_str())
            .collect()
    }

    #[test]
    fn the_first_append_holds_the_setup_alone() {
        let options = SeedOptions::new(5_000, 7, NaiveDate::from_ymd_opt(2026, 6, 30).unwrap());
        let mut batches = Generator::new(&options).map(Result::unwrap);
        let first = batches.next().unwrap();
        let setup = types(&first);
        assert_eq!(
            setup.iter().filter(|t| **t == "PipelineDefined").count(),
            sales::PIPELINES.len()
        );
        assert!(setup.iter().all(|t| matches!(
            *t,
            "PipelineDefined" | "ManagerRegistered" | "ProductDefined"
        )));
        // The whole team of the first day (the director and every department) and the
        // catalogue.
        let team = company::departments(company::sales_staff(options.events));
        let people: usize = team.iter().map(|d| d.size).sum::<usize>() + 1;
        assert_eq!(
            setup.len(),
            sales::PIPELINES.len() + people + business::CATALOGUE.len()
        );
        let second = batches.next().unwrap();
        assert!(!types(&second).contains(&"PipelineDefined"));
    }
}
