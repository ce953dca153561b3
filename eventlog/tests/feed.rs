//! The global feed: every committed event exactly once, each stream in version order,
//! whatever the concurrency of writers.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::common::{ev, log_with};
use crm_eventlog::{
    Cursor, EventLog, EventLogError, ExpectedVersion, FeedFilter, RecordedEvent, StreamAppend,
};
use rand::{Rng, SeedableRng};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use uuid::Uuid;

/// Makes appends of `event_type` wait, after their insert and before their commit,
/// with `body` (PL/pgSQL): a writer whose transaction commits late.
async fn delay_commits_of(log: &EventLog, event_type: &str, body: &str) {
    crate::common::exec(
        log,
        &format!(
            "CREATE FUNCTION test_delay() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$; \
             CREATE TRIGGER test_delay AFTER INSERT ON eventlog.events FOR EACH ROW \
             WHEN (NEW.event_type = '{event_type}') EXECUTE FUNCTION test_delay();"
        ),
    )
    .await
    .unwrap();
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn a_late_commit_is_held_back_not_skipped(opts: PgPoolOptions, conn: PgConnectOptions) {
    let log = log_with(opts, conn, 6).await;
    // Appends of "Early" wait for a gate (an advisory lock) this test holds.
    delay_commits_of(
        &log,
        "Early",
        "PERFORM pg_advisory_lock_shared(4242); PERFORM pg_advisory_unlock_shared(4242)",
    )
    .await;
    let mut gate = log.pool().acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(4242)")
        .execute(&mut *gate)
        .await
        .unwrap();

    // T1 appends first and waits at the gate; T2 appends after it and commits.
    let early = tokio::spawn({
        let log = log.clone();
        async move {
            log.append("deal-1", ExpectedVersion::Any, vec![ev("Early", 1)])
                .await
                .unwrap()
        }
    });
    let waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted";
    while sqlx::query_scalar::<_, i64>(waiting)
        .fetch_one(log.pool())
        .await
        .unwrap()
        == 0
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let late = log
        .append("deal-2", ExpectedVersion::Any, vec![ev("Late", 2)])
        .await
        .unwrap();

    // A reader by position alone would now see T2's event and move past T1's position.
    let page = log
        .read_feed(Cursor::start(), 100, &FeedFilter::default())
        .await
        .unwrap();
    assert!(page.events.is_empty(), "{:?}", page.events);
    assert!(page.held_back);
    assert_eq!(page.next, Cursor::start());

    sqlx::query("SELECT pg_advisory_unlock(4242)")
        .execute(&mut *gate)
        .await
        .unwrap();
    drop(gate);
    let early = early.await.unwrap();
    assert!(early.last_position() < late.last_position());
    // Transactions of other tests on the same server may hold the feed back a little longer.
    crate::common::wait_for_feed(&log, 2).await;
    let page = log
        .read_feed(Cursor::start(), 100, &FeedFilter::default())
        .await
        .unwrap();
    let types: Vec<_> = page.events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["Early", "Late"]);
    log.close().await;
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn the_feed_pages_by_cursor_and_filters_by_type(pool: PgPool) {
    let log = EventLog::new(pool);
    for n in 0..25 {
        let ty = if n % 5 == 0 {
            "DealWon"
        } else {
            "InteractionLogged"
        };
        log.append(
            &format!("s-{}", n % 4),
            ExpectedVersion::Any,
            vec![ev(ty, n)],
        )
        .await
        .unwrap();
    }
    crate::common::wait_for_feed(&log, 25).await;
    let mut cursor = Cursor::start();
    let mut seen = Vec::new();
    loop {
        let page = log
            .read_feed(cursor, 7, &FeedFilter::default())
            .await
            .unwrap();
        assert!(page.events.len() <= 7);
        seen.extend(page.events.iter().map(|e| e.data["n"].as_i64().unwrap()));
        // The cursor survives a round trip through its text form.
        cursor = page.next.to_string().parse().unwrap();
        if page.caught_up {
            break;
        }
    }
    assert_eq!(seen, (0..25).collect::<Vec<_>>());

    let won = log
        .read_feed(Cursor::start(), 100, &FeedFilter::types(["DealWon"]))
        .await
        .unwrap();
    assert_eq!(
        won.events
            .iter()
            .map(|e| e.data["n"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [0, 5, 10, 15, 20]
    );
    // Caught up, the filtered cursor moves past the events it passed over.
    let all = log
        .read_feed(Cursor::start(), 100, &FeedFilter::default())
        .await
        .unwrap();
    assert_eq!(won.next, all.next);
    let none = log
        .read_feed(Cursor::start(), 100, &FeedFilter::types(["Nothing"]))
        .await
        .unwrap();
    assert!(none.events.is_empty());
    assert_eq!(none.next, all.next);

    for bad in ["", "12", "v1.1", "v1.1.x", "v2.1.1", "v1.-1.3", "v1.1.2.3"] {
        assert!(
            matches!(bad.parse::<Cursor>(), Err(EventLogError::Invalid(_))),
            "{bad}"
        );
    }
}

/// What one writer committed: event ids.
type Committed = Vec<Uuid>;

async fn writer(log: EventLog, seed: u64, rounds: usize, hot: Vec<String>) -> Committed {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut committed = Vec::new();
    for _ in 0..rounds {
        let cold = format!("cold-{}", rng.gen_range(0..400));
        let hot_stream = hot[rng.gen_range(0..hot.len())].clone();
        match rng.gen_range(0..10) {
            // A random stream, one to three events.
            0..=3 => {
                let events: Vec<_> = (0..rng.gen_range(1..=3)).map(|n| ev("Cold", n)).collect();
                let out = log
                    .append(&cold, ExpectedVersion::Any, events)
                    .await
                    .unwrap();
                committed.extend(out.events.iter().map(|e| e.event_id));
            }
            // A hot stream, without expectation.
            4..=6 => {
                let out = log
                    .append(&hot_stream, ExpectedVersion::Any, vec![ev("Hot", 0)])
                    .await
                    .unwrap();
                committed.extend(out.events.iter().map(|e| e.event_id));
            }
            // A hot stream with an exact expectation, retried on conflict.
            7 => loop {
                let version = log.stream_version(&hot_stream).await.unwrap().unwrap_or(0);
                let expected = if version == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(version)
                };
                match log
                    .append(&hot_stream, expected, vec![ev("HotExact", version)])
                    .await
                {
                    Ok(out) => {
                        committed.extend(out.events.iter().map(|e| e.event_id));
                        break;
                    }
                    Err(EventLogError::Conflict { .. }) => continue,
                    Err(other) => panic!("{other}"),
                }
            },
            // Several streams in one transaction: a hot one and a cold one.
            8 => {
                let out = log
                    .append_multi(vec![
                        StreamAppend::new(cold.clone(), ExpectedVersion::Any, vec![ev("Multi", 1)]),
                        StreamAppend::new(
                            hot_stream.clone(),
                            ExpectedVersion::Any,
                            vec![ev("Multi", 2), ev("Multi", 3)],
                        ),
                    ])
                    .await
                    .unwrap();
                committed.extend(out.events.iter().map(|e| e.event_id));
            }
            // A transaction that commits late (see the trigger the test installs).
            _ => {
                let out = log
                    .append(&hot_stream, ExpectedVersion::Any, vec![ev("Slow", 0)])
                    .await
                    .unwrap();
                committed.extend(out.events.iter().map(|e| e.event_id));
            }
        }
    }
    committed
}

/// Checks the events a reader saw, in its order, against what the writers committed.
fn check_reader(name: &str, seen: &[RecordedEvent], committed: &HashSet<Uuid>) {
    let mut ids = HashSet::new();
    let mut versions: HashMap<&str, i64> = HashMap::new();
    for e in seen {
        assert!(
            ids.insert(e.event_id),
            "{name}: event {} delivered twice",
            e.event_id
        );
        let last = versions.entry(e.stream.as_str()).or_insert(0);
        assert_eq!(
            e.version,
            *last + 1,
            "{name}: stream {} out of version order",
            e.stream
        );
        *last = e.version;
    }
    assert_eq!(
        ids.len(),
        committed.len(),
        "{name}: saw {} of {} events",
        ids.len(),
        committed.len()
    );
    assert!(
        ids == *committed,
        "{name}: the events seen are not the events committed"
    );
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn sixteen_writers_and_readers_see_every_event_once_in_stream_order(
    opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    const WRITERS: u64 = 16;
    const ROUNDS: usize = 250;
    let log = log_with(opts, conn, 24).await;
    delay_commits_of(&log, "Slow", "PERFORM pg_sleep(random() * 0.015)").await;
    let hot: Vec<String> = (0..3).map(|n| format!("hot-{n}")).collect();

    // None while the writers write; then how many events they committed.
    let (done_tx, done_rx) = tokio::sync::watch::channel(None::<usize>);
    // A subscriber and a plain pager follow the feed while the writers write.
    let subscriber = {
        let mut sub = log.subscribe(Cursor::start(), FeedFilter::default());
        let done = done_rx.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            // Stops once it has seen as many events as were committed (or, should it
            // never, after a deadline no loaded machine reaches: the check then fails).
            let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
            loop {
                if done.borrow().is_some_and(|total| seen.len() >= total)
                    || tokio::time::Instant::now() >= deadline
                {
                    return seen;
                }
                // Wakes now and then to look at the condition again.
                let batch =
                    tokio::time::timeout(Duration::from_millis(300), sub.next_batch(500)).await;
                if let Ok(events) = batch {
                    seen.extend(events.unwrap());
                }
            }
        })
    };
    let pager = {
        let log = log.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut cursor = Cursor::start();
            loop {
                let finished = done.borrow().is_some();
                let page = log
                    .read_feed(cursor, 97, &FeedFilter::default())
                    .await
                    .unwrap();
                cursor = page.next;
                seen.extend(page.events);
                if page.caught_up && !page.held_back {
                    if finished {
                        return seen;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        })
    };

    let writers: Vec<_> = (0..WRITERS)
        .map(|seed| tokio::spawn(writer(log.clone(), seed, ROUNDS, hot.clone())))
        .collect();
    let mut committed = HashSet::new();
    for w in writers {
        committed.extend(w.await.unwrap());
    }
    done_tx.send(Some(committed.len())).unwrap();
    assert!(committed.len() > 5_000, "{} events", committed.len());

    let by_subscriber = subscriber.await.unwrap();
    let by_pager = pager.await.unwrap();
    check_reader("subscriber", &by_subscriber, &committed);
    check_reader("pager", &by_pager, &committed);
    assert!(log.verify().await.unwrap().is_intact());
    log.close().await;
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn a_sparse_filter_pages_through_scan_windows_without_losing_events(pool: PgPool) {
    // 45,000 events, one in 1,000 of the filtered type: pages stop at their scan window
    // (short, even empty, yet not caught up), and together hold every match once.
    let log = EventLog::new(pool);
    let total = 45_000i64;
    for chunk in 0..(total / 1_000) {
        let events = (0..1_000)
            .map(|i| {
                let n = chunk * 1_000 + i;
                ev(if n % 1_000 == 999 { "DealWon" } else { "Tick" }, n)
            })
            .collect();
        log.append(&format!("s-{chunk}"), ExpectedVersion::NoStream, events)
            .await
            .unwrap();
    }
    crate::common::wait_for_feed(&log, total as usize).await;
    let filter = FeedFilter::types(["DealWon"]);
    let (mut cursor, mut seen, mut short_pages) = (Cursor::start(), Vec::new(), 0);
    loop {
        let page = log.read_feed(cursor, 50, &filter).await.unwrap();
        if page.events.len() < 50 && !page.caught_up {
            short_pages += 1;
        }
        seen.extend(page.events.iter().map(|e| e.data["n"].as_i64().unwrap()));
        assert!(page.next >= cursor);
        cursor = page.next;
        if page.caught_up {
            break;
        }
    }
    let expected: Vec<i64> = (0..total).filter(|n| n % 1_000 == 999).collect();
    assert_eq!(seen, expected);
    let counts = log.count_by_type().await.unwrap();
    assert_eq!(counts.get("DealWon"), Some(&45));
    assert_eq!(counts.get("Tick"), Some(&(total - 45)));
    assert_eq!(counts.len(), 2);
    assert!(short_pages >= 1, "the scan window was reached");
    // A subscription follows the same windows without waiting at each.
    let mut sub = log.subscribe(Cursor::start(), filter);
    let mut followed = Vec::new();
    while followed.len() < expected.len() {
        let batch = tokio::time::timeout(Duration::from_secs(10), sub.next_batch(100))
            .await
            .expect("the subscription reads on past short windows")
            .unwrap();
        followed.extend(batch.iter().map(|e| e.data["n"].as_i64().unwrap()));
    }
    assert_eq!(followed, expected);
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn a_non_appending_connection_holds_the_feed_back_for_nobody_and_cannot_append(
    opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    use sqlx::Connection;
    let log = log_with(opts, conn.clone(), 4).await;
    let quiet = crm_eventlog::non_appending(&conn, "test");
    // A plain connection's transaction that has written holds the feed back; the same
    // from a non-appending connection does not.
    let mut plain = sqlx::PgConnection::connect_with(&conn).await.unwrap();
    let mut other = sqlx::PgConnection::connect_with(&quiet).await.unwrap();
    for c in [&mut plain, &mut other] {
        sqlx::query("BEGIN").execute(&mut *c).await.unwrap();
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&mut *c)
            .await
            .unwrap();
    }
    let appended = log
        .append("deal-1", ExpectedVersion::Any, vec![ev("Later", 1)])
        .await
        .unwrap();
    let position = appended.last_position();
    let page = log
        .read_feed(Cursor::start(), 100, &FeedFilter::default())
        .await
        .unwrap();
    assert!(page.events.is_empty() && page.held_back, "{page:?}");
    assert_eq!(log.feed_delivers(position).await.unwrap(), Some(false));
    sqlx::query("COMMIT").execute(&mut plain).await.unwrap();
    // Only the non-appending transaction is still open (other tests' transactions are
    // in other databases, which no longer count either).
    crate::common::wait_for_feed(&log, 1).await;
    assert_eq!(log.feed_delivers(position).await.unwrap(), Some(true));
    let running: Option<String> = sqlx::query_scalar(
        "SELECT backend_xid::text FROM pg_stat_activity WHERE application_name = 'crm-no-append:test'",
    )
    .fetch_one(log.pool())
    .await
    .unwrap();
    assert!(
        running.is_some(),
        "the non-appending transaction still runs"
    );

    // Nor can it append, in a transaction or not.
    let refused = sqlx::query(
        "INSERT INTO eventlog.events (event_id, stream_id, version, event_type, schema_version, \
                                      occurred_at, recorded_at, data, metadata, hash) \
         VALUES (gen_random_uuid(), 'x-1', 1, 'T', 1, now(), now(), '{}', '{}', '\\x00')",
    )
    .execute(&mut other)
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("may not append"), "{refused}");
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    let quiet_log = EventLog::new(
        PgPoolOptions::new()
            .max_connections(1)
            .connect_with(quiet)
            .await
            .unwrap(),
    );
    let refused = quiet_log
        .append("deal-2", ExpectedVersion::Any, vec![ev("T", 2)])
        .await
        .unwrap_err();
    assert!(
        format!("{refused:?}").contains("may not append"),
        "{refused:?}"
    );
    quiet_log.close().await;
    log.close().await;
}
