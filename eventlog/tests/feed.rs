//! The global feed: every committed event exactly once, each stream in version order,
//! whatever the concurrency of writers.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::{ev, log_with};
use crm_eventlog::{
    Cursor, EventLog, EventLogError, ExpectedVersion, FeedFilter, RecordedEvent, StreamAppend,
};
use rand::{Rng, SeedableRng};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use uuid::Uuid;

/// Appends one event through the append function inside a transaction that stays
/// open for `hold` before committing: a writer that commits late.
async fn append_and_commit_late(
    log: &EventLog,
    stream: &str,
    hold: Duration,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    let mut tx = log.pool().begin().await?;
    sqlx::query(
        "SELECT * FROM eventlog.append(ARRAY[$1], ARRAY[NULL::bigint], ARRAY[1], ARRAY[$2::uuid], \
         ARRAY['SlowEvent'], ARRAY[1], ARRAY[now()], ARRAY['{}'::jsonb], ARRAY['{\"source\": \"api\"}'::jsonb])",
    )
    .bind(stream)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tokio::time::sleep(hold).await;
    tx.commit().await?;
    Ok(id)
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn a_late_commit_is_held_back_not_skipped(pool: PgPool) {
    let log = EventLog::new(pool);
    // T1 appends first but has not committed; T2 appends after it and commits.
    let mut t1 = log.pool().begin().await.unwrap();
    sqlx::query(
        "SELECT * FROM eventlog.append(ARRAY['deal-1'], ARRAY[NULL::bigint], ARRAY[1], ARRAY[gen_random_uuid()], \
         ARRAY['Early'], ARRAY[1], ARRAY[now()], ARRAY['{}'::jsonb], ARRAY['{\"source\": \"api\"}'::jsonb])",
    )
    .execute(&mut *t1)
    .await
    .unwrap();
    let t2 = log
        .append("deal-2", ExpectedVersion::Any, vec![ev("Late", 1)])
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

    t1.commit().await.unwrap();
    // Transactions of other tests on the same server may hold the feed back a little longer.
    let mut cursor = page.next;
    let mut seen = Vec::new();
    for _ in 0..500 {
        let page = log
            .read_feed(cursor, 100, &FeedFilter::default())
            .await
            .unwrap();
        cursor = page.next;
        seen.extend(page.events);
        if seen.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let types: Vec<_> = seen.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["Early", "Late"]);
    assert!(seen[0].position < t2.last_position());
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
    common::wait_for_feed(&log, 25).await;
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
            // A transaction that commits late.
            _ => {
                let hold = Duration::from_millis(rng.gen_range(0..15));
                committed.push(
                    append_and_commit_late(&log, &hot_stream, hold)
                        .await
                        .unwrap(),
                );
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
    let hot: Vec<String> = (0..3).map(|n| format!("hot-{n}")).collect();

    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    // A subscriber and a plain pager follow the feed while the writers write.
    let subscriber = {
        let mut sub = log.subscribe(Cursor::start(), FeedFilter::default());
        let done = done_rx.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let finished = *done.borrow();
                let batch =
                    tokio::time::timeout(Duration::from_millis(300), sub.next_batch(500)).await;
                match batch {
                    Ok(events) => seen.extend(events.unwrap()),
                    Err(_) if finished => return seen,
                    Err(_) => {}
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
                let finished = *done.borrow();
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
    done_tx.send(true).unwrap();
    assert!(committed.len() > 5_000, "{} events", committed.len());

    let by_subscriber = subscriber.await.unwrap();
    let by_pager = pager.await.unwrap();
    check_reader("subscriber", &by_subscriber, &committed);
    check_reader("pager", &by_pager, &committed);
    assert!(log.verify().await.unwrap().is_intact());
    log.close().await;
}
