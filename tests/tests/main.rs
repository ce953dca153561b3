//! The end-to-end tests, one test binary: every file of this folder is a module here
//! (files stay where they are; a test's name is `file::test`). One binary links the
//! app once instead of once a file. [`every_test_file_is_a_module`] checks that no
//! file of a crate's one-binary tests folder is left out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod answer_tags;
mod audit;
mod authorization;
mod automation;
mod client_merges;
mod code_map;
mod commands_clients_leads;
mod commands_deals;
mod commands_managers_pipelines;
mod commands_tasks_interactions;
mod crafted_queries;
mod cursors;
mod custom_projection_limits;
mod custom_projections;
mod database_down;
mod erasure;
mod export;
mod handover;
mod hostile_input;
mod idempotency;
mod log_api;
mod logins;
mod merge_history;
mod openapi;
mod problems;
mod projection_determinism;
mod projections_api;
mod read_model_repair;
mod read_side;
mod read_your_writes;
mod rebuild_beside;
mod report_clients;
mod report_conversion;
mod report_deal_dates;
mod report_funnel;
mod report_leads;
mod report_managers;
mod report_outcomes;
mod report_sales;
mod report_schemas;
mod report_tasks;
mod sales;
mod sales_reports;
mod schema_evolution;
mod seed;
mod subscription_restart;
mod time_travel;
mod tokens;
mod webapp;
mod webapp_analyst;
mod webapp_automation;
mod webapp_overdue;
mod webapp_sales;
mod webhooks;
mod webpage;

use std::collections::BTreeSet;
use std::path::Path;

/// The `mod NAME;` declarations of a `main.rs`.
fn declared(main_rs: &str) -> BTreeSet<String> {
    main_rs
        .lines()
        .filter_map(|line| line.trim().strip_prefix("mod ")?.strip_suffix(';'))
        .map(str::to_owned)
        .collect()
}

/// Every `.rs` file (but `main.rs`) and every folder with a `mod.rs` in the tests
/// folder of a package that builds its tests as one binary (`tests/main.rs`) is a
/// module of that binary: with `autotests = false`, a file not declared would never
/// run.
#[test]
fn every_test_file_is_a_module() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut checked = 0;
    for package in std::fs::read_dir(workspace).unwrap() {
        let tests = package.unwrap().path().join("tests");
        let Ok(main_rs) = std::fs::read_to_string(tests.join("main.rs")) else {
            continue;
        };
        let declared = declared(&main_rs);
        for entry in std::fs::read_dir(&tests).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap();
            let module = if path.is_dir() && path.join("mod.rs").is_file() {
                name
            } else if let Some(stem) = name.strip_suffix(".rs") {
                stem
            } else {
                continue;
            };
            if module != "main" {
                assert!(
                    declared.contains(module),
                    "{} is not declared in {}: its tests would never run",
                    path.display(),
                    tests.join("main.rs").display()
                );
            }
        }
        checked += 1;
    }
    // crm-tests, crm-eventlog and crm-projections at least.
    assert!(checked >= 3, "only {checked} one-binary test folders found");
}
