//! Tokens expire and can be revoked: by the token, by label or by manager; a revoked
//! or expired token gets 401 and the others keep working. A token acting for a
//! manager ends when he is deactivated (or was never registered): with the
//! production token cache on, at once in the process that deactivated him and within
//! the cache's time to live elsewhere.

use std::time::Instant;

use axum::http::{Method, StatusCode};
use chrono::{Duration, Utc};
use crm_api::auth::{create_expiring_token, create_token, revoke_tokens, Revoke};
use crm_api::state::TOKEN_TTL;
use crm_domain::events::ManagerDeactivated;
use crm_domain::DomainEvent;
use crm_eventlog::{ExpectedVersion, Metadata};
use crm_tests::scenario::{registered, token};
use crm_tests::TestApp;
use serde_json::json;
use sqlx::PgPool;

async fn status_with(app: &TestApp, token: &str) -> StatusCode {
    app.send(Method::GET, "/projections", Some(token), None, &[])
        .await
        .status
}

#[sqlx::test(migrations = false)]
async fn revoked_and_expired_tokens_are_refused_and_the_others_still_work(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let manager = crm_tests::scenario::manager(&app, "Mykola").await;
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

/// The app as `crm serve` runs it: resolved tokens cached for `TOKEN_TTL`.
async fn with_production_cache(pool: PgPool) -> TestApp {
    TestApp::with(pool, |s| s.with_token_ttl(crm_api::state::TOKEN_TTL))
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_cached_token_stops_at_its_expiry_and_a_revoked_one_within_the_cache_ttl(pool: PgPool) {
    let app = with_production_cache(pool.clone()).await;
    // A token cached while valid is refused from the instant it expires, not up to
    // TOKEN_TTL later. It must be cached before it expires: on a slow machine the
    // first answer may come too late, so the margin doubles until it does not.
    let mut margin = Duration::milliseconds(500);
    let (token, expires_at) = loop {
        let expires_at = Utc::now() + margin;
        let token = create_expiring_token(&pool, None, "auditor", None, Some(expires_at))
            .await
            .unwrap();
        if status_with(&app, &token).await == StatusCode::OK && Utc::now() < expires_at {
            break (token, expires_at);
        }
        assert!(
            margin < Duration::seconds(30),
            "never cached before expiring"
        );
        margin = margin * 2;
    };
    // Wait for the clock to pass the expiry (the condition itself), then ask again
    // well within the cache's time to live.
    while Utc::now() <= expires_at {
        let left = (expires_at - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(left + std::time::Duration::from_millis(1)).await;
    }
    assert_eq!(status_with(&app, &token).await, StatusCode::UNAUTHORIZED);

    // A revoked token is cached until TOKEN_TTL passes; then it is refused for good.
    let revoked = create_token(&pool, None, "auditor", None).await.unwrap();
    assert_eq!(status_with(&app, &revoked).await, StatusCode::OK);
    revoke_tokens(&pool, &Revoke::Token(revoked.clone()))
        .await
        .unwrap();
    let deadline =
        std::time::Instant::now() + crm_api::state::TOKEN_TTL + std::time::Duration::from_secs(30);
    loop {
        match status_with(&app, &revoked).await {
            StatusCode::UNAUTHORIZED => break,
            StatusCode::OK if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            other => panic!("the revoked token still answers {other}"),
        }
    }
    // And stays refused: the cache does not bring it back.
    assert_eq!(status_with(&app, &revoked).await, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrations = false)]
async fn guessing_tokens_is_throttled_per_address(pool: PgPool) {
    let app = TestApp::with(pool.clone(), |s| {
        s.with_token_ttl(crm_api::state::TOKEN_TTL)
            .with_failed_auth(crm_api::failed_auth::FailedAuthSettings {
                max_failures: 3,
                window: std::time::Duration::from_secs(600),
            })
    })
    .await
    .unwrap();
    let valid = create_token(&pool, None, "auditor", None).await.unwrap();
    assert_eq!(status_with(&app, &valid).await, StatusCode::OK);
    for n in 0..3 {
        let guess = format!("crm_{n:064}");
        assert_eq!(status_with(&app, &guess).await, StatusCode::UNAUTHORIZED);
    }
    // The fourth guess is refused before it is looked at, and so is any token from
    // that address (a right guess would learn nothing), the cached one included.
    for token in ["crm_guess", valid.as_str(), crm_tests::ADMIN_TOKEN] {
        let answer = app
            .send(Method::GET, "/projections", Some(token), None, &[])
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_failed_authentications"
            ),
            "{token}"
        );
        let retry: u64 = answer.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=600).contains(&retry), "{retry}");
    }
    // A request without a token guesses nothing: it is a plain 401.
    let answer = app.send(Method::GET, "/projections", None, None, &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

/// Waits until `token` gets 401 from `app`, for at most the token cache's time to
/// live and a margin; panics past it.
async fn refused_within_ttl(app: &TestApp, token: &str) {
    let deadline = Instant::now() + TOKEN_TTL + std::time::Duration::from_secs(10);
    while status_with(app, token).await != StatusCode::UNAUTHORIZED {
        assert!(
            Instant::now() < deadline,
            "{token} still accepted past the cache's time to live"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrations = false)]
async fn a_deactivated_managers_tokens_end_with_him_in_every_process(pool: PgPool) {
    // Two servers on one database, each with its own token cache.
    let (app, other) = (
        with_production_cache(pool.clone()).await,
        with_production_cache(pool.clone()).await,
    );
    let head = registered(&app, "Hanna", "North", "head").await;
    let manager = registered(&app, "Andriy", "North", "manager").await;
    let client = crm_tests::scenario::client(&app, manager).await;
    let head_token = token(&app, Some(head), "head").await;
    let manager_token = token(&app, Some(manager), "manager").await;
    let his_stream = format!("/streams/client-{client}/events");
    for server in [&app, &other] {
        assert_eq!(status_with(server, &head_token).await, StatusCode::OK);
        let answer = server
            .send(Method::GET, &his_stream, Some(&manager_token), None, &[])
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }

    // The head deactivated through one server: his token ends there at once (on
    // every route), and on the other once its cached lookup expires.
    let answer = app
        .post(&format!("/managers/{head}/deactivate"), &json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        status_with(&app, &head_token).await,
        StatusCode::UNAUTHORIZED
    );
    let answer = app
        .send(Method::GET, "/clients", Some(&head_token), None, &[])
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    refused_within_ttl(&other, &head_token).await;

    // The manager deactivated by a writer outside both servers (an import, say):
    // refused once each server looks his token up again, and a token made for him
    // now is refused at once.
    let event = crm_api::commands::new_event(
        &DomainEvent::ManagerDeactivated(ManagerDeactivated {
            manager_id: manager,
        }),
        Metadata::default(),
    );
    app.log
        .append(
            &format!("manager-{manager}"),
            ExpectedVersion::Exact(1),
            vec![event],
        )
        .await
        .unwrap();
    let late = token(&app, Some(manager), "manager").await;
    for server in [&app, &other] {
        assert_eq!(status_with(server, &late).await, StatusCode::UNAUTHORIZED);
        refused_within_ttl(server, &manager_token).await;
    }
    // Nobody else's token is touched.
    assert_eq!(
        status_with(&app, crm_tests::ADMIN_TOKEN).await,
        StatusCode::OK
    );
}
