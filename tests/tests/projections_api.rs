//! `GET /projections` and `POST /projections/{name}/rebuild` over a running projector.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use crm_api::state::AppState;
use crm_eventlog::{EventLog, ExpectedVersion, NewEvent};
use crm_projections::{FeedEvent, Projection, ProjectionError, ProjectorSet};
use crm_tests::{TestApp, ADMIN_TOKEN};
use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};

/// Counts the events it sees in a table of its own.
struct Counter;

#[async_trait]
impl Projection for Counter {
    fn name(&self) -> &str {
        "test_counter"
    }
    fn version(&self) -> i32 {
        1
    }
    fn tables(&self) -> Vec<&str> {
        Vec::new()
    }
    async fn setup(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS test_counter (n bigint NOT NULL)")
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO test_counter SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM test_counter)",
        )
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Arc<FeedEvent>],
    ) -> Result<(), ProjectionError> {
        sqlx::query("UPDATE test_counter SET n = n + $1")
            .bind(events.len() as i64)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
    async fn reset(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        sqlx::query("UPDATE test_counter SET n = 0")
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

async fn counted(log: &EventLog) -> i64 {
    sqlx::query_scalar("SELECT n FROM test_counter")
        .fetch_optional(log.pool())
        .await
        .unwrap()
        .unwrap_or(-1)
}

/// Waits until the projection reports `applied` events and no lag.
async fn caught_up(app: &TestApp, applied: i64) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let list = app.get("/projections").await;
        assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
        if let Some(p) = list
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "test_counter")
        {
            if p["lag_events"] == 0 && p["events_applied"] == applied {
                return p.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the projection did not catch up to {applied} events: {:?}",
        app.get("/projections").await.body
    );
}

#[sqlx::test(migrations = false)]
async fn projections_are_listed_and_rebuilt(pool: PgPool) {
    let mut app = TestApp::new(pool).await.unwrap();
    let counter: Arc<dyn Projection> = Arc::new(Counter);
    let state = AppState::new(app.log.clone(), Some(ADMIN_TOKEN.into()))
        .with_token_ttl(Duration::ZERO)
        .with_projections(vec![Arc::clone(&counter)]);
    app.router = crm_api::server::app(state);
    for n in 0..5 {
        app.log
            .append(
                "deal-1",
                ExpectedVersion::Any,
                vec![NewEvent::new("Tick", json!({"n": n}))],
            )
            .await
            .unwrap();
    }
    let running = ProjectorSet::new(app.log.clone())
        .with(Arc::clone(&counter))
        .spawn()
        .unwrap();

    let listed = caught_up(&app, 5).await;
    assert_eq!(listed["status"], "running");
    assert_eq!(listed["active"], true);
    assert!(listed["last_error"].is_null());
    assert_eq!(counted(&app.log).await, 5);

    let rebuilt = app
        .send(
            Method::POST,
            "/projections/test_counter/rebuild",
            Some(ADMIN_TOKEN),
            None,
            &[],
        )
        .await;
    assert_eq!(rebuilt.status, StatusCode::ACCEPTED, "{:?}", rebuilt.body);
    assert_eq!(
        rebuilt.body,
        json!({"name": "test_counter", "status": "rebuilding", "mode": "in_place"})
    );
    app.log
        .append(
            "deal-1",
            ExpectedVersion::Any,
            vec![NewEvent::new("Tick", json!({"n": 5}))],
        )
        .await
        .unwrap();
    caught_up(&app, 6).await;
    assert_eq!(
        counted(&app.log).await,
        6,
        "rebuilt from the whole log, once"
    );

    let unknown = app
        .send(
            Method::POST,
            "/projections/nothing/rebuild",
            Some(ADMIN_TOKEN),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let anonymous = app.send(Method::GET, "/projections", None, None, &[]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    running.shutdown().await;
    app.log.close().await;
}
