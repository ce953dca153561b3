//! Reports computed from the read models, each figure as the contract defines it.
//! Each operation's description and each answer field's doc comment state the
//! figure's definition in short; docs/reports.md defines them in full, with examples.
//!
//! One module a side of the business: [`deals`], [`leads`], [`team`], [`sales`]; [`period`] is the
//! query part the reports over a period share.

pub mod deals;
pub mod leads;
mod period;
pub mod sales;
pub mod team;
