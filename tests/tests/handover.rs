//! A manager's handover: every client, open deal, open task and open lead of his
//! goes to another manager, in one transaction, and nothing else moves.

use axum::http::StatusCode;
use crm_tests::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;

async fn id(app: &TestApp, path: &str, body: Value) -> String {
    let answer = app.post(path, &body).await;
    assert!(answer.status.is_success(), "{path}: {:?}", answer.body);
    answer.body["id"].as_str().unwrap().to_owned()
}

#[sqlx::test(migrations = false)]
async fn a_handover_moves_exactly_the_open_book(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let manager = |name: &str| json!({"name": name, "department": "Sales", "role": "manager"});
    let a = id(&app, "/managers", manager("A")).await;
    let b = id(&app, "/managers", manager("B")).await;
    let c = id(&app, "/managers", manager("C")).await;
    app.post(&format!("/managers/{c}/deactivate"), &json!({}))
        .await;
    let pipeline = id(
        &app,
        "/pipelines",
        json!({"name": "P", "stages": [{"name": "S1", "probability": 0.5}]}),
    )
    .await;
    let client =
        |m: &str| json!({"name": "Client", "kind": "company", "manager_id": m, "contacts": []});
    let x = id(&app, "/clients", client(&a)).await;
    let y = id(&app, "/clients", client(&b)).await;
    let deal = |m: &str| json!({"client_id": y, "pipeline_id": pipeline, "title": "D", "amount": 10, "manager_id": m});
    let d1 = id(&app, "/deals", deal(&a)).await;
    let d2 = id(&app, "/deals", deal(&a)).await;
    app.post(&format!("/deals/{d2}/win"), &json!({})).await;
    let d3 = id(&app, "/deals", deal(&b)).await;
    let task =
        |m: &str| json!({"title": "Call back", "assignee_id": m, "due_at": "2026-12-01T10:00:00Z"});
    let t1 = id(&app, "/tasks", task(&a)).await;
    let t2 = id(&app, "/tasks", task(&a)).await;
    app.post(&format!("/tasks/{t2}/complete"), &json!({})).await;
    let lead = |m: &str| json!({"source": "website", "name": "Ivan", "manager_id": m});
    let l1 = id(&app, "/leads", lead(&a)).await;
    let l2 = id(&app, "/leads", lead(&a)).await;
    app.post(&format!("/leads/{l2}/reject"), &json!({"reason": "spam"}))
        .await;

    let before = app.event_count().await;
    for (to, status, code) in [
        (&c, StatusCode::UNPROCESSABLE_ENTITY, "manager_inactive"),
        (&a, StatusCode::UNPROCESSABLE_ENTITY, "same_manager"),
    ] {
        let refused = app
            .post(
                &format!("/managers/{a}/handover"),
                &json!({"to_manager_id": to}),
            )
            .await;
        assert_eq!(
            (refused.status, refused.code()),
            (status, code),
            "{:?}",
            refused.body
        );
    }
    let unknown = app
        .post(
            &format!("/managers/{}/handover", uuid::Uuid::new_v4()),
            &json!({"to_manager_id": b}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.event_count().await,
        before,
        "refused handovers append nothing"
    );

    let done = app
        .post(
            &format!("/managers/{a}/handover"),
            &json!({"to_manager_id": b}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(app.event_count().await, before + 4);

    let last = |stream: String| {
        let app = app.clone();
        async move {
            let events = app.get(&format!("/streams/{stream}/events")).await.body["events"]
                .as_array()
                .cloned()
                .unwrap();
            events.last().cloned().unwrap()
        }
    };
    let moved = [
        (
            format!("client-{x}"),
            "ClientReassigned",
            json!({"client_id": x, "from_manager_id": a, "to_manager_id": b}),
        ),
        (
            format!("deal-{d1}"),
            "DealReassigned",
            json!({"deal_id": d1, "from_manager_id": a, "to_manager_id": b}),
        ),
        (
            format!("task-{t1}"),
            "TaskReassigned",
            json!({"task_id": t1, "from_assignee_id": a, "to_assignee_id": b}),
        ),
        (
            format!("lead-{l1}"),
            "LeadAssigned",
            json!({"lead_id": l1, "manager_id": b}),
        ),
    ];
    let mut tx_ids = std::collections::HashSet::new();
    for (stream, event_type, data) in moved {
        let event = last(stream.clone()).await;
        assert_eq!(event["type"], event_type, "{stream}");
        assert_eq!(event["data"], data, "{stream}");
        let stored = app
            .log
            .read_stream(&stream, event["version"].as_i64().unwrap(), 1)
            .await
            .unwrap();
        tx_ids.insert(stored[0].tx_id);
    }
    assert_eq!(tx_ids.len(), 1, "one transaction");
    for (stream, event_type) in [
        (format!("client-{y}"), "ClientRegistered"),
        (format!("deal-{d2}"), "DealWon"),
        (format!("deal-{d3}"), "DealOpened"),
        (format!("task-{t2}"), "TaskCompleted"),
        (format!("lead-{l2}"), "LeadRejected"),
    ] {
        assert_eq!(
            last(stream.clone()).await["type"],
            event_type,
            "{stream} must not move"
        );
    }

    // Nothing left to hand over: a no-op.
    let again = app
        .post(
            &format!("/managers/{a}/handover"),
            &json!({"to_manager_id": b}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(app.event_count().await, before + 4);
}
