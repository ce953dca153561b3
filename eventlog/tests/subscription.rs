//! Subscriptions wake on notifications, poll when they are missed, and survive
//! dropped connections. (A full database restart is tested in the workspace's tests/.)

use std::time::{Duration, Instant};

use crate::common::{ev, log_with};
use crm_eventlog::{Cursor, EventLog, ExpectedVersion, FeedFilter, RecordedEvent, Subscription};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// Waits up to `within` for the subscription's next events, tolerating the
/// `Unavailable` errors of a database connection being replaced.
async fn next_events(sub: &mut Subscription, within: Duration) -> Vec<RecordedEvent> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, sub.next_batch(100)).await {
            Ok(Ok(events)) => return events,
            Ok(Err(err)) if err.is_unavailable() => continue,
            Ok(Err(err)) => panic!("{err}"),
            Err(_) => panic!("no events within {within:?}"),
        }
    }
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn an_append_wakes_a_waiting_subscriber_without_polling(
    opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let log = log_with(opts, conn, 4).await;
    log.append("deal-1", ExpectedVersion::Any, vec![ev("First", 1)])
        .await
        .unwrap();
    // Polling once a minute: only a notification can deliver within the test's limits.
    let mut sub = log
        .subscribe(Cursor::start(), FeedFilter::default())
        .with_poll_interval(Duration::from_secs(60));
    let first = next_events(&mut sub, Duration::from_secs(10)).await;
    assert_eq!(first.len(), 1);

    let mut latencies = Vec::new();
    for n in 0..5 {
        let writer = log.clone();
        let appended = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let out = writer
                .append("deal-1", ExpectedVersion::Any, vec![ev("Next", n)])
                .await
                .unwrap();
            (out, Instant::now())
        });
        let events = next_events(&mut sub, Duration::from_secs(20)).await;
        let received = Instant::now();
        let (out, committed) = appended.await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_id, out.events[0].event_id);
        latencies.push(received.saturating_duration_since(committed));
    }
    println!("append-to-subscriber latencies: {latencies:?}");
    log.close().await;
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn appends_that_notify_nobody_are_found_by_polling(
    opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let log = log_with(opts, conn, 4).await;
    let mut sub = log
        .subscribe(Cursor::start(), FeedFilter::default())
        .with_poll_interval(Duration::from_millis(100));
    // Another writer inserts a row by hand and sends no notification, once the
    // subscription has found the feed empty and polls it (each poll must read anew).
    let pool = log.pool().clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(350)).await;
        sqlx::query(
            "INSERT INTO eventlog.events (event_id, stream_id, version, event_type, schema_version, \
             occurred_at, recorded_at, data, metadata, hash) \
             VALUES (gen_random_uuid(), 'deal-7', 1, 'Silent', 1, now(), now(), '{}', '{}', '\\x00')",
        )
        .execute(&pool)
        .await
        .unwrap();
    });
    let events = next_events(&mut sub, Duration::from_secs(20)).await;
    writer.await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "Silent");
    log.close().await;
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn a_subscription_survives_its_connections_being_killed(
    opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let log = log_with(opts, conn.clone(), 4).await;
    let mut sub = log
        .subscribe(Cursor::start(), FeedFilter::default())
        .with_poll_interval(Duration::from_secs(60));
    log.append("deal-1", ExpectedVersion::Any, vec![ev("Before", 1)])
        .await
        .unwrap();
    assert_eq!(
        next_events(&mut sub, Duration::from_secs(10)).await[0].event_type,
        "Before"
    );

    // Kill every connection to this database: the log's pool and its listener.
    let killer = EventLog::new(
        PgPoolOptions::new()
            .max_connections(1)
            .connect_with(conn)
            .await
            .unwrap(),
    );
    let killed: Vec<(i32, bool)> = sqlx::query_as(
        "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity \
          WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(killer.pool())
    .await
    .unwrap();
    let killed: Vec<i32> = killed.into_iter().map(|(pid, _)| pid).collect();
    assert!(
        killed.len() >= 2,
        "the pool's and the listener's connections: {killed:?}"
    );
    // Gone for good before anything is appended (however long that takes here).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let alive: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)")
                .bind(&killed)
                .fetch_one(killer.pool())
                .await
                .unwrap();
        if alive == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{alive} killed backends live on");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let writer = log.clone();
    let appended = tokio::spawn(async move {
        loop {
            match writer
                .append("deal-1", ExpectedVersion::Any, vec![ev("After", 2)])
                .await
            {
                Ok(out) => return out,
                Err(err) if err.is_unavailable() => continue,
                Err(err) => panic!("{err}"),
            }
        }
    });
    let events = next_events(&mut sub, Duration::from_secs(20)).await;
    let out = appended.await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        [out.events[0].event_id]
    );
    killer.close().await;
    log.close().await;
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn a_filtered_subscription_sees_only_its_types(opts: PgPoolOptions, conn: PgConnectOptions) {
    let log = log_with(opts, conn, 4).await;
    let mut sub = log
        .subscribe(Cursor::start(), FeedFilter::types(["DealWon", "DealLost"]))
        .with_poll_interval(Duration::from_millis(200));
    for (n, ty) in [
        "DealOpened",
        "DealWon",
        "DealStageChanged",
        "DealLost",
        "DealReopened",
    ]
    .iter()
    .enumerate()
    {
        log.append("deal-1", ExpectedVersion::Any, vec![ev(ty, n as i64)])
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.extend(next_events(&mut sub, Duration::from_secs(20)).await);
    }
    let types: Vec<_> = seen.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["DealWon", "DealLost"]);
    assert_eq!(seen.iter().map(|e| e.version).collect::<Vec<_>>(), [2, 4]);
    log.close().await;
}

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn subscriptions_at_the_tail_share_their_reads_and_each_sees_its_events_once(
    opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let log = log_with(opts, conn, 8).await;
    let filters: [Option<&[&str]>; 6] = [
        None,
        None,
        Some(&["Won"]),
        Some(&["Won"]),
        Some(&["Lost", "Opened"]),
        Some(&["Lost", "Opened"]),
    ];
    let types = ["Opened", "Won", "Moved", "Lost"];
    // 40 appends of one event each, after the subscriptions have reached the tail:
    // the `n` of the events each filter passes, in the order they are appended.
    let expected = |filter: Option<&[&str]>| -> Vec<i64> {
        (0..40i64)
            .filter(|n| filter.is_none_or(|f| f.contains(&types[*n as usize % 4])))
            .collect()
    };
    let mut tasks = Vec::new();
    for filter in filters {
        let feed_filter = match filter {
            None => FeedFilter::default(),
            Some(types) => FeedFilter::types(types.iter().copied()),
        };
        // Polling once a minute: only notifications wake them.
        let mut sub = log
            .subscribe(Cursor::start(), feed_filter)
            .with_poll_interval(Duration::from_secs(60));
        let want = expected(filter).len();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while seen.len() < want {
                seen.extend(next_events(&mut sub, Duration::from_secs(30)).await);
            }
            seen
        }));
    }
    // Let every subscription make its first read (at the start of an empty log).
    tokio::time::sleep(Duration::from_millis(300)).await;
    for n in 0..40 {
        log.append(
            &format!("deal-{}", n % 3),
            ExpectedVersion::Any,
            vec![ev(types[n % 4], n as i64)],
        )
        .await
        .unwrap();
    }
    for (filter, task) in filters.into_iter().zip(tasks) {
        let seen = task.await.unwrap();
        // Each sees the events of its types exactly once, in the order they were appended.
        let ns: Vec<i64> = seen.iter().map(|e| e.data["n"].as_i64().unwrap()).collect();
        assert_eq!(ns, expected(filter), "{filter:?}");
    }
    // Six subscriptions woken by the same notifications: fewer reads than pages handed out.
    let stats = log.tail_stats();
    assert!(
        stats.reads < stats.served,
        "shared reads at the tail: {stats:?}"
    );
    println!("tail reads: {stats:?}");
    log.close().await;
}
