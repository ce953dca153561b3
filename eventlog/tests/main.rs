//! The event log's tests against a real PostgreSQL, one test binary: every file of
//! this folder is a module here (tests/tests/main.rs of crm-tests checks none is left out).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod append;
mod feed;
mod read_streams;
mod seals;
mod subscription;
mod tamper;
mod verifications;
