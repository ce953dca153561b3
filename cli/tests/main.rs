//! The tests that run the real `crm` binary, as one test binary: cargo builds a
//! package's binary only for that package's own integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod bench;
mod cluster;
mod common;
mod nodes;
mod projection;
mod serve;
mod token;
