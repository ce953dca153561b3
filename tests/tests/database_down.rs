//! While PostgreSQL is down the API answers 503 problems, and it recovers by itself.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use crm_tests::{TempCluster, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_503_while_postgres_is_stopped_and_recovers() {
    let cluster = TempCluster::start().await.unwrap();
    let pool = crm_api::connect_pool(&cluster.database_url(), 4)
        .await
        .unwrap();
    let app = TestApp::new(pool).await.unwrap();
    assert_eq!(app.get("/events").await.status, StatusCode::OK);

    cluster.pg().stop().await.unwrap();
    for path in ["/events", "/audit/verify"] {
        let answer = app.get(path).await;
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path}: {:?}",
            answer.body
        );
        assert_eq!(answer.code(), "storage_unavailable");
        assert_eq!(answer.headers["content-type"], "application/problem+json");
    }
    let health = app.send(Method::GET, "/health", None, None, &[]).await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    // A 503 says nothing about the cause beyond "unavailable".
    assert!(!app
        .get("/events")
        .await
        .body
        .to_string()
        .contains("Connection refused"));

    cluster.pg().start_again().await.unwrap();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        status = app.get("/events").await.status;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK, "the API did not recover");
    app.log.close().await;
}
