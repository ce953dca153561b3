//! Read models built live, while commands stream in, equal row for row the same read
//! models rebuilt from scratch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::http::StatusCode;
use crm_tests::scenario::{client, manager};
use crm_tests::TestApp;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

/// Every row of every table of the deals read model, as text, in a stable order.
async fn snapshot(app: &TestApp) -> Vec<String> {
    let mut rows = Vec::new();
    for (table, order) in [
        ("pipelines", "pipeline_id"),
        ("pipeline_stages", "pipeline_id, stage_id"),
        ("deals", "deal_id"),
        ("deal_changes", "deal_id, version"),
        ("deal_wins", "deal_id, version"),
        ("deal_losses", "deal_id, version"),
    ] {
        let sql = format!("SELECT t::text FROM projections.{table} t ORDER BY {order}");
        let texts: Vec<String> = sqlx::query_scalar(&sql)
            .fetch_all(app.log.pool())
            .await
            .unwrap();
        rows.extend(texts.into_iter().map(|r| format!("{table} {r}")));
    }
    rows
}

/// Waits until the deals projection has applied every event of the log.
async fn settled(app: &TestApp, last_position: i64) {
    crm_projections::wait_until_reflects(&app.log, "deals", last_position, Duration::from_secs(30))
        .await
        .unwrap();
}

#[sqlx::test(migrations = false)]
async fn live_and_rebuilt_read_models_are_identical(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let managers = [manager(&app, "Olena").await, manager(&app, "Ivan").await];
    let c = client(&app, managers[0]).await;
    let stages: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    let body = json!({"name": "P", "stages": stages.iter().enumerate().map(|(i, id)|
        json!({"id": id, "name": format!("S{i}"), "probability": 0.25 * i as f64})).collect::<Vec<_>>()});
    app.post("/pipelines", &body).await;
    let pipeline = app.get("/events?types=PipelineDefined").await.body["events"][0]["data"]
        ["pipeline_id"]
        .clone();

    // A deterministic mix of commands, sent while the projector runs.
    let mut deals: Vec<(String, &str)> = Vec::new();
    let mut last = 0;
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for n in 0..150 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let pick = (x % 100) as usize;
        let answer = if deals.is_empty() || pick < 25 {
            let body = json!({"client_id": c, "pipeline_id": pipeline, "stage_id": stages[pick % 3], "title": format!("D{n}"),
                              "amount": 100 + n, "manager_id": managers[pick % 2], "expected_close_on": "2026-06-30",
                              "occurred_at": format!("2026-0{}-1{}T10:00:00Z", 1 + pick % 5, pick % 10)});
            let answer = app.post("/deals", &body).await;
            deals.push((answer.body["id"].as_str().unwrap().to_owned(), "open"));
            answer
        } else {
            let i = pick % deals.len();
            let (id, status) = deals[i].clone();
            let (path, body, next) = match (status, pick % 5) {
                ("open", 0) => ("win", json!({}), "won"),
                ("open", 1) => (
                    "lose",
                    json!({"reason": if pick.is_multiple_of(2) { "price" } else { "delivery" }}),
                    "lost",
                ),
                ("open", 2) => (
                    "assign",
                    json!({"manager_id": managers[(pick / 5) % 2]}),
                    "open",
                ),
                ("open", _) => ("amount", json!({"amount": 1000 + n}), "open"),
                (_, _) => ("reopen", json!({"stage_id": stages[pick % 3]}), "open"),
            };
            let answer = app.post(&format!("/deals/{id}/{path}"), &body).await;
            if answer.status.is_success() {
                deals[i].1 = next;
            }
            answer
        };
        assert!(
            answer.status.is_success() || answer.status == StatusCode::UNPROCESSABLE_ENTITY,
            "{:?}",
            answer.body
        );
        if let Some(p) = answer.body["position"].as_i64() {
            last = last.max(p);
        }
    }
    settled(&app, last).await;
    let live = snapshot(&app).await;
    assert!(
        live.iter().filter(|r| r.starts_with("deals ")).count() >= 20,
        "a meaningful scenario"
    );
    assert!(
        live.iter().any(|r| r.starts_with("deal_wins "))
            && live.iter().any(|r| r.starts_with("deal_losses "))
    );

    // Rebuild from scratch and compare row for row.
    let deals_projection = crm_projections::builtin()
        .into_iter()
        .find(|p| p.name() == "deals")
        .unwrap();
    crm_projections::rebuild(app.log.pool(), deals_projection.as_ref())
        .await
        .unwrap();
    settled(&app, last).await;
    let rebuilt = snapshot(&app).await;
    assert_eq!(live.len(), rebuilt.len());
    assert!(
        live == rebuilt,
        "the rebuilt read model differs from the live one"
    );
    projectors.shutdown().await;
    app.log.close().await;
}
