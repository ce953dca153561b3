//! The real `crm` binary: `crm bench rules` and `crm bench webhooks` run end to end
//! at a tiny size, and their figures hold together: the runner followed the whole log
//! and every rule acted; every event of the backlog reached every webhook, and every
//! call logged meanwhile was delivered. `crm bench dashboards` and `crm bench api` report
//! the memory of a real `crm serve` child under their load.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{crm, database_url};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// Runs `crm bench <args>` on the server of `conn`; its Markdown, once it succeeded.
async fn bench(conn: &PgConnectOptions, args: &str) -> String {
    let mut all = vec!["bench"];
    all.extend(args.split(' '));
    let output = crm(&database_url(conn), &all).await;
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// The cells of the table row starting with `| <first>`.
fn row<'a>(out: &'a str, first: &str) -> Vec<&'a str> {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("| {first}")))
        .unwrap_or_else(|| panic!("no row {first:?} in\n{out}"));
    line.trim_matches('|').split('|').map(str::trim).collect()
}

/// A number at the start of `cell` ("12.5 s" → 12.5).
fn number(cell: &str) -> f64 {
    cell.split([' ', '%', '×', ',', ';', ')', '\n'])
        .next()
        .unwrap()
        .trim_end_matches('.')
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {cell:?}"))
}

/// The number just after `before` in `text`.
fn after(text: &str, before: &str) -> f64 {
    let rest = &text[text
        .find(before)
        .unwrap_or_else(|| panic!("{before:?} in\n{text}"))
        + before.len()..];
    number(rest)
}

/// True when `rate` per second over `seconds` (both rounded as printed) makes `n`.
fn consistent(rate: f64, seconds: f64, n: f64) -> bool {
    (rate * seconds - n).abs() <= 0.02 * n + 0.5 * seconds + 0.05 * rate
}

#[sqlx::test(migrations = false)]
async fn crm_bench_rules_follows_the_whole_log_and_every_rule_acts(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let out = bench(&conn, "rules --events 2000 --until 2026-06-30").await;
    // The seeded events and the five rules' definitions.
    assert_eq!(after(&out, "Log of "), 2005.0, "{out}");
    assert_eq!(after(&out, "events: "), 2000.0, "{out}");
    let followed = row(&out, "automation runner: start → past");
    let runner = row(&out, "automation runner: start → caught up");
    for cells in [&followed, &runner] {
        let (rate, seconds) = (number(cells[1]), number(cells[2]));
        assert!(rate > 0.0 && seconds > 0.0, "{out}");
        // The rate is the whole log over the wall time (both rounded).
        assert!(consistent(rate, seconds, 2005.0), "{out}");
    }
    assert!(number(followed[2]) <= number(runner[2]), "{out}");
    let (commands, appended) = (number(runner[4]), number(runner[5]));
    assert!(commands > 0.0 && appended >= commands, "{out}");
    // Every rule appended something, and the events by rule add up.
    let by_rule = &out[out.find("by rule: ").unwrap()..];
    let mut sum = 0.0;
    for (kind, types) in [
        ("lead_round_robin", &["LeadAssigned"][..]),
        ("task_on_stage", &["TaskScheduled"][..]),
        ("lead_sla", &["LeadSlaBreached", "TaskScheduled"][..]),
        ("follow_up_after_win", &["TaskScheduled"][..]),
        ("task_reminder", &["TaskReminderDue"][..]),
    ] {
        let part = by_rule
            .split("; ")
            .find(|p| p.contains(&format!("`{kind}`")))
            .unwrap();
        for event_type in types {
            let n = after(part, &format!("{event_type} "));
            assert!(n > 0.0, "{kind} appended no {event_type}: {out}");
            sum += n;
        }
    }
    assert_eq!(sum, appended, "{out}");
    let raw = row(&out, "raw read");
    assert!(number(raw[1]) > 0.0, "{out}");
}

#[sqlx::test(migrations = false)]
async fn crm_bench_webhooks_delivers_every_event_to_every_webhook(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let out = bench(
        &conn,
        "webhooks --events 600 --until 2026-06-30 --seconds 2 --rate 10",
    )
    .await;
    let backlog = after(&out, "Backlog of ");
    // A log of 600 events of which the first append, the setup, came before the webhooks.
    assert!(backlog > 500.0 && backlog < 600.0, "{out}");
    for (hooks, label) in [(1.0, "1 |"), (10.0, "10 at once")] {
        let cells = row(&out, label);
        let (rate, seconds) = (number(cells[1]), number(cells[2]));
        assert!(rate > 0.0 && number(cells[3]) > 0.0, "{out}");
        assert!(consistent(rate, seconds, hooks * backlog), "{out}");
        // Every event reached every webhook (at least once), counted by the receiver.
        assert!(
            cells[5].starts_with(&format!("yes, {hooks} × {backlog} (")),
            "{out}"
        );
    }
    let calls = after(&out, "Latency: ");
    assert!((1.0..=21.0).contains(&calls), "{out}");
    for measure in ["answer → delivered", "answer → seen", "the command itself"] {
        let cells = row(&out, measure);
        let (p50, p99) = (number(cells[1]), number(cells[2]));
        assert!(p50 > 0.0 && p99 >= p50, "{out}");
    }
}

/// The memory table of a `crm serve` child: its RSS at idle, and for each load
/// named in `loads` its peak and the answers it gave; all plausible.
fn server_memory(out: &str, loads: &[&str]) {
    let idle = number(row(out, "server RSS at idle after start")[1]);
    let at_start = number(row(out, "server peak RSS while starting")[1]);
    // A server process holds its binary's pages, its runtime and its pools: more
    // than a MiB; as much as a 64-bit address space would not fit in the host.
    assert!(idle > 1.0 && idle < 65_536.0, "{out}");
    assert!(at_start >= idle, "{out}");
    for load in loads {
        let cells = row(out, &format!("server peak RSS under {load}"));
        let peak = number(cells[1]);
        assert!(peak > 1.0 && peak < 65_536.0, "{out}");
        // The load went through that server: it answered.
        assert!(number(cells[3]) > 0.0, "{out}");
    }
    // The server measured is a process of its own, named by its pid.
    assert!(out.contains("as a child process (pid "), "{out}");
}

#[sqlx::test(migrations = false)]
async fn crm_bench_dashboards_reports_the_peak_memory_of_crm_serve_under_its_reads(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let out = bench(
        &conn,
        "dashboards --events 2000 --until 2026-06-30 --connections 2 --seconds 1",
    )
    .await;
    // The figures of the server in the benchmark's process are still there.
    assert!(
        number(row(&out, "the funnel, answers kept")[1]) > 0.0,
        "{out}"
    );
    server_memory(
        &out,
        &[
            "the funnel, 2 clients",
            "the month's managers report, 2 clients",
        ],
    );
}

#[sqlx::test(migrations = false)]
async fn crm_bench_api_reports_the_peak_memory_of_crm_serve_under_its_commands(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let out = bench(&conn, "api --seconds 1 --clients 2").await;
    assert!(
        number(row(&out, "deal stage change via HTTP, 2 clients")[1]) > 0.0,
        "{out}"
    );
    server_memory(
        &out,
        &["deal stage changes, 2 clients", "calls logged, 2 clients"],
    );
}
