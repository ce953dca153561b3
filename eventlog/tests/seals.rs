//! Seals over the global feed: tampering with a copy of a sealed log behind its back
//! (altering, deleting, inserting, reordering, even with the stream's chain recomputed)
//! is caught and the event named; the original still verifies.

use crate::common::{behind_the_back, copy_database, drop_database, ev, exec, rechain};
use crm_eventlog::{BadEvent, BreakKind, EventLog, ExpectedVersion, VerifyReport};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

/// Events per seal in these tests: 17 events make 5 seals.
const SEAL_SIZE: usize = 4;

async fn open(conn: &PgConnectOptions) -> EventLog {
    crate::common::log_with(PgPoolOptions::new(), conn.clone(), 4).await
}

/// Seals until every event is in a seal (other tests' transactions on the same
/// server hold the feed's bound back for a moment), counted in plain SQL; returns
/// the seals written.
async fn seal_everything(log: &EventLog) -> u64 {
    let mut written = 0;
    // Other tests' transactions may hold the feed back: wait for the condition.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        written += log.seal(SEAL_SIZE).await.unwrap().seals;
        let (events, sealed): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM eventlog.events), \
                    (SELECT coalesce(sum(event_count), 0)::bigint FROM eventlog.seals)",
        )
        .fetch_one(log.pool())
        .await
        .unwrap();
        if events == sealed {
            return written;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the log did not settle in 60 s");
}

/// Three streams of five events appended in interleaved order, and a lead converted
/// into a client in one append; sealed; the pool closed so the database can be copied.
async fn sealed_original(conn: &PgConnectOptions) {
    let log = open(conn).await;
    crate::common::append_story(&log).await;
    seal_everything(&log).await;
    log.close().await;
}

/// An event's (id, position, tx_id).
async fn event(log: &EventLog, stream: &str, version: i64) -> (Uuid, i64, i64) {
    sqlx::query_as(
        "SELECT event_id, position, tx_id FROM eventlog.events WHERE stream_id = $1 AND version = $2",
    )
    .bind(stream)
    .bind(version)
    .fetch_one(log.pool())
    .await
    .unwrap()
}

/// Tampers with a fresh copy of the original through `tamper`, verifies the copy and
/// drops it; checks that the original still verifies.
async fn on_a_copy<F, Fut>(conn: &PgConnectOptions, name: &str, tamper: F) -> VerifyReport
where
    F: FnOnce(EventLog) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let copy = copy_database(conn, name).await;
    let log = open(&copy).await;
    let pristine = log.verify().await.unwrap();
    assert!(
        pristine.is_intact(),
        "{name}: the copy before tampering: {pristine:?}"
    );
    tamper(log.clone()).await;
    let report = log.verify().await.unwrap();
    log.close().await;
    drop_database(&copy).await;
    let original = open(conn).await;
    let still = original.verify().await.unwrap();
    original.close().await;
    assert!(still.is_intact(), "{name}: the original: {still:?}");
    assert_eq!(still.events_sealed, 17);
    report
}

fn named(report: &VerifyReport) -> &BadEvent {
    assert!(!report.is_intact(), "{report:?}");
    report.first_bad.as_ref().expect("a bad event")
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn a_sealed_log_verifies_and_says_what_is_sealed(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    sealed_original(&conn).await;
    let log = open(&conn).await;
    let (seals, last_seq, last_hash): (i64, i64, Vec<u8>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM eventlog.seals), seq, seal_hash FROM eventlog.seals \
         ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(log.pool())
    .await
    .unwrap();
    let report = log.verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(
        (
            report.streams,
            report.events,
            report.events_sealed,
            report.unsealed_events
        ),
        (5, 17, 17, 0)
    );
    // 17 events in seals of at most 4, none empty.
    assert!((5..=17).contains(&seals), "{seals} seals");
    assert_eq!(report.seals, seals as u64);
    let head = report.last_seal.unwrap();
    assert_eq!((head.seq, head.hash), (last_seq, hex::encode(last_hash)));

    // Events appended after sealing are checked by their chains only, and verify.
    for n in 0..3 {
        log.append("deal-late", ExpectedVersion::Any, vec![ev("DealOpened", n)])
            .await
            .unwrap();
    }
    let report = log.verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(
        (report.events, report.events_sealed, report.unsealed_events),
        (20, 17, 3)
    );
    // Sealed next time round.
    seal_everything(&log).await;
    let report = log.verify().await.unwrap();
    assert_eq!((report.events_sealed, report.unsealed_events), (20, 0));
    log.close().await;
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn an_altered_event_is_named_even_with_its_chain_recomputed(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    sealed_original(&conn).await;
    let report = on_a_copy(&conn, "altered", |log| async move {
        behind_the_back(
            &log,
            "UPDATE eventlog.events SET data = '{\"n\": 1000}' WHERE stream_id = 'deal-b' AND version = 3",
        )
        .await;
        rechain(&log, "deal-b").await;
    })
    .await;
    // The chain alone no longer sees it…
    assert_eq!(report.broken_streams, 0, "{report:?}");
    // …the seal does.
    let bad = named(&report);
    assert_eq!(
        (bad.kind, bad.stream.as_deref(), bad.version, bad.found_by),
        (BreakKind::Altered, Some("deal-b"), Some(3), "seal")
    );
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn a_deleted_event_is_named_from_its_seal(_opts: PgPoolOptions, conn: PgConnectOptions) {
    sealed_original(&conn).await;
    let log = open(&conn).await;
    let (last_of_c, last_position, _) = event(&log, "deal-c", 5).await;
    let (third_of_a, third_position, _) = event(&log, "deal-a", 3).await;
    log.close().await;

    // The last event of a stream: no later event's chain can miss it.
    let report = on_a_copy(&conn, "deleted_last", |log| async move {
        behind_the_back(
            &log,
            "DELETE FROM eventlog.events WHERE stream_id = 'deal-c' AND version = 5",
        )
        .await;
    })
    .await;
    assert_eq!(report.broken_streams, 0, "{report:?}");
    let bad = named(&report);
    assert_eq!(
        (bad.kind, bad.event_id, bad.position, bad.found_by),
        (BreakKind::Deleted, last_of_c, last_position, "seal")
    );

    // In the middle of a stream the chain sees a gap at version 4; the seal names 3.
    let report = on_a_copy(&conn, "deleted_middle", |log| async move {
        behind_the_back(
            &log,
            "DELETE FROM eventlog.events WHERE stream_id = 'deal-a' AND version = 3",
        )
        .await;
    })
    .await;
    assert_eq!(report.broken_streams, 1, "{report:?}");
    let bad = named(&report);
    assert_eq!(
        (bad.kind, bad.event_id, bad.position),
        (BreakKind::Deleted, third_of_a, third_position)
    );
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn an_inserted_stream_with_a_valid_chain_is_named(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    sealed_original(&conn).await;
    let forged = Uuid::new_v4();
    let report = on_a_copy(&conn, "inserted", |log| async move {
        // A new stream's first event, hashed correctly, placed in the middle of the
        // sealed feed: in deal-b v2's transaction, at a position never handed out.
        let (_, _, tx_id) = event(&log, "deal-b", 2).await;
        let position: i64 = sqlx::query_scalar("SELECT max(position) + 1000 FROM eventlog.events")
            .fetch_one(log.pool())
            .await
            .unwrap();
        let at = chrono::DateTime::from_timestamp_micros(1_760_000_000_000_000).unwrap();
        let fields = crm_eventlog::ChainedFields {
            event_id: forged,
            stream: "deal-forged",
            version: 1,
            position,
            event_type: "DealWon",
            schema_version: 1,
            occurred_at: at,
            recorded_at: at,
            data: "{\"n\":1}",
            metadata: "{}",
        };
        let hash = fields.hash(&crm_eventlog::GENESIS_HASH);
        sqlx::query(
            "INSERT INTO eventlog.events (position, tx_id, event_id, stream_id, version, event_type, \
                 schema_version, occurred_at, recorded_at, data, metadata, hash) \
             VALUES ($1, $2, $3, 'deal-forged', 1, 'DealWon', 1, $4, $4, '{\"n\": 1}', '{}', $5)",
        )
        .bind(position)
        .bind(tx_id)
        .bind(forged)
        .bind(at)
        .bind(&hash[..])
        .execute(log.pool())
        .await
        .unwrap();
    })
    .await;
    assert_eq!(
        report.broken_streams, 0,
        "the forged chain is valid: {report:?}"
    );
    let bad = named(&report);
    assert_eq!(
        (bad.kind, bad.event_id, bad.stream.as_deref(), bad.found_by),
        (BreakKind::Inserted, forged, Some("deal-forged"), "seal")
    );
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn reordered_events_are_named(_opts: PgPoolOptions, conn: PgConnectOptions) {
    sealed_original(&conn).await;
    let log = open(&conn).await;
    let (a1, a, _) = event(&log, "deal-a", 1).await;
    let (_, b, _) = event(&log, "deal-b", 1).await;
    let (c1, c, _) = event(&log, "deal-c", 1).await;
    log.close().await;

    // Two events of different streams swap positions; both chains are recomputed.
    let report = on_a_copy(&conn, "swapped_positions", |log| async move {
        behind_the_back(
            &log,
            &format!(
                "UPDATE eventlog.events SET position = -1 WHERE position = {a}; \
                 UPDATE eventlog.events SET position = {a} WHERE position = {b}; \
                 UPDATE eventlog.events SET position = {b} WHERE position = -1"
            ),
        )
        .await;
        rechain(&log, "deal-a").await;
        rechain(&log, "deal-b").await;
    })
    .await;
    assert_eq!(report.broken_streams, 0, "{report:?}");
    let bad = named(&report);
    // deal-a's first event comes first in feed order, now at deal-b's position.
    assert_eq!(
        (bad.kind, bad.event_id, bad.position, bad.found_by),
        (BreakKind::Reordered, a1, b, "seal")
    );

    // Two events swap places in the feed (transaction ids are not hashed: the
    // chains cannot see it at all).
    let report = on_a_copy(&conn, "swapped_feed_order", |log| async move {
        behind_the_back(
            &log,
            &format!(
                "UPDATE eventlog.events e SET tx_id = o.tx_id FROM eventlog.events o \
                  WHERE (e.position, o.position) IN (({a}, {c}), ({c}, {a}))"
            ),
        )
        .await;
    })
    .await;
    assert_eq!(report.broken_streams, 0, "{report:?}");
    let bad = named(&report);
    assert_eq!(
        (bad.kind, bad.event_id, bad.position),
        (BreakKind::Reordered, c1, c)
    );
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn an_altered_or_deleted_seal_is_caught(_opts: PgPoolOptions, conn: PgConnectOptions) {
    sealed_original(&conn).await;
    let report = on_a_copy(&conn, "seal_altered", |log| async move {
        behind_the_back(
            &log,
            "UPDATE eventlog.seals SET entries = set_byte(entries, 30, get_byte(entries, 30) # 1) \
             WHERE seq = 2",
        )
        .await;
    })
    .await;
    assert!(!report.is_intact());
    let seal = report.bad_seal.expect("a bad seal");
    assert_eq!(seal.seq, 2, "{}", seal.detail);
    // The events did not change: no event is blamed.
    assert_eq!(report.first_bad, None);

    let report = on_a_copy(&conn, "seal_deleted", |log| async move {
        behind_the_back(&log, "DELETE FROM eventlog.seals WHERE seq = 2").await;
    })
    .await;
    let seal = report.bad_seal.expect("a missing seal");
    assert_eq!(seal.seq, 2, "{}", seal.detail);
    assert!(seal.detail.contains("missing"), "{}", seal.detail);

    // A seal's guard refuses changes like the events'.
    let log = open(&conn).await;
    let err = exec(&log, "DELETE FROM eventlog.seals").await.unwrap_err();
    assert_eq!(
        err.as_database_error().unwrap().code().as_deref(),
        Some("CR003")
    );
    log.close().await;
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn racing_sealers_cover_the_feed_once_in_order(_opts: PgPoolOptions, conn: PgConnectOptions) {
    let log = crate::common::log_with(PgPoolOptions::new(), conn.clone(), 16).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sealers: Vec<_> = (0..4)
        .map(|_| {
            let (log, stop) = (log.clone(), stop.clone());
            tokio::spawn(async move {
                let mut written = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    written += log.seal(3).await.unwrap().seals;
                }
                written
            })
        })
        .collect();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let log = log.clone();
            tokio::spawn(async move {
                for n in 0..50 {
                    let stream = format!("deal-{}", (w * 50 + n) % 7);
                    log.append(
                        &stream,
                        ExpectedVersion::Any,
                        vec![ev("DealStageChanged", n), ev("DealAmountChanged", n)],
                    )
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut written = 0;
    for s in sealers {
        written += s.await.unwrap();
    }
    // Then four sealers race over whatever is left, all for the same next seals.
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let log = log.clone();
            tokio::spawn(async move { log.seal(3).await.unwrap().seals })
        })
        .collect();
    for r in racers {
        written += r.await.unwrap();
    }
    written += seal_everything(&log).await;

    // Seals 1..n, and their entries, concatenated, are the feed: every event once, in order.
    let seals: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, entries FROM eventlog.seals ORDER BY seq")
            .fetch_all(log.pool())
            .await
            .unwrap();
    let seqs: Vec<i64> = seals.iter().map(|s| s.0).collect();
    assert_eq!(seqs, (1..=seals.len() as i64).collect::<Vec<_>>());
    // Each seal was written by exactly one sealer.
    assert_eq!(written, seals.len() as u64);
    let sealed: Vec<(i64, Uuid)> = seals
        .iter()
        .flat_map(|(_, entries)| entries.chunks(56))
        .map(|r| {
            (
                i64::from_be_bytes(r[..8].try_into().unwrap()),
                Uuid::from_slice(&r[8..24]).unwrap(),
            )
        })
        .collect();
    let feed: Vec<(i64, Uuid)> =
        sqlx::query_as("SELECT position, event_id FROM eventlog.events ORDER BY tx_id, position")
            .fetch_all(log.pool())
            .await
            .unwrap();
    assert_eq!(feed.len(), 400);
    assert_eq!(sealed, feed);
    let report = log.verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(
        (report.events_sealed, report.seals),
        (400, seals.len() as u64)
    );
    log.close().await;
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn the_background_sealer_seals_what_is_appended(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let log = open(&conn).await;
    let sealer = crm_eventlog::Sealer::spawn(
        log.clone(),
        crm_eventlog::SealerOptions {
            interval: std::time::Duration::from_millis(50),
            max_per_seal: 2,
        },
    );
    for n in 0..5 {
        log.append(
            "deal-bg",
            ExpectedVersion::Any,
            vec![ev("DealStageChanged", n)],
        )
        .await
        .unwrap();
    }
    let mut sealed = 0i64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        sealed =
            sqlx::query_scalar("SELECT coalesce(sum(event_count), 0)::bigint FROM eventlog.seals")
                .fetch_one(log.pool())
                .await
                .unwrap();
        if sealed == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(sealed, 5, "the sealer sealed every event");
    sealer.shutdown().await;
    let seals: i64 = sqlx::query_scalar("SELECT count(*) FROM eventlog.seals")
        .fetch_one(log.pool())
        .await
        .unwrap();
    assert!(seals >= 3, "at most 2 events a seal: {seals} seals");
    // Stopped: what is appended now stays unsealed.
    log.append("deal-bg", ExpectedVersion::Any, vec![ev("DealWon", 5)])
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let report = log.verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.events_sealed, report.unsealed_events), (5, 1));
    log.close().await;
}
