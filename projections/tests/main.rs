//! The projector runtime's tests against a real PostgreSQL, one test binary: every
//! file of this folder is a module here (tests/tests/main.rs of crm-tests checks none
//! is left out).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod live_beside;
mod migrations;
mod runtime;
