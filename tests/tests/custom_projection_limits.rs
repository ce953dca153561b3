//! Custom projections are bounded: however many are defined, their runners hold one
//! connection besides the server's pool, given back once none is left; and a server
//! allows at most `max_custom_projections` of them (beyond: 422 `too_many_projections`,
//! appending nothing), even under a burst of definitions.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use crm_projections::builtin;
use crm_tests::TestApp;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

fn definition(name: &str) -> Value {
    json!({
        "name": name,
        "event_types": ["InteractionLogged"],
        "group_by": [{"name": "kind", "field": "data.kind"}],
        "measures": [{"name": "n", "fn": "count"}]
    })
}

/// The test database's connections, and the connections holding the projectors'
/// advisory locks and how many they hold (one per active runner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
struct Held {
    connections: i64,
    holders: i64,
    locks: i64,
}

async fn held(observer: &PgPool) -> Held {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()) \
                    AS connections, \
                count(DISTINCT l.pid) AS holders, count(*) AS locks \
           FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
          WHERE d.datname = current_database() AND l.locktype = 'advisory' \
            AND l.granted AND l.classid::bigint = $1",
    )
    .bind(i64::from(crm_projections::LOCK_CLASS))
    .fetch_one(observer)
    .await
    .unwrap()
}

/// Waits (up to 60 s) until `check` holds of what is held.
async fn wait_for(observer: &PgPool, what: &str, check: impl Fn(Held) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = held(observer).await;
        if check(now) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrations = false)]
async fn custom_projections_hold_one_connection_and_give_it_back_when_dropped(pool: PgPool) {
    // A pool that neither grows nor shrinks, and one observing connection: every
    // other connection of the test database is the projectors' own.
    let options = (*pool.connect_options()).clone();
    let fixed = PgPoolOptions::new()
        .min_connections(4)
        .max_connections(4)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options.clone())
        .await
        .unwrap();
    let warm: Vec<_> = futures::future::join_all((0..4).map(|_| fixed.acquire())).await;
    drop(warm);
    let observer = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let app = TestApp::new(fixed).await.unwrap();
    let projectors = app.start_projectors();
    // Settled: each built-in runner holds its lock on a connection of its own, and
    // the process listens.
    let builtins = i64::try_from(builtin().len()).unwrap();
    let settled = |h: Held| h.holders == builtins && h.locks == builtins;
    let deadline = Instant::now() + Duration::from_secs(60);
    let baseline = loop {
        let listening: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
              WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .fetch_one(&observer)
        .await
        .unwrap();
        let now = held(&observer).await;
        if settled(now) && listening == 1 {
            break now;
        }
        assert!(Instant::now() < deadline, "{now:?}, {listening} listening");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let names: Vec<String> = (0..10).map(|n| format!("p{n}")).collect();
    for name in &names {
        let answer = app.post("/projections", &definition(name)).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    for name in &names {
        app.wait_custom_live(name, 1).await;
    }
    // Ten live projections, each runner holding its lock: all ten locks on one
    // connection more than before (each took one of its own).
    let live = held(&observer).await;
    assert_eq!((live.holders, live.locks), (builtins + 1, builtins + 10));
    assert!(
        live.connections <= baseline.connections + 1,
        "{live:?}, {baseline:?} before"
    );

    for name in &names {
        let answer = app
            .send(
                Method::DELETE,
                &format!("/projections/{name}"),
                Some(crm_tests::ADMIN_TOKEN),
                None,
                &[],
            )
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    // Dropped: back to the locks and connections before (two connections stayed).
    wait_for(&observer, "after the drops", |h| {
        settled(h) && h.connections <= baseline.connections
    })
    .await;
    for name in &names {
        assert_eq!(
            app.get(&format!("/projections/{name}")).await.status,
            StatusCode::NOT_FOUND
        );
    }
    projectors.shutdown().await;
}

#[sqlx::test(migrations = false)]
async fn definitions_beyond_the_cap_get_a_422_and_append_nothing(pool: PgPool) {
    let app = TestApp::with(pool, |s| s.with_max_custom_projections(2))
        .await
        .unwrap();
    let projectors = app.start_projectors();
    for name in ["a", "b"] {
        let answer = app.post("/projections", &definition(name)).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    let before = app.event_count().await;
    let refused = app.post("/projections", &definition("c")).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "too_many_projections"),
        "{}",
        refused.body
    );
    assert_eq!(refused.headers["content-type"], "application/problem+json");
    assert_eq!(app.event_count().await, before);
    // Redefining one is no new projection.
    let answer = app
        .send(
            Method::PUT,
            "/projections/a",
            Some(crm_tests::ADMIN_TOKEN),
            Some(&definition("a")),
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    // Dropping one makes room for one, and only one, however many ask at once.
    let answer = app
        .send(
            Method::DELETE,
            "/projections/b",
            Some(crm_tests::ADMIN_TOKEN),
            None,
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let burst = futures::future::join_all((0..6).map(|n| {
        let app = app.clone();
        async move {
            app.post("/projections", &definition(&format!("x{n}")))
                .await
        }
    }))
    .await;
    let statuses: Vec<StatusCode> = burst.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::ACCEPTED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(burst
        .iter()
        .all(|a| a.status == StatusCode::ACCEPTED || a.code() == "too_many_projections"));
    projectors.shutdown().await;
}
