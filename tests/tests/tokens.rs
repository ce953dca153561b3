//! Tokens expire and can be revoked: by the token, by label or by manager; a revoked
//! or expired token gets 401 and the others keep working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{Method, StatusCode};
use chrono::{Duration, Utc};
use crm_api::auth::{create_expiring_token, create_token, revoke_tokens, Revoke};
use crm_tests::TestApp;
use sqlx::PgPool;
use uuid::Uuid;

async fn status_with(app: &TestApp, token: &str) -> StatusCode {
    app.send(Method::GET, "/projections", Some(token), None, &[])
        .await
        .status
}

#[sqlx::test(migrations = false)]
async fn revoked_and_expired_tokens_are_refused_and_the_others_still_work(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let manager = Uuid::new_v4();
    let kept = create_token(&pool, None, "analyst", Some("bi"))
        .await
        .unwrap();
    let single = create_token(&pool, None, "auditor", None).await.unwrap();
    let (a, b) = (
        create_token(&pool, None, "analyst", Some("contractor"))
            .await
            .unwrap(),
        create_token(&pool, None, "analyst", Some("contractor"))
            .await
            .unwrap(),
    );
    let of_manager = create_token(&pool, Some(manager), "manager", None)
        .await
        .unwrap();
    let expired = create_expiring_token(
        &pool,
        None,
        "admin",
        None,
        Some(Utc::now() - Duration::seconds(1)),
    )
    .await
    .unwrap();
    let expiring = create_expiring_token(
        &pool,
        None,
        "admin",
        None,
        Some(Utc::now() + Duration::days(1)),
    )
    .await
    .unwrap();
    for token in [&kept, &single, &a, &b, &of_manager, &expiring] {
        assert_eq!(status_with(&app, token).await, StatusCode::OK);
    }
    assert_eq!(status_with(&app, &expired).await, StatusCode::UNAUTHORIZED);

    assert_eq!(
        revoke_tokens(&pool, &Revoke::Token(single.clone()))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        revoke_tokens(&pool, &Revoke::Label("contractor".into()))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        revoke_tokens(&pool, &Revoke::Manager(manager))
            .await
            .unwrap(),
        1
    );
    // Revoking again revokes nothing more.
    assert_eq!(
        revoke_tokens(&pool, &Revoke::Token(single.clone()))
            .await
            .unwrap(),
        0
    );
    for token in [&single, &a, &b, &of_manager] {
        assert_eq!(
            status_with(&app, token).await,
            StatusCode::UNAUTHORIZED,
            "{token}"
        );
    }
    for token in [&kept, &expiring] {
        assert_eq!(status_with(&app, token).await, StatusCode::OK);
    }
    // Tokens are stored hashed: each created token's SHA-256 is a row's key, and no
    // row holds a token's text in any column.
    for token in [&kept, &single, &a, &b, &of_manager, &expired, &expiring] {
        let hashed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM api.tokens WHERE token_hash = sha256(convert_to($1, 'UTF8'))",
        )
        .bind(token)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(hashed, 1, "{token}");
        let in_clear: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM api.tokens t WHERE strpos(to_jsonb(t)::text, $1) > 0",
        )
        .bind(token)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(in_clear, 0, "{token}");
    }
}
