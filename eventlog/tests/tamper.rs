//! The log refuses changes, and its hash chains catch changes made behind its back.

use crate::common::{behind_the_back, ev, exec};
use crm_eventlog::{BreakKind, EventLog, ExpectedVersion};
use sqlx::PgPool;

/// Three streams of five events each, appended in interleaved order.
async fn seeded(pool: PgPool) -> EventLog {
    let log = EventLog::new(pool);
    crate::common::append_story(&log).await;
    log
}

async fn position_of(log: &EventLog, stream: &str, version: i64) -> i64 {
    sqlx::query_scalar("SELECT position FROM eventlog.events WHERE stream_id = $1 AND version = $2")
        .bind(stream)
        .bind(version)
        .fetch_one(log.pool())
        .await
        .unwrap()
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn updates_deletes_and_truncates_are_refused_even_to_a_superuser(pool: PgPool) {
    let log = seeded(pool).await;
    let statements = [
        "UPDATE eventlog.events SET data = '{}' WHERE stream_id = 'deal-a'",
        "DELETE FROM eventlog.events WHERE stream_id = 'deal-a'",
        "TRUNCATE eventlog.events",
        // Replication mode disables ordinary triggers, not this one.
        "SET session_replication_role = replica; DELETE FROM eventlog.events",
    ];
    for sql in statements {
        let err = exec(&log, sql).await.unwrap_err();
        let db = err.as_database_error().expect("a database error");
        assert_eq!(db.code().as_deref(), Some("CR003"), "{sql}: {db}");
        assert!(db.message().contains("append-only"), "{}", db.message());
    }
    exec(&log, "RESET session_replication_role").await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM eventlog.events")
        .fetch_one(log.pool())
        .await
        .unwrap();
    assert_eq!(count, 17);
    assert!(log.verify().await.unwrap().is_intact());
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn an_intact_log_verifies(pool: PgPool) {
    let log = seeded(pool).await;
    let report = log.verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.streams, 5);
    assert_eq!(report.events, 17);
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn an_altered_payload_is_caught(pool: PgPool) {
    let log = seeded(pool).await;
    let position = position_of(&log, "deal-b", 3).await;
    behind_the_back(
        &log,
        "UPDATE eventlog.events SET data = '{\"n\": 1000}' WHERE stream_id = 'deal-b' AND version = 3",
    )
    .await;
    let report = log.verify().await.unwrap();
    assert_eq!(report.broken_streams, 1, "{report:?}");
    let b = report.first_bad.unwrap();
    assert_eq!(
        (b.kind, b.stream.as_deref(), b.version, b.position),
        (BreakKind::Altered, Some("deal-b"), Some(3), position)
    );
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn an_altered_envelope_field_is_caught(pool: PgPool) {
    for (column, value) in [
        ("occurred_at", "occurred_at - interval '1 day'"),
        (
            "metadata",
            "'{\"actor\": \"someone else\", \"source\": \"api\"}'",
        ),
        ("event_type", "'DealWon'"),
        ("recorded_at", "recorded_at + interval '1 microsecond'"),
    ] {
        let log = EventLog::new(pool.clone());
        if log.stream_version("deal-a").await.unwrap().is_none() {
            seeded(pool.clone()).await;
        }
        // Each round tampers with a fresh stream so earlier rounds do not mask it.
        let stream = format!("deal-{column}");
        for n in 0..3 {
            log.append(
                &stream,
                ExpectedVersion::Any,
                vec![ev("DealStageChanged", n)],
            )
            .await
            .unwrap();
        }
        let row = format!("stream_id = '{stream}' AND version = 2");
        exec(
            &log,
            &format!("CREATE TABLE saved AS SELECT * FROM eventlog.events WHERE {row}"),
        )
        .await
        .unwrap();
        behind_the_back(
            &log,
            &format!("UPDATE eventlog.events SET {column} = {value} WHERE {row}"),
        )
        .await;
        let report = log.verify().await.unwrap();
        let b = report.first_bad.expect("caught");
        assert_eq!(
            (b.kind, b.stream.as_deref(), b.version),
            (BreakKind::Altered, Some(stream.as_str()), Some(2)),
            "{column}"
        );
        // Put the row back so that the next round's is the only break.
        behind_the_back(
            &log,
            &format!(
                "DELETE FROM eventlog.events WHERE {row}; \
                 INSERT INTO eventlog.events SELECT * FROM saved; DROP TABLE saved"
            ),
        )
        .await;
        assert!(log.verify().await.unwrap().is_intact(), "{column}");
    }
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn a_deleted_event_is_caught(pool: PgPool) {
    let log = seeded(pool).await;
    let next = position_of(&log, "deal-c", 3).await;
    behind_the_back(
        &log,
        "DELETE FROM eventlog.events WHERE stream_id = 'deal-c' AND version = 2",
    )
    .await;
    let report = log.verify().await.unwrap();
    assert_eq!(report.broken_streams, 1, "{report:?}");
    let b = report.first_bad.unwrap();
    assert_eq!(b.kind, BreakKind::Deleted);
    assert_eq!(
        (
            b.stream.as_deref(),
            b.version,
            b.expected_version,
            b.position
        ),
        (Some("deal-c"), Some(3), Some(2), next)
    );
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn reordered_events_are_caught(pool: PgPool) {
    let log = seeded(pool).await;
    // Swap versions 2 and 4 of deal-a: the rows still number 1..5 without gaps.
    let was_two = position_of(&log, "deal-a", 2).await;
    behind_the_back(
        &log,
        "UPDATE eventlog.events SET version = 100 WHERE stream_id = 'deal-a' AND version = 2; \
         UPDATE eventlog.events SET version = 2 WHERE stream_id = 'deal-a' AND version = 4; \
         UPDATE eventlog.events SET version = 4 WHERE stream_id = 'deal-a' AND version = 100",
    )
    .await;
    let report = log.verify().await.unwrap();
    assert_eq!(report.broken_streams, 1, "{report:?}");
    let b = report.first_bad.unwrap();
    assert_eq!(b.kind, BreakKind::Reordered);
    // In feed order, the first out of place is the row at version 2's old place,
    // which now says version 4 (and version 3 comes after it).
    assert_eq!(
        (b.stream.as_deref(), b.version, b.position),
        (Some("deal-a"), Some(4), was_two)
    );
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn swapped_positions_across_streams_are_caught(pool: PgPool) {
    let log = seeded(pool).await;
    let a = position_of(&log, "deal-a", 1).await;
    let b = position_of(&log, "deal-b", 1).await;
    behind_the_back(
        &log,
        &format!(
            "UPDATE eventlog.events SET position = -1 WHERE position = {a}; \
             UPDATE eventlog.events SET position = {a} WHERE position = {b}; \
             UPDATE eventlog.events SET position = {b} WHERE position = -1"
        ),
    )
    .await;
    let report = log.verify().await.unwrap();
    assert_eq!(report.broken_streams, 2, "{report:?}");
    // Without seals the chains see both events altered (positions are hashed); the
    // first in feed order is deal-a's, which now says deal-b's position.
    let first = report.first_bad.unwrap();
    assert_eq!(
        (
            first.kind,
            first.stream.as_deref(),
            first.version,
            first.position
        ),
        (BreakKind::Altered, Some("deal-a"), Some(1), b)
    );
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn payloads_of_every_json_shape_verify_after_a_round_trip_through_jsonb(pool: PgPool) {
    let log = EventLog::new(pool);
    let payloads = [
        serde_json::json!({"b": 1, "a": 2, "nested": {"z": [1, 2.5, -0.0, 1e300, 1e-7], "a": null}}),
        serde_json::json!({"text": "Олена \"quoted\" \\ tab\t newline\n emoji 🚀 \u{7f}", "": true}),
        serde_json::json!({"max": u64::MAX, "min": i64::MIN, "f": 0.1, "g": 123_456_789.123_456_79, "e17": 1e17, "one": 1.0, "e19": 1.5e19}),
        serde_json::json!([1, "two", {"three": 3}]),
        serde_json::json!("just a string"),
        serde_json::json!(null),
    ];
    let events = payloads
        .iter()
        .map(|p| crm_eventlog::NewEvent::new("Shape", p.clone()))
        .collect();
    log.append("shapes", ExpectedVersion::NoStream, events)
        .await
        .unwrap();
    let report = log.verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    let stored = log.read_stream("shapes", 1, 10).await.unwrap();
    // jsonb turns 1e17 into an integer: equal as JSON numbers, and canonically equal.
    for (event, payload) in stored.iter().zip(&payloads) {
        assert_eq!(
            crm_eventlog::canonical_json(&event.data),
            crm_eventlog::canonical_json(payload)
        );
    }
    // The single-event path chains in SQL, the batched one in Rust: both verify.
    for payload in &payloads {
        log.append(
            "shapes-one-by-one",
            ExpectedVersion::Any,
            vec![crm_eventlog::NewEvent::new("Shape", payload.clone())],
        )
        .await
        .unwrap();
    }
    let report = log.verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 12);
}
