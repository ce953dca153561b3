//! Custom projections are bounded: however many are defined, their runners hold one
//! connection besides the server's pool, given back once none is left; and a server
//! allows at most `max_custom_projections` of them (beyond: 422 `too_many_projections`,
//! appending nothing), even under a burst of definitions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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

/// The test database's connections: every one, and those by application name.
async fn connections(observer: &PgPool, application: &str) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE application_name = $1) \
           FROM pg_stat_activity WHERE datname = current_database()",
    )
    .bind(application)
    .fetch_one(observer)
    .await
    .unwrap()
}

/// Waits (up to 60 s) until `check` holds of the database's connections.
async fn wait_connections(observer: &PgPool, what: &str, check: impl Fn(i64, i64) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (all, custom) = connections(observer, "crm custom projections").await;
        if check(all, custom) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {all} connections, {custom} of custom projections"
        );
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
    let held: Vec<_> = futures::future::join_all((0..4).map(|_| fixed.acquire())).await;
    drop(held);
    let observer = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let app = TestApp::new(fixed).await.unwrap();
    let projectors = app.start_projectors();
    // Settled: each built-in runner holds its lock, the process listens.
    let builtins = i64::try_from(builtin().len()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (locks, listening): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE application_name = 'crm projector lock'), \
                    count(*) FILTER (WHERE query LIKE 'LISTEN%') \
               FROM pg_stat_activity WHERE datname = current_database()",
        )
        .fetch_one(&observer)
        .await
        .unwrap();
        if locks == builtins && listening == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{locks} locks, {listening} listening"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (baseline, none) = connections(&observer, "crm custom projections").await;
    assert_eq!(none, 0);

    let names: Vec<String> = (0..10).map(|n| format!("p{n}")).collect();
    for name in &names {
        let answer = app.post("/projections", &definition(name)).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    for name in &names {
        app.wait_custom_live(name, 1).await;
    }
    // Ten live projections: one connection more than before (it held ten).
    let (all, custom) = connections(&observer, "crm custom projections").await;
    assert_eq!(custom, 1);
    assert!(all <= baseline + 1, "{all} connections, {baseline} before");

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
    // Dropped: back to the connections before, not one more (two stayed before).
    wait_connections(&observer, "after the drops", |all, custom| {
        all == baseline && custom == 0
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
