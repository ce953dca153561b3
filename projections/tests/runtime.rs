//! The projector runtime against a real PostgreSQL: exactly once across crashes, one
//! active runner per projection, failure isolation, live latency, rebuilds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use crm_eventlog::EventLog;
use crm_projections::{rebuild, wait_until_reflects, ProjectorSet, Runner, LOCK_CLASS};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::{mpsc, watch};

const TYPES: &[&str] = &["Alpha", "Beta", "Gamma"];

/// Terminates every backend of `app` in this database (its live batches' connections
/// included); returns how many.
async fn terminate(admin: &EventLog, app: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
          WHERE application_name IN ($1, 'crm-no-append:projector ' || $1) \
            AND datname = current_database() AND pid <> pg_backend_pid()",
    )
    .bind(app)
    .fetch_one(admin.pool())
    .await
    .unwrap()
}

/// The application names of the connections holding `name`'s projection lock in this
/// database.
async fn lock_holders(admin: &EventLog, name: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
          WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
            AND l.classid::bigint = $1 \
            AND l.objid::bigint = (hashtext($2)::bigint & 4294967295)",
    )
    .bind(i64::from(LOCK_CLASS))
    .bind(name)
    .fetch_all(admin.pool())
    .await
    .unwrap()
}

async fn seen_count(admin: &EventLog, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}_seen"))
        .fetch_one(admin.pool())
        .await
        .unwrap_or(0)
}

#[sqlx::test(migrations = false)]
async fn a_runner_killed_at_any_instant_neither_loses_nor_repeats_an_event(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let admin = log_on(&conn, "admin", 4).await;
    crm_projections::migrate(admin.pool()).await.unwrap();
    append_events(&admin, 3_000, TYPES, 100).await;

    // More events keep arriving while the runner is killed again and again.
    let writer_log = log_on(&conn, "writer", 2).await;
    let writer = tokio::spawn({
        let log = writer_log.clone();
        async move {
            for _ in 0..40 {
                append_events(&log, 50, TYPES, 10).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });

    let counter = Arc::new(Counter::new("crash_counter", "crash_counts"));
    let mut kills = 0;
    for round in 0..10u64 {
        let log = log_on(&conn, "crash-runner", 4).await;
        let (_stop, stop) = watch::channel(false);
        let task = tokio::spawn(
            Runner::new(log.clone(), counter.clone())
                .with_config(fast_config(37))
                .run(stop),
        );
        // Killed once it has applied something since the round began (or has caught
        // up with the log), at an instant that varies from round to round: a fixed
        // window could end, on a loaded machine, before any runner ever commits.
        let before = seen_count(&admin, "crash_counts").await;
        eventually(
            Duration::from_secs(60),
            "the runner makes progress",
            || async {
                let caught_up = match admin.last_position().await.unwrap() {
                    Some(last) => {
                        wait_until_reflects(&admin, "crash_counter", last, Duration::ZERO)
                            .await
                            .is_ok()
                    }
                    None => true,
                };
                caught_up || seen_count(&admin, "crash_counts").await > before
            },
        )
        .await;
        tokio::time::sleep(Duration::from_millis((round * 53) % 120)).await;
        if round % 2 == 1 {
            // The process's connections die (the lock's, the batch's, the listener's).
            assert!(terminate(&admin, "crash-runner").await > 0);
            tokio::time::sleep(Duration::from_millis(30 + round * 7)).await;
        }
        task.abort();
        let _ = task.await;
        kills += 1;
        close(log).await;
    }
    writer.await.unwrap();
    close(writer_log).await;
    let applied_before_end = seen_count(&admin, "crash_counts").await;

    let log = log_on(&conn, "final-runner", 4).await;
    let (stop_tx, stop) = watch::channel(false);
    let task = tokio::spawn(
        Runner::new(log.clone(), counter.clone())
            .with_config(fast_config(500))
            .run(stop),
    );
    let last = append_events(&admin, 1, TYPES, 1).await;
    wait_until_reflects(&admin, "crash_counter", last, Duration::from_secs(30))
        .await
        .unwrap();

    let expected = log_counts(admin.pool(), None).await;
    let total: i64 = expected.values().sum();
    assert_eq!(total, 5_001);
    assert_eq!(
        projected_counts(admin.pool(), "crash_counts").await,
        expected
    );
    assert_eq!(seen_count(&admin, "crash_counts").await, total);
    let status = status_of(&admin, "crash_counter").await;
    assert_eq!(status.status, "running");
    assert_eq!(status.events_applied, total);
    assert_eq!(status.lag_events, 0);
    assert!(status.active);
    println!(
        "{kills} kills; {applied_before_end} of {total} events applied before the last restart"
    );
    assert!(applied_before_end > 0, "the killed runners made progress");

    stop_tx.send(true).unwrap();
    task.await.unwrap();
    assert_eq!(status_of(&admin, "crash_counter").await.status, "stopped");
    close(log).await;
    close(admin).await;
}

#[sqlx::test(migrations = false)]
async fn of_two_runners_one_applies_and_the_standby_takes_over_when_it_dies(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let admin = log_on(&conn, "admin", 4).await;
    crm_projections::migrate(admin.pool()).await.unwrap();
    append_events(&admin, 2_000, TYPES, 200).await;

    let mut counter = Counter::new("duo_counter", "duo_counts");
    counter.slow = Some(Duration::from_millis(20));
    let counter = Arc::new(counter);
    let mut runners = Vec::new();
    for app in ["runner-a", "runner-b"] {
        let log = log_on(&conn, app, 4).await;
        let (stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(
            Runner::new(log.clone(), counter.clone())
                .with_config(fast_config(20))
                .run(stop),
        );
        runners.push((app, log, stop_tx, task));
    }

    eventually(
        Duration::from_secs(20),
        "the active runner applies",
        || async { seen_count(&admin, "duo_counts").await >= 200 },
    )
    .await;
    let holders = lock_holders(&admin, "duo_counter").await;
    assert_eq!(
        holders.len(),
        1,
        "exactly one runner is active: {holders:?}"
    );
    let active = holders[0].clone();
    // Batches are applied through the runner's connections that never append, named
    // after its own.
    let appliers: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT applied_by FROM duo_counts_seen")
            .fetch_all(admin.pool())
            .await
            .unwrap()
            .into_iter()
            .map(|by: String| by.replace("crm-no-append:projector ", ""))
            .collect();
    assert_eq!(
        appliers,
        vec![active.clone()],
        "only the active runner applied"
    );

    // The active process dies: its task stops and its connections drop.
    let index = runners.iter().position(|r| r.0 == active).unwrap();
    let (_, dead_log, _dead_stop, dead_task) = runners.remove(index);
    let killed_at = Instant::now();
    dead_task.abort();
    let _ = dead_task.await;
    terminate(&admin, &active).await;
    let applied_at_kill = seen_count(&admin, "duo_counts").await;

    let (standby, standby_log, standby_stop, standby_task) = runners.remove(0);
    let takeover = eventually(
        Duration::from_secs(10),
        "the standby takes over",
        || async {
            lock_holders(&admin, "duo_counter").await == vec![standby.to_owned()]
                && seen_count(&admin, "duo_counts").await > applied_at_kill
        },
    )
    .await;
    println!(
        "{standby} took over from {active} {:?} after the kill ({applied_at_kill} events applied before)",
        killed_at.elapsed().min(takeover + Duration::from_millis(10))
    );
    assert!(
        takeover < Duration::from_secs(5),
        "takeover took {takeover:?}"
    );

    let last = append_events(&admin, 1, TYPES, 1).await;
    wait_until_reflects(&admin, "duo_counter", last, Duration::from_secs(60))
        .await
        .unwrap();
    let expected = log_counts(admin.pool(), None).await;
    assert_eq!(projected_counts(admin.pool(), "duo_counts").await, expected);
    assert_eq!(seen_count(&admin, "duo_counts").await, 2_001);
    let by_runner: Vec<(String, i64)> =
        sqlx::query_as("SELECT applied_by, count(*) FROM duo_counts_seen GROUP BY 1 ORDER BY 1")
            .fetch_all(admin.pool())
            .await
            .unwrap();
    println!("events applied per runner: {by_runner:?}");
    assert_eq!(by_runner.len(), 2);

    standby_stop.send(true).unwrap();
    standby_task.await.unwrap();
    close(standby_log).await;
    close(dead_log).await;
    close(admin).await;
}

#[sqlx::test(migrations = false)]
async fn a_failing_projection_stops_alone_on_the_exact_event_and_recovers(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let admin = log_on(&conn, "admin", 4).await;
    crm_projections::migrate(admin.pool()).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE test_flags (name text PRIMARY KEY, ok boolean NOT NULL); \
         INSERT INTO test_flags VALUES ('fragile', false)",
    )
    .execute(admin.pool())
    .await
    .unwrap();
    append_events(&admin, 10, &["Alpha"], 5).await;
    let poison = append_events(&admin, 1, &["Poison"], 1).await;
    let last = append_events(&admin, 10, &["Alpha"], 5).await;

    let mut fragile = Counter::new("fragile", "fragile_counts");
    fragile.fail_on = Some("Poison");
    let steady = Counter::new("steady", "steady_counts");
    let log = log_on(&conn, "set", 6).await;
    let running = ProjectorSet::new(log.clone())
        .with_config(fast_config(1_000))
        .with(Arc::new(fragile))
        .with(Arc::new(steady))
        .spawn()
        .unwrap();

    // The healthy projection goes on.
    wait_until_reflects(&admin, "steady", last, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(
        projected_counts(admin.pool(), "steady_counts").await,
        log_counts(admin.pool(), None).await
    );
    // The failing one stops on the poison event, after applying those before it.
    eventually(Duration::from_secs(20), "fragile is failed", || async {
        // Its runner may record its first status after the steady one is done.
        status_if_any(&admin, "fragile")
            .await
            .is_some_and(|s| s.status == "failed")
    })
    .await;
    let failed = status_of(&admin, "fragile").await;
    assert_eq!(failed.failed_position, Some(poison));
    let error = failed.last_error.clone().unwrap();
    assert!(
        error.contains(&format!("poison event at {poison}")),
        "{error}"
    );
    assert_eq!(failed.events_applied, 10);
    assert_eq!(failed.lag_events, 11);
    assert!(!failed.lag_capped);
    assert_eq!(
        projected_counts(admin.pool(), "fragile_counts").await,
        [("Alpha".to_owned(), 10)].into_iter().collect()
    );
    let steady_status = status_of(&admin, "steady").await;
    assert_eq!(steady_status.status, "running");
    assert_eq!(steady_status.lag_events, 0);
    // It keeps failing (with backoff) while the cause is there: it tries again,
    // and fails again…
    let failed_at = failed.updated_at;
    eventually(
        Duration::from_secs(60),
        "the projection retries",
        || async {
            let again = status_of(&admin, "fragile").await;
            again.status == "failed" && again.updated_at > failed_at
        },
    )
    .await;
    assert!(
        wait_until_reflects(&admin, "fragile", poison, Duration::from_millis(100))
            .await
            .is_err()
    );

    // …and recovers by itself once it is gone.
    sqlx::query("UPDATE test_flags SET ok = true WHERE name = 'fragile'")
        .execute(admin.pool())
        .await
        .unwrap();
    let started = Instant::now();
    wait_until_reflects(&admin, "fragile", last, Duration::from_secs(20))
        .await
        .unwrap();
    println!(
        "fragile recovered {:?} after its cause was removed",
        started.elapsed()
    );
    let recovered = status_of(&admin, "fragile").await;
    assert_eq!(recovered.status, "running");
    assert_eq!(recovered.last_error, None);
    assert_eq!(recovered.failed_position, None);
    assert_eq!(recovered.events_applied, 21);
    assert_eq!(
        projected_counts(admin.pool(), "fragile_counts").await,
        log_counts(admin.pool(), None).await
    );

    running.shutdown().await;
    close(log).await;
    close(admin).await;
}

#[sqlx::test(migrations = false)]
async fn a_live_runner_applies_a_new_event_within_milliseconds(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let admin = log_on(&conn, "admin", 4).await;
    crm_projections::migrate(admin.pool()).await.unwrap();
    let (tell, mut applied) = mpsc::unbounded_channel();
    let mut counter = Counter::new("live_counter", "live_counts");
    counter.applied = Some(tell);
    let log = log_on(&conn, "live", 4).await;
    let mut config = fast_config(1_000);
    // Polling once a minute: only the notification can wake the runner in time.
    config.poll_interval = Duration::from_secs(60);
    let running = ProjectorSet::new(log.clone())
        .with_config(config)
        .with(Arc::new(counter))
        .spawn()
        .unwrap();
    let first = append_events(&admin, 1, TYPES, 1).await;
    wait_until_reflects(&admin, "live_counter", first, Duration::from_secs(20))
        .await
        .unwrap();
    while applied.try_recv().is_ok() {}

    let mut to_apply = Vec::new();
    let mut to_visible = Vec::new();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let appended = Instant::now();
        let position = append_events(&admin, 1, TYPES, 1).await;
        let (at, positions) = tokio::time::timeout(Duration::from_secs(10), applied.recv())
            .await
            .expect("applied within 10 s")
            .unwrap();
        assert_eq!(positions, vec![position]);
        wait_until_reflects(&admin, "live_counter", position, Duration::from_secs(10))
            .await
            .unwrap();
        to_apply.push(at.saturating_duration_since(appended));
        to_visible.push(appended.elapsed());
    }
    to_apply.sort();
    to_visible.sort();
    println!("append → applied: {to_apply:?}");
    println!("append → visible through wait_until_reflects: {to_visible:?}");
    // Typically milliseconds. The median, not the slowest: on a loaded machine one
    // append of ten can wait seconds for a core (each is within 10 s, above).
    assert!(to_apply[to_apply.len() / 2] < Duration::from_secs(1));
    assert!(to_visible[to_visible.len() / 2] < Duration::from_secs(1));

    running.shutdown().await;
    close(log).await;
    close(admin).await;
}

#[sqlx::test(migrations = false)]
async fn rebuilds_and_version_bumps_replay_the_log_and_status_counts_the_lag(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let admin = log_on(&conn, "admin", 4).await;
    crm_projections::migrate(admin.pool()).await.unwrap();
    append_events(&admin, 500, TYPES, 50).await;
    let mut only_alpha = Counter::new("alpha_counter", "alpha_counts");
    only_alpha.types = Some(vec!["Alpha".to_owned()]);
    let only_alpha = Arc::new(only_alpha);
    let counter = Arc::new(Counter::new("all_counter", "all_counts"));
    let log = log_on(&conn, "rebuild", 6).await;
    let running = ProjectorSet::new(log.clone())
        .with_config(fast_config(64))
        .with(counter.clone())
        .with(only_alpha.clone())
        .spawn()
        .unwrap();
    // A Beta event last: the Alpha-only projection reflects it once it has every Alpha.
    let last = append_events(&admin, 1, &["Beta"], 1).await;
    for name in ["all_counter", "alpha_counter"] {
        wait_until_reflects(&admin, name, last, Duration::from_secs(20))
            .await
            .unwrap();
    }
    let all = log_counts(admin.pool(), None).await;
    assert_eq!(projected_counts(admin.pool(), "all_counts").await, all);
    assert_eq!(
        projected_counts(admin.pool(), "alpha_counts").await,
        log_counts(admin.pool(), Some(&["Alpha"])).await
    );
    let status = status_of(&admin, "alpha_counter").await;
    assert_eq!(
        (status.lag_events, status.events_applied),
        (0, all["Alpha"])
    );

    // Rebuild while running: the tables empty and refill (the seen table's key
    // proves each event is applied once after the reset).
    rebuild(admin.pool(), &*counter).await.unwrap();
    assert_eq!(status_of(&admin, "all_counter").await.events_applied, 0);
    eventually(Duration::from_secs(20), "the rebuild replays", || async {
        status_of(&admin, "all_counter").await.events_applied == 501
    })
    .await;
    assert_eq!(projected_counts(admin.pool(), "all_counts").await, all);
    assert_eq!(status_of(&admin, "all_counter").await.status, "running");

    // Stopped, the projections fall behind; status counts by their filters.
    running.shutdown().await;
    append_events(&admin, 90, TYPES, 30).await;
    let status = status_of(&admin, "all_counter").await;
    assert_eq!((status.status.as_str(), status.active), ("stopped", false));
    // (Transactions of other tests on the server may hold the feed back a moment.)
    eventually(
        Duration::from_secs(10),
        "lag counts the new events",
        || async {
            status_of(&admin, "all_counter").await.lag_events == 90
                && status_of(&admin, "alpha_counter").await.lag_events == 30
        },
    )
    .await;
    assert!(
        wait_until_reflects(&admin, "all_counter", last + 1, Duration::from_millis(50))
            .await
            .is_err()
    );

    // A new version rebuilds from scratch on start.
    let mut v2 = Counter::new("all_counter", "all_counts");
    v2.version = 2;
    let running = ProjectorSet::new(log.clone())
        .with_config(fast_config(64))
        .with(Arc::new(v2))
        .spawn()
        .unwrap();
    let last = append_events(&admin, 1, TYPES, 1).await;
    wait_until_reflects(&admin, "all_counter", last, Duration::from_secs(20))
        .await
        .unwrap();
    let status = status_of(&admin, "all_counter").await;
    assert_eq!(
        (status.version, status.events_applied, status.lag_events),
        (2, 592, 0)
    );
    assert_eq!(
        projected_counts(admin.pool(), "all_counts").await,
        log_counts(admin.pool(), None).await
    );
    assert!(matches!(
        wait_until_reflects(&admin, "all_counter", 1_000_000, Duration::from_millis(10)).await,
        Err(crm_projections::ProjectionError::UnknownEvent(1_000_000))
    ));

    running.shutdown().await;
    close(log).await;
    close(admin).await;
}
