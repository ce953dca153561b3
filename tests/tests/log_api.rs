//! The log's HTTP endpoints, auth, problem+json errors, health and the OpenAPI document.

use axum::http::{Method, StatusCode};
use crm_eventlog::{ExpectedVersion, NewEvent, StreamAppend};
use crm_tests::TestApp;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn requests_without_a_valid_token_are_401_problems(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    for token in [None, Some("wrong"), Some("")] {
        let answer = app.send(Method::GET, "/events", token, None, &[]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.headers["content-type"], "application/problem+json");
        assert_eq!(answer.code(), "unauthorized");
        assert_eq!(answer.body["status"], 401);
        assert!(
            answer.body["type"].is_string()
                && answer.body["title"].is_string()
                && answer.body["detail"].is_string()
        );
    }
    // A token made by `crm token create` works until revoked.
    let token = crm_api::auth::create_token(app.log.pool(), None, "auditor", Some("test"))
        .await
        .unwrap();
    assert_eq!(
        app.send(Method::GET, "/events", Some(&token), None, &[])
            .await
            .status,
        StatusCode::OK
    );
    sqlx::query("UPDATE api.tokens SET revoked_at = now()")
        .execute(app.log.pool())
        .await
        .unwrap();
    assert_eq!(
        app.send(Method::GET, "/events", Some(&token), None, &[])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[sqlx::test(migrations = false)]
async fn the_feed_pages_through_every_event_and_streams_read_alone(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    for n in 0..7 {
        app.log
            .append_multi(vec![
                StreamAppend::new(
                    format!("deal-{n}"),
                    ExpectedVersion::NoStream,
                    vec![NewEvent::new("DealOpened", json!({"n": n}))],
                ),
                StreamAppend::new(
                    "client-1",
                    ExpectedVersion::Any,
                    vec![NewEvent::new("ClientUpdated", json!({"n": n}))],
                ),
            ])
            .await
            .unwrap();
    }
    let mut cursor = String::new();
    let mut seen = Vec::new();
    // Other tests' transactions on the same server may hold the feed back a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let page = app.get(&format!("/events?limit=3&cursor={cursor}")).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        let events = page.body["events"].as_array().unwrap().clone();
        cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
        if events.is_empty() {
            if seen.len() >= 14 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        seen.extend(events);
    }
    assert_eq!(seen.len(), 14);
    let first = &seen[0];
    for field in [
        "event_id",
        "stream",
        "version",
        "position",
        "type",
        "schema_version",
        "occurred_at",
        "recorded_at",
        "data",
        "metadata",
        "hash",
    ] {
        assert!(!first[field].is_null(), "{field} missing in {first}");
    }
    let client_versions: Vec<_> = seen
        .iter()
        .filter(|e| e["stream"] == "client-1")
        .map(|e| e["version"].as_i64().unwrap())
        .collect();
    assert_eq!(client_versions, (1..=7).collect::<Vec<_>>());

    let opened = app.get("/events?types=DealOpened&limit=1000").await;
    assert_eq!(opened.body["events"].as_array().unwrap().len(), 7);

    let stream = app.get("/streams/client-1/events").await;
    assert_eq!(stream.status, StatusCode::OK);
    assert_eq!(stream.body["events"].as_array().unwrap().len(), 7);
    let missing = app.get("/streams/client-404/events").await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );

    let verify = app.get("/audit/verify").await;
    assert_eq!(
        verify.body,
        json!({"ok": true, "streams_checked": 8, "events_checked": 14, "seals_checked": 0,
               "events_sealed": 0, "unsealed_events": 14, "first_bad": null, "bad_seal": null,
               "last_seal": null})
    );
}

#[sqlx::test(migrations = false)]
async fn malformed_queries_are_400_problems(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    for (path, code) in [
        ("/events?cursor=nonsense", "invalid_cursor"),
        ("/events?limit=0", "invalid_limit"),
        ("/events?limit=5000", "invalid_limit"),
        ("/events?limit=many", "invalid_query"),
        ("/events?unknown=1", "invalid_query"),
        ("/streams/deal-1/events?from_version=x", "invalid_query"),
    ] {
        let answer = app.get(path).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::BAD_REQUEST, code),
            "{path}: {:?}",
            answer.body
        );
        assert_eq!(answer.headers["content-type"], "application/problem+json");
    }
}

#[sqlx::test(migrations = false)]
async fn health_and_the_openapi_document(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let health = app.send(Method::GET, "/health", None, None, &[]).await;
    assert_eq!(
        (health.status, &health.body),
        (StatusCode::OK, &json!({"status": "ok", "database": "ok"}))
    );
    let doc = app
        .send(Method::GET, "/openapi.json", None, None, &[])
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc.body["paths"].as_object().unwrap();
    for path in [
        "/health",
        "/health/live",
        "/events",
        "/streams/{stream}/events",
        "/audit/verify",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    // Every request gets an id back.
    assert!(health.headers.contains_key("x-request-id"));

    // `min_position` takes a token: without one, a position in the log and one past
    // its end get the same 401, so the answer tells nobody how long the log is.
    let manager = crm_tests::scenario::manager(&app, "Olena").await;
    let last: i64 = sqlx::query_scalar("SELECT max(position) FROM eventlog.events")
        .fetch_one(app.log.pool())
        .await
        .unwrap();
    let unknown = "crm_0000000000000000000000000000000000000000000000000000000000000000";
    for position in [last, last + 1_000_000] {
        let path = format!("/health?min_position={position}");
        for token in [None, Some(unknown)] {
            let answer = app.send(Method::GET, &path, token, None, &[]).await;
            assert_eq!(
                (answer.status, answer.code()),
                (StatusCode::UNAUTHORIZED, "unauthorized"),
                "{path}: {}",
                answer.body
            );
        }
    }
    // Any role's token may ask (a deploy script waits for readiness with one).
    let projectors = app.start_projectors();
    let token = crm_tests::scenario::token(&app, Some(manager), "manager").await;
    let path = format!("/health?min_position={last}");
    let ready = app.send(Method::GET, &path, Some(&token), None, &[]).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    let path = format!("/health?min_position={}", last + 1_000_000);
    let past = app.send(Method::GET, &path, Some(&token), None, &[]).await;
    assert_eq!(past.code(), "invalid_min_position", "{}", past.body);
    let declared = &doc.body["paths"]["/health"]["get"]["responses"]["401"];
    assert!(declared.is_object(), "/health does not declare its 401");
    projectors.shutdown().await;
}
