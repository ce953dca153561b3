//! `crm bench rules`: the automation runner following a generated log of N events,
//! beside the raw read of the same log.
//!
//! A fresh database gets the generated company's setup (team, pipelines, catalogue),
//! then one rule of each of the contract's five kinds (`POST /automation/rules`
//! through the real server), then the year (`crm seed`): every business event is
//! recorded after the rules, so they act on all of them. Then, in one run on the same
//! PostgreSQL: the raw rate of reading the whole log with plain SQL (the baseline),
//! and the automation runner from its start (no checkpoint) until it has followed the
//! whole log, fired every deadline due by then and followed what it appended itself:
//! log events per second, the commands that appended and the events they appended.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use crm_api::automation::{store, Runner, RunnerConfig};
use crm_cli::seed::Batch;
use crm_eventlog::{EventLog, Source};
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;
use uuid::Uuid;

use super::feed::FeedTo;
use super::measure::raw_read;
use super::web::as_admin;

/// Runs every measurement against a fresh database on the server of `admin_url`.
pub async fn run(admin_url: &str, generated: &super::Generated) -> anyhow::Result<String> {
    super::in_fresh_database(admin_url, "crm_bench_rules", |target| {
        measure(target, generated)
    })
    .await
}

async fn measure(target: PgConnectOptions, generated: &super::Generated) -> anyhow::Result<String> {
    let ids: Vec<Uuid> = KINDS.iter().map(|_| Uuid::new_v4()).collect();
    let define = |log, setup| define_rules(log, setup, ids.clone());
    let (pool, log, seeded) =
        super::generated_log_after_setup(target, 16, generated, define).await?;
    let total = u64::try_from(crm_eventlog::baseline::count(&pool).await?)?;

    let started = Instant::now();
    let read = raw_read(&pool).await?;
    let raw_time = started.elapsed();
    anyhow::ensure!(read == total, "raw read saw {read} of {total} events");
    let raw_rate = total as f64 / raw_time.as_secs_f64();
    eprintln!("raw read: {raw_rate:.0} events/s");

    let end_of_seed = log.last_position().await?.context("an empty log")?;
    let config = RunnerConfig {
        // Checks for the end sooner than the default second once idle.
        lock_check: Duration::from_millis(100),
        ..RunnerConfig::default()
    };
    let started = Instant::now();
    let running = Runner::new(log.clone()).with_config(config).spawn();
    let followed = wait_caught_up(&log, end_of_seed, WITHIN).await? - started;
    let elapsed = started.elapsed();
    running.shutdown().await;
    let (commands, by_rule) = appended_by_automation(&log, end_of_seed).await?;
    let appended: u64 = by_rule.values().flat_map(BTreeMap::values).sum();
    let by_rule: Vec<String> = KINDS
        .iter()
        .zip(&ids)
        .map(|(kind, id)| {
            let types = by_rule.get(id).cloned().unwrap_or_default();
            let types: Vec<String> = types.iter().map(|(t, n)| format!("{t} {n}")).collect();
            match types.is_empty() {
                true => format!("`{kind}`: nothing"),
                false => format!("`{kind}`: {}", types.join(", ")),
            }
        })
        .collect();
    let rate = total as f64 / elapsed.as_secs_f64();
    let follow_rate = total as f64 / followed.as_secs_f64();
    eprintln!("automation runner: {rate:.0} events/s, {commands} commands, {appended} events");
    log.close().await;

    Ok(format!(
        "Log of {total} events: {seeded} generated (`--seed {}`, year ending {}) after five \
         rules, one of each kind, defined right after the company's setup.\n\n\
         | reader | log events/s | wall time | ratio to raw read | commands that appended | events appended |\n\
         |---|---:|---:|---:|---:|---:|\n\
         | automation runner: start → past the log's last event | {follow_rate:.0} | {:.1} s | {:.0}% | | |\n\
         | automation runner: start → caught up (every deadline due fired, its own events followed) | {rate:.0} | {:.1} s | {:.0}% | {commands} | {appended} |\n\
         | raw read, plain SQL in feed order (baseline) | {raw_rate:.0} | {:.1} s | 100% | – | – |\n\n\
         Events appended, by rule: {}.\n",
        generated.seed,
        generated.until(),
        followed.as_secs_f64(),
        100.0 * follow_rate / raw_rate,
        elapsed.as_secs_f64(),
        100.0 * rate / raw_rate,
        raw_time.as_secs_f64(),
        by_rule.join("; "),
    ))
}

/// How long the runner may take to catch up.
const WITHIN: Duration = Duration::from_secs(4 * 3_600);

/// The contract's rule kinds, one rule of each defined.
const KINDS: [&str; 5] = [
    "lead_round_robin",
    "task_on_stage",
    "lead_sla",
    "follow_up_after_win",
    "task_reminder",
];

/// Defines one rule of each kind over the seeded setup, through the real server, with
/// the ids `ids` (in the order of [`KINDS`]).
async fn define_rules(log: EventLog, setup: Batch, ids: Vec<Uuid>) -> anyhow::Result<()> {
    let data = |event_type: &str| -> Vec<Value> {
        setup
            .appends
            .iter()
            .flat_map(|append| &append.events)
            .filter(|e| e.event_type == event_type)
            .map(|e| e.data.clone())
            .collect()
    };
    let pipeline = data("PipelineDefined")
        .into_iter()
        .next()
        .context("the setup defines no pipeline (too few --events?)")?;
    let stages = pipeline["stages"].as_array().cloned().unwrap_or_default();
    let stage = stages
        .get(1)
        .or(stages.first())
        .context("a pipeline without stages")?;
    let department = data("ManagerRegistered")
        .into_iter()
        .find(|m| m["role"] == "manager")
        .map(|m| m["department"].clone())
        .context("the setup registers no manager (too few --events?)")?;
    let params = [
        json!({"department": department, "strategy": "round_robin"}),
        json!({"pipeline_id": pipeline["pipeline_id"], "stage_id": stage["stage_id"],
               "title": "Send the proposal", "kind": "email", "due_in_hours": 24}),
        json!({"sla_minutes": 60}),
        json!({"after_days": 30, "title": "How is it going?"}),
        json!({"before_minutes": 60}),
    ];
    as_admin(&log, |web| async move {
        for ((kind, params), id) in KINDS.iter().zip(params).zip(ids) {
            let body = json!({"id": id, "name": format!("Bench {kind}"), "kind": kind,
                              "params": params});
            web.post("/automation/rules", &body).await?;
        }
        Ok(())
    })
    .await
}

/// Waits until the runner's checkpoint is at the log's end, no deadline due now is
/// left, and the log did not grow meanwhile; when its checkpoint first passed
/// position `end` (the log's end when it started).
async fn wait_caught_up(log: &EventLog, end: i64, within: Duration) -> anyhow::Result<Instant> {
    let pool = log.pool();
    let deadline = Instant::now() + within;
    let mut passed_end = None;
    loop {
        let last = log.last_position().await?;
        let checkpoint = store::checkpoint(pool).await?.map(|c| c.position());
        if checkpoint >= Some(end) {
            passed_end.get_or_insert_with(Instant::now);
        }
        let due = store::due_by(pool, Utc::now(), 1).await?;
        if let Some(passed) = passed_end {
            if checkpoint >= last && due.is_empty() && log.last_position().await? == last {
                return Ok(passed);
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the automation runner did not catch up within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The commands automation ran that appended (one append each), and their events
/// by rule and type, from the log after position `after`.
async fn appended_by_automation(
    log: &EventLog,
    after: i64,
) -> anyhow::Result<(u64, BTreeMap<Uuid, BTreeMap<String, u64>>)> {
    let from = log
        .cursor_of(after)
        .await?
        .context("the seed's last event")?;
    let last = log.last_position().await?.unwrap_or_default();
    let mut feed = FeedTo::new(log, from, last);
    let (mut appends, mut types) = (BTreeSet::new(), BTreeMap::new());
    while let Some(events) = feed.next_page().await? {
        for event in events {
            anyhow::ensure!(
                event.metadata.source == Source::Automation,
                "event {} after the seed was not appended by automation",
                event.position
            );
            appends.insert(event.tx_id);
            let rule = event.metadata.rule_id.unwrap_or_default();
            *types
                .entry(rule)
                .or_insert_with(BTreeMap::new)
                .entry(event.event_type)
                .or_insert(0) += 1;
        }
    }
    Ok((appends.len() as u64, types))
}
