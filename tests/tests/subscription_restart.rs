//! A subscription to the event log keeps going across a restart of PostgreSQL.

use std::error::Error;
use std::time::Duration;

use crm_eventlog::{Cursor, EventLog, ExpectedVersion, FeedFilter, NewEvent, RecordedEvent};
use crm_tests::{retry, TempCluster};
use serde_json::json;

type TestResult = Result<(), Box<dyn Error>>;

/// How long the subscription may take to deliver after the restart.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_survives_a_database_restart() -> TestResult {
    let cluster = TempCluster::start().await?;
    let log = EventLog::connect(&cluster.database_url(), 4).await?;
    log.migrate().await?;

    let stream = format!("restart-{}", uuid::Uuid::new_v4());
    let before = NewEvent::new("Pinged", json!({"n": 1}));
    log.append(&stream, ExpectedVersion::NoStream, vec![before.clone()])
        .await?;

    let mut sub = log.subscribe(Cursor::start(), FeedFilter::default());
    let first = tokio::time::timeout(DELIVERY_TIMEOUT, sub.next_batch(100)).await??;
    assert_eq!(ids(&first), vec![before.event_id]);

    cluster.pg().stop().await?;
    cluster.pg().start_again().await?;

    // The pool's connections died with the server: retry until it answers. The same
    // event (same id) is retried, and appends are idempotent by id.
    let after = NewEvent::new("Pinged", json!({"n": 2}));
    retry(
        DELIVERY_TIMEOUT,
        |e: &crm_eventlog::EventLogError| e.is_unavailable(),
        || log.append(&stream, ExpectedVersion::Exact(1), vec![after.clone()]),
    )
    .await?;

    // Follow the subscription until the second event shows up, riding out errors
    // from connections that died in the restart.
    let mut received = Vec::new();
    tokio::time::timeout(DELIVERY_TIMEOUT, async {
        while !received
            .iter()
            .any(|e: &RecordedEvent| e.event_id == after.event_id)
        {
            match sub.next_batch(100).await {
                Ok(events) => received.extend(events),
                Err(e) if e.is_unavailable() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })
    .await
    .map_err(|_| format!("no second event within {DELIVERY_TIMEOUT:?}; got {received:?}"))??;

    // Nothing more arrives: no duplicate of either event.
    match tokio::time::timeout(Duration::from_secs(2), sub.next_batch(100)).await {
        Ok(Ok(events)) => received.extend(events),
        Ok(Err(e)) if e.is_unavailable() => {}
        Ok(Err(e)) => return Err(e.into()),
        Err(_elapsed) => {}
    }
    assert_eq!(
        ids(&received),
        vec![after.event_id],
        "exactly the second event, once"
    );
    assert_eq!(received[0].version, 2);

    log.pool().close().await;
    cluster.pg().stop().await?;
    Ok(())
}

fn ids(events: &[RecordedEvent]) -> Vec<uuid::Uuid> {
    events.iter().map(|e| e.event_id).collect()
}
