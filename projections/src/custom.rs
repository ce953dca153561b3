//! Custom projections: read models analysts define without Rust, as a declarative
//! definition (event types, filters, group-by keys, measures, joined attributes).
//!
//! - [`definition`]: the definition's shape and its check, each problem with its path.
//! - [`fields`]: what a definition may name.
//! - [`plan`]: a definition made executable, folding a batch into groups in memory.
//! - [`measures`]: what a batch adds to each group, one accumulator per measure.
//! - [`entities`]: the clients, deals and managers joined, as of each event.
//! - [`table`]: a generation's tables and the SQL that writes them.
//! - [`projection`]: a generation as a [`crate::Projection`] the runtime runs.
//! - [`catalog`]: the built-in read model of the definitions (from their events).
//! - `supervisor`: starts, promotes and drops generations as the catalog changes.
//! - [`status`] and [`rows`]: what the API asks.
//!
//! Each definition (`ProjectionDefined`, `ProjectionRedefined`) starts a *generation*
//! with tables of its own, built from the start of the log. The first answers queries
//! once it has caught up; a redefinition is built beside the live generation, which
//! keeps answering until the new one has caught up and replaces it in one transaction.

pub mod catalog;
pub mod definition;
pub mod entities;
pub mod fields;
pub mod measures;
pub mod plan;
pub mod projection;
pub mod rows;
pub mod status;
pub(crate) mod supervisor;
pub mod table;

pub use catalog::Catalog;
pub use definition::{Definition, Problem};
pub use plan::Plan;
pub use projection::CustomProjection;
pub use rows::{rows, Cmp, RowsPage, RowsQuery, RowsRefusal};
pub use status::{custom_status, live_projection, CustomStatus, GenerationStatus};

/// Parses and checks a definition: the plan to run, or every problem with its path.
pub fn compile(value: &serde_json::Value) -> Result<Plan, Vec<Problem>> {
    definition::parse(value).and_then(Plan::new)
}

/// The problems of a definition in one line: `path: message; …`.
pub fn describe(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| {
            if p.path.is_empty() {
                p.message.clone()
            } else {
                format!("{}: {}", p.path, p.message)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}
