//! Appending: versions, envelopes, expected versions, multi-stream atomicity, idempotency.

use crate::common::{ev, log_with};
use chrono::{TimeZone, Utc};
use crm_eventlog::{
    EventLog, EventLogError, ExpectedVersion, Metadata, NewEvent, Source, StreamAppend,
    StreamBound, Unmoved, VaultWrite,
};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use uuid::Uuid;

async fn count(log: &EventLog) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM eventlog.events")
        .fetch_one(log.pool())
        .await
        .unwrap()
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn append_numbers_versions_and_keeps_the_envelope(pool: PgPool) {
    let log = EventLog::new(pool);
    let correlation = Uuid::new_v4();
    let occurred = Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).unwrap();
    let meta = Metadata {
        actor: Some("manager-1".into()),
        correlation_id: Some(correlation),
        causation_id: None,
        request_id: Some("req-7".into()),
        rule_id: None,
        source: Source::Import,
    };
    let first = NewEvent::new("DealOpened", json!({"deal_id": "d1", "amount": 1500}))
        .occurred_at(occurred)
        .with_metadata(meta.clone());
    let out = log
        .append(
            "deal-1",
            ExpectedVersion::NoStream,
            vec![first.clone(), ev("DealStageChanged", 2)],
        )
        .await
        .unwrap();
    assert!(!out.replayed);
    assert_eq!(out.events.len(), 2);
    assert_eq!(out.events[0].version, 1);
    assert_eq!(out.events[1].version, 2);
    assert!(out.events[1].position > out.events[0].position);
    assert_eq!(out.version_of("deal-1"), Some(2));

    let out = log
        .append("deal-1", ExpectedVersion::Exact(2), vec![ev("DealWon", 3)])
        .await
        .unwrap();
    assert_eq!(out.events[0].version, 3);

    let events = log.read_stream("deal-1", 1, 100).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let e = &events[0];
    assert_eq!(e.event_id, first.event_id);
    assert_eq!(e.stream, "deal-1");
    assert_eq!(e.event_type, "DealOpened");
    assert_eq!(e.schema_version, 1);
    assert_eq!(e.occurred_at, occurred);
    assert_eq!(e.data, json!({"deal_id": "d1", "amount": 1500}));
    assert_eq!(e.metadata, meta);
    assert_eq!(e.hash.len(), 32);
    assert!(e.recorded_at <= Utc::now());
    assert_eq!(log.read_stream("deal-1", 3, 100).await.unwrap().len(), 1);
    assert_eq!(log.read_stream("deal-1", 2, 1).await.unwrap()[0].version, 2);
    assert_eq!(log.stream_version("deal-1").await.unwrap(), Some(3));
    assert_eq!(log.stream_version("deal-2").await.unwrap(), None);
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn reads_up_to_a_version_or_a_business_time(pool: PgPool) {
    let log = EventLog::new(pool);
    let day = |d| Utc.with_ymd_and_hms(2026, 1, d, 12, 0, 0).unwrap();
    // Business times need not follow versions: the third event is backdated.
    let events = vec![
        ev("A", 1).occurred_at(day(1)),
        ev("B", 2).occurred_at(day(5)),
        ev("C", 3).occurred_at(day(3)),
        ev("D", 4).occurred_at(day(9)),
    ];
    log.append("client-1", ExpectedVersion::Any, events)
        .await
        .unwrap();

    let until_v2 = log
        .read_stream_until("client-1", StreamBound::Version(2))
        .await
        .unwrap();
    assert_eq!(
        until_v2.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1, 2]
    );
    let until_day4 = log
        .read_stream_until("client-1", StreamBound::OccurredAt(day(4)))
        .await
        .unwrap();
    assert_eq!(
        until_day4
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
        ["A", "C"]
    );
    let until_day5 = log
        .read_stream_until("client-1", StreamBound::OccurredAt(day(5)))
        .await
        .unwrap();
    assert_eq!(until_day5.len(), 3);
    // Before the stream existed: no events, but the stream is known.
    let before = log
        .read_stream_until(
            "client-1",
            StreamBound::OccurredAt(day(1) - chrono::Duration::days(1)),
        )
        .await
        .unwrap();
    assert!(before.is_empty());
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn unknown_streams_are_not_found(pool: PgPool) {
    let log = EventLog::new(pool);
    let err = log.read_stream("deal-404", 1, 10).await.unwrap_err();
    assert!(
        matches!(err, EventLogError::NotFound { ref stream } if stream == "deal-404"),
        "{err:?}"
    );
    let err = log
        .read_stream_until("deal-404", StreamBound::Version(3))
        .await
        .unwrap_err();
    assert!(matches!(err, EventLogError::NotFound { .. }), "{err:?}");
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn a_stale_expectation_is_a_conflict_carrying_the_actual_version(pool: PgPool) {
    let log = EventLog::new(pool);
    log.append(
        "task-1",
        ExpectedVersion::NoStream,
        vec![ev("TaskScheduled", 1)],
    )
    .await
    .unwrap();

    let err = log
        .append(
            "task-1",
            ExpectedVersion::NoStream,
            vec![ev("TaskScheduled", 2)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, EventLogError::Conflict { ref stream, expected: ExpectedVersion::NoStream, actual: 1 } if stream == "task-1"),
        "{err:?}"
    );
    let err = log
        .append(
            "task-1",
            ExpectedVersion::Exact(3),
            vec![ev("TaskCompleted", 3)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EventLogError::Conflict {
                actual: 1,
                expected: ExpectedVersion::Exact(3),
                ..
            }
        ),
        "{err:?}"
    );
    let err = log
        .append(
            "task-2",
            ExpectedVersion::Exact(1),
            vec![ev("TaskCompleted", 3)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, EventLogError::Conflict { actual: 0, .. }),
        "{err:?}"
    );
    assert_eq!(count(&log).await, 1, "a refused append appends nothing");
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn two_appenders_with_one_expectation_one_wins(opts: PgPoolOptions, conn: PgConnectOptions) {
    let log = log_with(opts, conn, 8).await;
    log.append(
        "deal-9",
        ExpectedVersion::NoStream,
        vec![ev("DealOpened", 0)],
    )
    .await
    .unwrap();
    for round in 1..=20 {
        let (a, b) = tokio::join!(
            log.append(
                "deal-9",
                ExpectedVersion::Exact(round),
                vec![ev("DealStageChanged", 1)]
            ),
            log.append(
                "deal-9",
                ExpectedVersion::Exact(round),
                vec![ev("DealStageChanged", 2)]
            ),
        );
        let (won, lost) = match (a, b) {
            (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
            other => panic!("exactly one appender must win: {other:?}"),
        };
        assert_eq!(won.events[0].version, round + 1);
        assert!(
            matches!(lost, EventLogError::Conflict { actual, .. } if actual == round + 1),
            "{lost:?}"
        );
    }
    assert_eq!(count(&log).await, 21);
    log.close().await;
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn more_racers_than_connections_get_conflicts_not_a_starved_pool(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    // Two connections, sixteen appenders with one expectation: every loser learns
    // the stream's version on the connection it holds. Asking the pool for a second
    // one would starve it (each holds one) until the acquire timeout.
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_with(conn)
        .await
        .unwrap();
    let log = EventLog::new(pool);
    log.append(
        "deal-7",
        ExpectedVersion::NoStream,
        vec![ev("DealOpened", 0)],
    )
    .await
    .unwrap();
    let mut racers = tokio::task::JoinSet::new();
    for n in 0..16 {
        let log = log.clone();
        racers.spawn(async move {
            log.append(
                "deal-7",
                ExpectedVersion::Exact(1),
                vec![ev("DealStageChanged", n)],
            )
            .await
        });
    }
    let (mut won, mut lost) = (0, 0);
    while let Some(outcome) = racers.join_next().await {
        match outcome.unwrap() {
            Ok(_) => won += 1,
            Err(EventLogError::Conflict { actual: 2, .. }) => lost += 1,
            Err(other) => panic!("a racer failed otherwise: {other:?}"),
        }
    }
    assert_eq!((won, lost), (1, 15));
    assert_eq!(count(&log).await, 2);
    log.close().await;
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn an_append_checked_against_streams_it_read_lands_only_if_they_did_not_move(pool: PgPool) {
    let log = EventLog::new(pool);
    let none = VaultWrite::default();
    log.append(
        "manager-1",
        ExpectedVersion::NoStream,
        vec![ev("ManagerRegistered", 1)],
    )
    .await
    .unwrap();
    let read = |manager: i64, client: i64| {
        let mut unmoved = Unmoved::none();
        unmoved.push("manager-1", manager);
        unmoved.push("client-1", client);
        unmoved
    };
    // One event (one statement) and several (heads, then the insert), both ways.
    let one = |n: i64| {
        vec![StreamAppend::new(
            "call-1",
            ExpectedVersion::Any,
            vec![ev("InteractionLogged", n)],
        )]
    };
    let two = |n: i64| {
        vec![
            StreamAppend::new(
                "call-2",
                ExpectedVersion::Any,
                vec![ev("InteractionLogged", n)],
            ),
            StreamAppend::new(
                "call-3",
                ExpectedVersion::Any,
                vec![ev("InteractionLogged", n + 1)],
            ),
        ]
    };
    let out = log
        .append_checked(one(1), &none, &read(1, 0))
        .await
        .unwrap();
    assert_eq!(out.version_of("call-1"), Some(1));
    let out = log
        .append_checked(two(2), &none, &read(1, 0))
        .await
        .unwrap();
    assert_eq!(
        (out.version_of("call-2"), out.version_of("call-3")),
        (Some(1), Some(1))
    );
    assert_eq!(count(&log).await, 4);

    // The manager moves: an append that read him at version 1 is a conflict naming him.
    log.append(
        "manager-1",
        ExpectedVersion::Exact(1),
        vec![ev("ManagerRenamed", 2)],
    )
    .await
    .unwrap();
    for batches in [one(10), two(11)] {
        let err = log
            .append_checked(batches, &none, &read(1, 0))
            .await
            .unwrap_err();
        assert!(
            matches!(err, EventLogError::Conflict { ref stream, expected: ExpectedVersion::Exact(1), actual: 2 } if stream == "manager-1"),
            "{err:?}"
        );
    }
    // A stream read as absent that now exists moved too.
    log.append(
        "client-1",
        ExpectedVersion::NoStream,
        vec![ev("ClientRegistered", 3)],
    )
    .await
    .unwrap();
    let err = log
        .append_checked(one(12), &none, &read(2, 0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, EventLogError::Conflict { ref stream, expected: ExpectedVersion::NoStream, actual: 1 } if stream == "client-1"),
        "{err:?}"
    );
    assert_eq!(count(&log).await, 6, "a refused append appends nothing");
    log.append_checked(two(13), &none, &read(2, 1))
        .await
        .unwrap();
    assert_eq!(count(&log).await, 8);
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn a_conflict_on_one_stream_appends_nothing_anywhere(pool: PgPool) {
    let log = EventLog::new(pool);
    log.append(
        "deal-1",
        ExpectedVersion::NoStream,
        vec![ev("DealOpened", 1)],
    )
    .await
    .unwrap();
    let conversion = |deal_expected| {
        vec![
            StreamAppend::new(
                "lead-1",
                ExpectedVersion::NoStream,
                vec![ev("LeadConverted", 1)],
            ),
            StreamAppend::new(
                "client-1",
                ExpectedVersion::NoStream,
                vec![ev("ClientRegistered", 1)],
            ),
            StreamAppend::new("deal-1", deal_expected, vec![ev("DealOpened", 2)]),
        ]
    };
    let err = log
        .append_multi(conversion(ExpectedVersion::NoStream))
        .await
        .unwrap_err();
    assert!(
        matches!(err, EventLogError::Conflict { ref stream, actual: 1, .. } if stream == "deal-1"),
        "{err:?}"
    );
    assert_eq!(count(&log).await, 1);
    assert_eq!(log.stream_version("lead-1").await.unwrap(), None);
    assert_eq!(log.stream_version("client-1").await.unwrap(), None);

    let out = log
        .append_multi(conversion(ExpectedVersion::Exact(1)))
        .await
        .unwrap();
    assert_eq!(out.version_of("lead-1"), Some(1));
    assert_eq!(out.version_of("client-1"), Some(1));
    assert_eq!(out.version_of("deal-1"), Some(2));
    let tx_ids: std::collections::HashSet<_> = out.events.iter().map(|e| e.tx_id).collect();
    assert_eq!(tx_ids.len(), 1, "one transaction");
    assert_eq!(count(&log).await, 4);

    // The same conversion again (a retry after a lost answer) is a no-op.
    let mut retry = conversion(ExpectedVersion::Exact(1));
    for (batch, original) in retry.iter_mut().zip(&out.events) {
        batch.events[0].event_id = original.event_id;
    }
    let first_ids = |b: &[StreamAppend]| b.iter().map(|s| s.events[0].event_id).collect::<Vec<_>>();
    assert_eq!(
        first_ids(&retry),
        out.events.iter().map(|e| e.event_id).collect::<Vec<_>>()
    );
    let again = log.append_multi(retry).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.events, out.events);
    assert_eq!(count(&log).await, 4);
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn appending_a_stored_event_again_is_a_no_op(pool: PgPool) {
    let log = EventLog::new(pool);
    let batch = vec![ev("InteractionLogged", 1), ev("InteractionLogged", 2)];
    let first = log
        .append("interaction-1", ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    // A retry, even with an expectation that no longer holds, returns the original positions.
    let again = log
        .append("interaction-1", ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.events, first.events);
    assert_eq!(count(&log).await, 2);

    // Same id, other content: an error, and nothing appended.
    let mut altered = batch[1].clone();
    altered.data = json!({"n": 99});
    let err = log
        .append("interaction-1", ExpectedVersion::Any, vec![altered.clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(err, EventLogError::Duplicate { event_id } if event_id == altered.event_id),
        "{err:?}"
    );
    // Same id and payload on another stream is other content too.
    let err = log
        .append(
            "interaction-2",
            ExpectedVersion::Any,
            vec![batch[0].clone()],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, EventLogError::Duplicate { .. }), "{err:?}");
    // A batch mixing a stored event with a new one is refused whole.
    let err = log
        .append(
            "interaction-1",
            ExpectedVersion::Any,
            vec![batch[0].clone(), ev("X", 3)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, EventLogError::Duplicate { event_id } if event_id == batch[0].event_id),
        "{err:?}"
    );
    assert_eq!(count(&log).await, 2);
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn malformed_appends_are_refused(pool: PgPool) {
    let log = EventLog::new(pool);
    let cases: Vec<Vec<StreamAppend>> = vec![
        vec![],
        vec![StreamAppend::new("deal-1", ExpectedVersion::Any, vec![])],
        vec![StreamAppend::new(
            "",
            ExpectedVersion::Any,
            vec![ev("A", 1)],
        )],
        vec![StreamAppend::new(
            "deal\n1",
            ExpectedVersion::Any,
            vec![ev("A", 1)],
        )],
        vec![StreamAppend::new(
            "deal-1",
            ExpectedVersion::Any,
            vec![ev("", 1)],
        )],
        vec![StreamAppend::new(
            "deal-1",
            ExpectedVersion::Exact(0),
            vec![ev("A", 1)],
        )],
        vec![
            StreamAppend::new("deal-1", ExpectedVersion::Any, vec![ev("A", 1)]),
            StreamAppend::new("deal-1", ExpectedVersion::Any, vec![ev("A", 2)]),
        ],
        {
            let e = ev("A", 1);
            vec![StreamAppend::new(
                "deal-1",
                ExpectedVersion::Any,
                vec![e.clone(), e],
            )]
        },
        {
            let mut e = ev("A", 1);
            e.schema_version = 0;
            vec![StreamAppend::new("deal-1", ExpectedVersion::Any, vec![e])]
        },
        // PostgreSQL's jsonb cannot hold a NUL character.
        vec![StreamAppend::new(
            "deal-1",
            ExpectedVersion::Any,
            vec![NewEvent::new("A", json!({"s": "a\u{0}b"}))],
        )],
    ];
    for case in cases {
        let err = log.append_multi(case.clone()).await.unwrap_err();
        assert!(
            matches!(err, EventLogError::Invalid(_)),
            "{case:?}: {err:?}"
        );
    }
    assert_eq!(count(&log).await, 0);
}
