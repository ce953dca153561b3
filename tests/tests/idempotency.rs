//! Idempotency-Key: a retry gets the first answer and appends nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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
