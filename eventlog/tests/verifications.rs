//! Verifications kept (`eventlog.verifications`): a run's report stored with the
//! position it covered and what started it; the background verifier runs at start and
//! again once new events come, and leaves the log alone while nothing changes.

use std::time::Duration;

use crate::common::{append_story, ev};
use crm_eventlog::{EventLog, ExpectedVersion, Trigger, Verifier, VerifierOptions};
use sqlx::PgPool;

/// The stored runs: (trigger, through_position), oldest first.
async fn runs(log: &EventLog) -> Vec<(String, Option<i64>)> {
    sqlx::query_as("SELECT trigger, through_position FROM eventlog.verifications ORDER BY id")
        .fetch_all(log.pool())
        .await
        .unwrap()
}

/// Waits (up to 30 s) until `count` runs are stored.
async fn wait_for_runs(log: &EventLog, count: usize) -> Vec<(String, Option<i64>)> {
    for _ in 0..600 {
        let stored = runs(log).await;
        if stored.len() >= count {
            return stored;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{count} verifications were not stored in 30 s");
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn a_verification_is_kept_with_the_position_it_covered(pool: PgPool) {
    let log = EventLog::new(pool);
    assert_eq!(log.last_verification().await.unwrap(), None);
    let empty = log.verify_and_record(Trigger::OnDemand).await.unwrap();
    assert!(empty.intact);
    assert_eq!(empty.through_position, None);
    append_story(&log).await;
    let head = log.last_position().await.unwrap();
    let done = log.verify_and_record(Trigger::OnDemand).await.unwrap();
    assert_eq!(done.through_position, head);
    assert_eq!(done.trigger, "on_demand");
    assert!(done.intact && done.finished_at >= done.started_at);
    // The report as the walk made it: 17 events in 5 streams.
    assert_eq!(done.report["events"], 17);
    assert_eq!(done.report["streams"], 5);
    assert_eq!(log.last_verification().await.unwrap(), Some(done));
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn the_verifier_runs_at_start_and_after_new_events(pool: PgPool) {
    let log = EventLog::new(pool);
    append_story(&log).await;
    let verifier = Verifier::spawn(
        log.clone(),
        VerifierOptions {
            interval: Duration::from_millis(20),
            max_age: Duration::from_secs(3600),
        },
    );
    let first = wait_for_runs(&log, 1).await;
    assert_eq!(
        first,
        vec![("start".to_owned(), log.last_position().await.unwrap())]
    );
    log.append("deal-a", ExpectedVersion::Any, vec![ev("DealWon", 9)])
        .await
        .unwrap();
    let head = log.last_position().await.unwrap();
    let stored = wait_for_runs(&log, 2).await;
    assert_eq!(stored[1], ("periodic".to_owned(), head));
    verifier.shutdown().await;
    // Nothing new since the run that covered the head: no further run.
    assert_eq!(runs(&log).await.len(), 2);
}
