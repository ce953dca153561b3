//! Idempotency-Key: a retry gets the first answer and appends nothing.

use axum::http::{Method, StatusCode};
use crm_tests::{TestApp, ADMIN_TOKEN};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn a_retry_with_the_same_key_gets_the_first_answer(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let body = json!({"name": "Olena", "department": "Wholesale", "role": "manager"});
    let send = |key: &'static str, body: serde_json::Value, token: &'static str| {
        let app = app.clone();
        async move {
            app.send(
                Method::POST,
                "/managers",
                Some(token),
                Some(&body),
                &[("idempotency-key", key)],
            )
            .await
        }
    };
    let first = send("k-1", body.clone(), ADMIN_TOKEN).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let count = app.event_count().await;
    assert_eq!(count, 1);

    let again = send("k-1", body.clone(), ADMIN_TOKEN).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body, "the same id, version and position");
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(app.event_count().await, count, "a retry appends nothing");

    // The same key with another body is refused, and appends nothing.
    let other = send(
        "k-1",
        json!({"name": "Ivan", "department": "Retail", "role": "head"}),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(
        (other.status, other.code()),
        (StatusCode::CONFLICT, "idempotency_key_reused")
    );
    assert_eq!(app.event_count().await, count);

    // Without a key, the same body is a new command.
    let fresh = app.post("/managers", &body).await;
    assert_eq!(fresh.status, StatusCode::CREATED);
    assert_ne!(fresh.body["id"], first.body["id"]);

    // Keys belong to who sent them: another token's "k-1" is its own.
    let token = crm_api::auth::create_token(app.log.pool(), None, "admin", None)
        .await
        .unwrap();
    let theirs = app
        .send(
            Method::POST,
            "/managers",
            Some(&token),
            Some(&body),
            &[("idempotency-key", "k-1")],
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    assert_ne!(theirs.body["id"], first.body["id"]);
    assert!(theirs.headers.get("idempotent-replayed").is_none());
}

#[sqlx::test(migrations = false)]
async fn refusals_are_replayed_too_and_keys_are_checked(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let bad = json!({"name": "", "department": "Wholesale", "role": "manager"});
    let first = app
        .send(
            Method::POST,
            "/managers",
            Some(ADMIN_TOKEN),
            Some(&bad),
            &[("idempotency-key", "k-2")],
        )
        .await;
    assert_eq!(first.status, StatusCode::UNPROCESSABLE_ENTITY);
    let again = app
        .send(
            Method::POST,
            "/managers",
            Some(ADMIN_TOKEN),
            Some(&bad),
            &[("idempotency-key", "k-2")],
        )
        .await;
    assert_eq!(
        (again.status, &again.body),
        (StatusCode::UNPROCESSABLE_ENTITY, &first.body)
    );
    assert_eq!(again.headers["content-type"], "application/problem+json");
    let long = "k".repeat(300);
    let invalid = app
        .send(
            Method::POST,
            "/managers",
            Some(ADMIN_TOKEN),
            Some(&bad),
            &[("idempotency-key", &long)],
        )
        .await;
    assert_eq!(
        (invalid.status, invalid.code()),
        (StatusCode::BAD_REQUEST, "invalid_idempotency_key")
    );
    assert_eq!(app.event_count().await, 0);
}

/// How many idempotency keys are stored.
async fn stored_keys(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM api.idempotency_keys")
        .fetch_one(app.log.pool())
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_key_without_a_valid_token_stores_nothing(pool: PgPool) {
    // The production token cache on, as `crm serve` runs.
    let app = TestApp::with(pool, |s| s.with_token_ttl(crm_api::state::TOKEN_TTL))
        .await
        .unwrap();
    let body = json!({"name": "Olena", "department": "Wholesale", "role": "manager"});
    for (n, token) in [None, Some("not-a-token"), Some("crm_0000")]
        .into_iter()
        .enumerate()
    {
        let key = format!("k-{n}");
        let answer = app
            .send(
                Method::POST,
                "/managers",
                token,
                Some(&body),
                &[("idempotency-key", &key)],
            )
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{token:?}"
        );
    }
    assert_eq!(stored_keys(&app).await, 0);
    assert_eq!(app.event_count().await, 0);
    // A valid token's key is stored, once.
    let answer = app
        .send(
            Method::POST,
            "/managers",
            Some(ADMIN_TOKEN),
            Some(&body),
            &[("idempotency-key", "k-0")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_eq!(stored_keys(&app).await, 1);
}

/// Registers a manager named `name` with `key` as the admin.
async fn register(app: &TestApp, key: &str, name: &str) -> crm_tests::Answer {
    app.send(
        Method::POST,
        "/managers",
        Some(ADMIN_TOKEN),
        Some(&json!({"name": name, "department": "Wholesale", "role": "manager"})),
        &[("idempotency-key", key)],
    )
    .await
}

#[sqlx::test(migrations = false)]
async fn keys_expire_and_the_sweeper_deletes_them(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let ttl = std::time::Duration::from_secs(24 * 3600);
    let first = register(&app, "k-old", "Olena").await;
    assert_eq!(first.status, StatusCode::CREATED);
    let now = chrono::Utc::now();
    // Within the day nothing is swept, and a retry is a replay.
    let swept = crm_api::idempotency::sweep(&pool, now + chrono::Duration::hours(23), ttl)
        .await
        .unwrap();
    assert_eq!(swept, 0);
    assert_eq!(stored_keys(&app).await, 1);
    let again = register(&app, "k-old", "Olena").await;
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(app.event_count().await, 1);
    // A day and an hour later, the sweeper deletes it. A retry then is decided
    // again, not replayed; the ids the key seeds still name the manager it made, so
    // a late retry is refused rather than registering a second one.
    let swept = crm_api::idempotency::sweep(&pool, now + chrono::Duration::hours(25), ttl)
        .await
        .unwrap();
    assert_eq!(swept, 1);
    assert_eq!(stored_keys(&app).await, 0);
    let anew = register(&app, "k-old", "Olena").await;
    assert!(anew.headers.get("idempotent-replayed").is_none());
    assert_eq!(
        (anew.status, anew.code()),
        (StatusCode::CONFLICT, "already_exists")
    );
    assert_eq!(app.event_count().await, 1);
    assert_eq!(stored_keys(&app).await, 1);

    // An expired key the sweeper has not reached yet is not replayed either: made a
    // day and a second old, it is claimed anew (its stored 409 is not replayed).
    sqlx::query(
        "UPDATE api.idempotency_keys SET created_at = now() - interval '24 hours 1 second'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let reclaimed = register(&app, "k-old", "Ivan").await;
    assert!(reclaimed.headers.get("idempotent-replayed").is_none());
    assert_eq!(
        (reclaimed.status, reclaimed.code()),
        (StatusCode::CONFLICT, "already_exists"),
        "another body with an expired key is no idempotency_key_reused"
    );
    let fresh: bool = sqlx::query_scalar(
        "SELECT created_at > now() - interval '1 hour' FROM api.idempotency_keys",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(fresh, "the key was claimed anew");
    assert_eq!(app.event_count().await, 1);
}

#[sqlx::test(migrations = false)]
async fn an_actor_holds_at_most_its_cap_of_keys_and_its_oldest_go_first(pool: PgPool) {
    let settings = crm_api::idempotency::IdempotencySettings {
        ttl: std::time::Duration::from_secs(24 * 3600),
        per_actor: 3,
    };
    let app = TestApp::with(pool.clone(), |s| s.with_idempotency(settings))
        .await
        .unwrap();
    for n in 1..=5 {
        let answer = register(&app, &format!("k-{n}"), &format!("M{n}")).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    }
    let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM api.idempotency_keys ORDER BY key")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(keys, ["k-3", "k-4", "k-5"]);
    // The newest is replayed; the evicted oldest is decided again (its seeded id
    // still names the manager it made: refused, nothing appended).
    let kept = register(&app, "k-5", "M5").await;
    assert_eq!(kept.headers["idempotent-replayed"], "true");
    assert_eq!(app.event_count().await, 5);
    let evicted = register(&app, "k-1", "M1").await;
    assert!(evicted.headers.get("idempotent-replayed").is_none());
    assert_eq!(
        (evicted.status, evicted.code()),
        (StatusCode::CONFLICT, "already_exists")
    );
    assert_eq!(app.event_count().await, 5);

    // Another admin token is the same actor: the cap counts its keys too. Another
    // actor's keys are its own.
    let admin = crm_api::auth::create_token(&pool, None, "admin", None)
        .await
        .unwrap();
    let manager = crm_api::auth::create_token(&pool, None, "director", None)
        .await
        .unwrap();
    for (token, key) in [(&admin, "a-1"), (&manager, "d-1"), (&manager, "d-2")] {
        let answer = app
            .send(
                Method::POST,
                "/managers",
                Some(token),
                Some(&json!({"name": key, "department": "Retail", "role": "manager"})),
                &[("idempotency-key", key)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    }
    let by_actor: Vec<(String, i64)> = sqlx::query_as(
        "SELECT actor, count(*) FROM api.idempotency_keys GROUP BY actor ORDER BY actor",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        by_actor,
        [
            ("role:admin".to_owned(), 3),
            ("role:director".to_owned(), 2)
        ]
    );
}
