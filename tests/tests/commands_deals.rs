//! Deal commands end to end: success, every error status with nothing appended,
//! optimistic concurrency with If-Match, and the deal as of a time or version.

use axum::http::{Method, StatusCode};
use crm_eventlog::{ExpectedVersion, NewEvent};
use crm_tests::{TestApp, ADMIN_TOKEN};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// A manager, a three-stage pipeline, a second pipeline and a client.
struct World {
    app: TestApp,
    manager: String,
    pipeline: String,
    stages: Vec<String>,
    other_stage: String,
    client: String,
}

async fn world(pool: PgPool) -> World {
    let app = TestApp::new(pool).await.unwrap();
    let manager = app
        .post(
            "/managers",
            &json!({"name": "Olena", "department": "Wholesale", "role": "manager"}),
        )
        .await;
    assert_eq!(manager.status, StatusCode::CREATED, "{:?}", manager.body);
    let manager = manager.body["id"].as_str().unwrap().to_owned();
    let stages: Vec<String> = (0..3).map(|_| Uuid::new_v4().to_string()).collect();
    let pipeline = app
        .post(
            "/pipelines",
            &json!({"name": "Wholesale", "stages": [
                {"id": stages[0], "name": "Qualified", "probability": 0.1},
                {"id": stages[1], "name": "Proposal", "probability": 0.5},
                {"id": stages[2], "name": "Contract", "probability": 0.9}]}),
        )
        .await;
    assert_eq!(pipeline.status, StatusCode::CREATED, "{:?}", pipeline.body);
    let other_stage = Uuid::new_v4().to_string();
    let other = app
        .post("/pipelines", &json!({"name": "Retail", "stages": [{"id": other_stage, "name": "New", "probability": 0.2}]}))
        .await;
    assert_eq!(other.status, StatusCode::CREATED);
    let client = Uuid::new_v4();
    app.log
        .append(
            &format!("client-{client}"),
            ExpectedVersion::NoStream,
            vec![NewEvent::new(
                "ClientRegistered",
                json!({"client_id": client, "name": "Acme", "kind": "company", "manager_id": manager, "contacts": []}),
            )],
        )
        .await
        .unwrap();
    World {
        app,
        manager,
        pipeline: pipeline.body["id"].as_str().unwrap().to_owned(),
        stages,
        other_stage,
        client: client.to_string(),
    }
}

impl World {
    async fn open_deal(&self, amount: i64) -> String {
        let answer = self
            .app
            .post(
                "/deals",
                &json!({"client_id": self.client, "pipeline_id": self.pipeline, "title": "Order", "amount": amount, "manager_id": self.manager}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body["id"].as_str().unwrap().to_owned()
    }

    async fn events(&self, stream: &str) -> Vec<Value> {
        self.app
            .get(&format!("/streams/{stream}/events"))
            .await
            .body["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

#[sqlx::test(migrations = false)]
async fn opening_and_moving_a_deal_appends_its_events(pool: PgPool) {
    let w = world(pool).await;
    let answer = w
        .app
        .post(
            "/deals",
            &json!({"client_id": w.client, "pipeline_id": w.pipeline, "title": "Order", "amount": 150_000,
                    "manager_id": w.manager, "source": "website", "expected_close_on": "2026-12-31",
                    "occurred_at": "2026-03-01T09:30:00Z"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    assert_eq!(answer.body["stream"], format!("deal-{id}"));
    assert_eq!(answer.body["version"], 1);
    assert!(answer.body["position"].as_i64().unwrap() > 0);

    let events = w.events(&format!("deal-{id}")).await;
    assert_eq!(events[0]["type"], "DealOpened");
    assert_eq!(events[0]["occurred_at"], "2026-03-01T09:30:00Z");
    assert_eq!(
        events[0]["data"]["stage_id"], w.stages[0],
        "the first stage by default"
    );
    assert_eq!(events[0]["data"]["amount"], 150_000);
    assert_eq!(events[0]["metadata"]["actor"], "role:admin");
    assert_eq!(events[0]["metadata"]["source"], "api");

    let moved = w
        .app
        .post(
            &format!("/deals/{id}/stage"),
            &json!({"stage_id": w.stages[1]}),
        )
        .await;
    assert_eq!(
        (moved.status, moved.body["version"].as_i64()),
        (StatusCode::OK, Some(2)),
        "{:?}",
        moved.body
    );
    let amount = w
        .app
        .post(&format!("/deals/{id}/amount"), &json!({"amount": 200_000}))
        .await;
    assert_eq!(amount.status, StatusCode::OK);
    let won = w
        .app
        .send(
            Method::POST,
            &format!("/deals/{id}/win"),
            Some(ADMIN_TOKEN),
            None,
            &[],
        )
        .await;
    assert_eq!(won.status, StatusCode::OK, "{:?}", won.body);
    let events = w.events(&format!("deal-{id}")).await;
    let types: Vec<_> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "DealOpened",
            "DealStageChanged",
            "DealAmountChanged",
            "DealWon"
        ]
    );
    assert_eq!(
        events[1]["data"],
        json!({"deal_id": id, "from_stage_id": w.stages[0], "to_stage_id": w.stages[1]})
    );
    assert_eq!(
        events[3]["data"]["amount"], 200_000,
        "won at the current amount"
    );

    let deal = w.app.get(&format!("/deals/{id}")).await;
    assert_eq!(deal.body["status"], "won");
    assert_eq!(deal.body["version"], 4);
}

#[sqlx::test(migrations = false)]
async fn refused_commands_append_nothing(pool: PgPool) {
    let w = world(pool).await;
    let id = w.open_deal(1000).await;
    let before = w.app.event_count().await;
    let unknown = Uuid::new_v4();
    let cases: Vec<(Method, String, Option<Value>, StatusCode, &str)> = vec![
        (
            Method::POST,
            format!("/deals/{id}/stage"),
            Some(json!({"stage_id": w.other_stage})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "stage_not_in_pipeline",
        ),
        (
            Method::POST,
            format!("/deals/{id}/stage"),
            Some(json!({"stage_id": w.stages[0]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "same_stage",
        ),
        (
            Method::POST,
            format!("/deals/{id}/amount"),
            Some(json!({"amount": -5})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "negative_amount",
        ),
        (
            Method::POST,
            format!("/deals/{id}/assign"),
            Some(json!({"manager_id": unknown})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "reference_not_found",
        ),
        (
            Method::POST,
            format!("/deals/{unknown}/stage"),
            Some(json!({"stage_id": w.stages[1]})),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::POST,
            format!("/deals/{id}/stage"),
            Some(json!({"stage_id": "not-a-uuid"})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            Method::POST,
            format!("/deals/{id}/stage"),
            Some(json!({"stage_id": w.stages[1], "extra": 1})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            Method::POST,
            format!("/deals/{id}/stage"),
            Some(json!({})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            Method::POST,
            format!("/deals/{id}/amount"),
            Some(json!({"amount": 12.5})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            Method::POST,
            "/deals/not-a-uuid/stage".into(),
            Some(json!({"stage_id": w.stages[1]})),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            Method::POST,
            format!("/deals/{id}/reopen"),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "deal_not_closed",
        ),
        (
            Method::POST,
            "/deals".into(),
            Some(
                json!({"client_id": unknown, "pipeline_id": w.pipeline, "title": "X", "amount": 1, "manager_id": w.manager}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "reference_not_found",
        ),
        (
            Method::POST,
            "/deals".into(),
            Some(
                json!({"id": id, "client_id": w.client, "pipeline_id": w.pipeline, "title": "X", "amount": 1, "manager_id": w.manager}),
            ),
            StatusCode::CONFLICT,
            "already_exists",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let answer = w
            .app
            .send(method, &path, Some(ADMIN_TOKEN), body.as_ref(), &[])
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{path} {body:?}: {:?}",
            answer.body
        );
        assert_eq!(answer.headers["content-type"], "application/problem+json");
    }
    // Malformed JSON and a body that is not JSON.
    let raw = |body: &'static str, content_type: &'static str| {
        axum::http::Request::builder()
            .method(Method::POST)
            .uri(format!("/deals/{id}/stage"))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .header("content-type", content_type)
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    let malformed = w
        .app
        .send_raw(raw("{\"stage_id\": ", "application/json"))
        .await;
    assert_eq!(
        (malformed.status, malformed.code()),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    let text = w.app.send_raw(raw("stage please", "text/plain")).await;
    assert_eq!(text.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!(
        "{{\"reason\": \"{}\"}}",
        "x".repeat(crm_api::extract::BODY_LIMIT + 10)
    );
    let huge = w
        .app
        .send_raw(
            axum::http::Request::builder()
                .method(Method::POST)
                .uri(format!("/deals/{id}/lose"))
                .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(huge))
                .unwrap(),
        )
        .await;
    assert_eq!(
        (huge.status, huge.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let anonymous = w
        .app
        .send(
            Method::POST,
            &format!("/deals/{id}/stage"),
            None,
            Some(&json!({"stage_id": w.stages[1]})),
            &[],
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    assert_eq!(
        w.app.event_count().await,
        before,
        "a refused command appends nothing"
    );
}

#[sqlx::test(migrations = false)]
async fn a_closed_deal_is_frozen_until_reopened(pool: PgPool) {
    let w = world(pool).await;
    let id = w.open_deal(1000).await;
    let lost = w
        .app
        .post(
            &format!("/deals/{id}/lose"),
            &json!({"reason": "price", "comment": "too expensive"}),
        )
        .await;
    assert_eq!(lost.status, StatusCode::OK);
    for (path, body) in [
        ("stage", json!({"stage_id": w.stages[1]})),
        ("amount", json!({"amount": 5})),
        ("win", json!({})),
        ("lose", json!({"reason": "again"})),
    ] {
        let answer = w.app.post(&format!("/deals/{id}/{path}"), &body).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "deal_closed"),
            "{path}"
        );
    }
    let reopened = w
        .app
        .post(
            &format!("/deals/{id}/reopen"),
            &json!({"stage_id": w.stages[2]}),
        )
        .await;
    assert_eq!(reopened.status, StatusCode::OK, "{:?}", reopened.body);
    let moved = w
        .app
        .post(
            &format!("/deals/{id}/stage"),
            &json!({"stage_id": w.stages[1]}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK);
    assert_eq!(
        w.app.get(&format!("/deals/{id}")).await.body["status"],
        "open"
    );
}

#[sqlx::test(migrations = false)]
async fn two_stage_changes_with_the_same_if_match_one_wins(pool: PgPool) {
    let w = world(pool).await;
    let id = w.open_deal(1000).await;
    for round in 0..5 {
        let version = 1 + round * 2;
        let [first, second] = [1, 2].map(|s| {
            let app = w.app.clone();
            let (path, body) = (
                format!("/deals/{id}/stage"),
                json!({"stage_id": w.stages[s]}),
            );
            let if_match = version.to_string();
            tokio::spawn(async move {
                app.send(
                    Method::POST,
                    &path,
                    Some(ADMIN_TOKEN),
                    Some(&body),
                    &[("if-match", &if_match)],
                )
                .await
            })
        });
        let (first, second) = (first.await.unwrap(), second.await.unwrap());
        let mut statuses = [first.status, second.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "round {round}"
        );
        let lost = if first.status == StatusCode::CONFLICT {
            &first
        } else {
            &second
        };
        assert_eq!(lost.code(), "version_conflict");
        assert_eq!(lost.body["current_version"], version + 1);
        // Back to the first stage for the next round.
        let back = w
            .app
            .post(
                &format!("/deals/{id}/stage"),
                &json!({"stage_id": w.stages[0]}),
            )
            .await;
        assert_eq!(back.status, StatusCode::OK);
    }
    // A stale If-Match is a 409 that appends nothing; a current one works.
    let before = w.app.event_count().await;
    let stale = w
        .app
        .send(
            Method::POST,
            &format!("/deals/{id}/amount"),
            Some(ADMIN_TOKEN),
            Some(&json!({"amount": 7})),
            &[("if-match", "1")],
        )
        .await;
    assert_eq!(
        (stale.status, stale.body["current_version"].as_i64()),
        (StatusCode::CONFLICT, Some(11))
    );
    assert_eq!(w.app.event_count().await, before);
    // A stale view decided on is a conflict, even where the current state refuses the
    // command (the deal is at that stage now): the caller must look again. At the
    // current version, the same move is the domain's refusal.
    let to_first = json!({"stage_id": w.stages[0]});
    let stage = format!("/deals/{id}/stage");
    let stale = w
        .app
        .send(
            Method::POST,
            &stage,
            Some(ADMIN_TOKEN),
            Some(&to_first),
            &[("if-match", "10")],
        )
        .await;
    assert_eq!(
        (stale.status, stale.body["current_version"].as_i64()),
        (StatusCode::CONFLICT, Some(11))
    );
    let current = w
        .app
        .send(
            Method::POST,
            &stage,
            Some(ADMIN_TOKEN),
            Some(&to_first),
            &[("if-match", "11")],
        )
        .await;
    assert_eq!(
        (current.status, current.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "same_stage")
    );
    assert_eq!(w.app.event_count().await, before);
    let fresh = w
        .app
        .send(
            Method::POST,
            &format!("/deals/{id}/amount"),
            Some(ADMIN_TOKEN),
            Some(&json!({"amount": 7})),
            &[("if-match", "11")],
        )
        .await;
    assert_eq!(fresh.status, StatusCode::OK);
}

#[sqlx::test(migrations = false)]
async fn concurrent_commands_without_if_match_are_all_applied(pool: PgPool) {
    let w = world(pool).await;
    let id = w.open_deal(0).await;
    let tasks: Vec<_> = (1..=8)
        .map(|n| {
            let app = w.app.clone();
            let path = format!("/deals/{id}/amount");
            tokio::spawn(async move { app.post(&path, &json!({"amount": n * 100})).await })
        })
        .collect();
    for task in tasks {
        let answer = task.await.unwrap();
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    }
    assert_eq!(w.app.get(&format!("/deals/{id}")).await.body["version"], 9);
}

#[sqlx::test(migrations = false)]
async fn a_deal_as_of_a_time_and_at_a_version(pool: PgPool) {
    let w = world(pool).await;
    let answer = w
        .app
        .post(
            "/deals",
            &json!({"client_id": w.client, "pipeline_id": w.pipeline, "title": "Order", "amount": 100,
                    "manager_id": w.manager, "occurred_at": "2026-01-10T10:00:00Z"}),
        )
        .await;
    let id = answer.body["id"].as_str().unwrap().to_owned();
    let steps = [
        (
            "stage",
            json!({"stage_id": w.stages[1], "occurred_at": "2026-02-01T10:00:00Z"}),
        ),
        (
            "amount",
            json!({"amount": 500, "occurred_at": "2026-03-01T10:00:00Z"}),
        ),
        ("win", json!({"occurred_at": "2026-04-01T10:00:00Z"})),
    ];
    for (path, body) in steps {
        assert_eq!(
            w.app
                .post(&format!("/deals/{id}/{path}"), &body)
                .await
                .status,
            StatusCode::OK
        );
    }
    let at = |q: &str| {
        let app = w.app.clone();
        let path = format!("/deals/{id}?{q}");
        async move { app.get(&path).await }
    };
    let jan = at("as_of=2026-01-20T00:00:00Z").await;
    assert_eq!(
        (
            jan.body["stage_id"].as_str(),
            jan.body["amount"].as_i64(),
            jan.body["status"].as_str(),
            jan.body["version"].as_i64()
        ),
        (Some(w.stages[0].as_str()), Some(100), Some("open"), Some(1))
    );
    let mar = at("as_of=2026-03-15T00:00:00Z").await;
    assert_eq!(
        (
            mar.body["stage_id"].as_str(),
            mar.body["amount"].as_i64(),
            mar.body["status"].as_str()
        ),
        (Some(w.stages[1].as_str()), Some(500), Some("open"))
    );
    let v2 = at("version=2").await;
    assert_eq!(
        (v2.body["amount"].as_i64(), v2.body["version"].as_i64()),
        (Some(100), Some(2))
    );
    let now = at("").await;
    assert_eq!(
        (now.body["status"].as_str(), now.body["version"].as_i64()),
        (Some("won"), Some(4))
    );
    let before = at("as_of=2025-12-31T00:00:00Z").await;
    assert_eq!(before.status, StatusCode::NOT_FOUND, "not opened yet");
    assert_eq!(at("version=0").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(at("as_of=yesterday").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        w.app
            .get(&format!("/deals/{}", Uuid::new_v4()))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// Commands decide first on the states their process remembers, unread: when another
/// process moved one of them (the deal a command writes, or the manager it only
/// names), the command is decided again on the log's state, as if nothing were
/// remembered.
#[sqlx::test(migrations = false)]
async fn a_state_another_process_moved_is_decided_on_again_from_the_log(pool: PgPool) {
    let w = world(pool).await;
    let other = w.app.another_process(|s| s);
    let id = w.open_deal(1000).await;
    let stage = format!("/deals/{id}/stage");
    let to = |s: &str| json!({ "stage_id": s });
    // This process remembers the deal at the second stage, version 2.
    let moved = w.app.post(&stage, &to(&w.stages[1])).await;
    assert_eq!(moved.body["version"], 2, "{:?}", moved.body);
    // The other one moves it on to the third.
    let moved = other.post(&stage, &to(&w.stages[2])).await;
    assert_eq!(moved.body["version"], 3, "{:?}", moved.body);
    // Here, the same move is refused as the log says (remembered, it would be allowed).
    let before = w.app.event_count().await;
    let again = w.app.post(&stage, &to(&w.stages[2])).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "same_stage")
    );
    assert_eq!(w.app.event_count().await, before);
    // And a move back starts from where the log has the deal.
    let back = w.app.post(&stage, &to(&w.stages[0])).await;
    assert_eq!(back.body["version"], 4, "{:?}", back.body);
    let events = w.events(&format!("deal-{id}")).await;
    assert_eq!(events[3]["data"]["from_stage_id"], w.stages[2]);

    // A manager this process remembers active, deactivated by the other one: a call
    // naming him is refused, not appended on the remembered state.
    let manager = w
        .app
        .post(
            "/managers",
            &json!({"name": "Taras", "department": "Wholesale", "role": "manager"}),
        )
        .await;
    assert_eq!(manager.status, StatusCode::CREATED, "{:?}", manager.body);
    let manager = manager.body["id"].as_str().unwrap().to_owned();
    let call = json!({"kind": "call", "direction": "outbound", "manager_id": manager, "client_id": w.client});
    let logged = w.app.post("/interactions", &call).await;
    assert_eq!(logged.status, StatusCode::CREATED, "{:?}", logged.body);
    let gone = other
        .post(&format!("/managers/{manager}/deactivate"), &json!({}))
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{:?}", gone.body);
    let before = w.app.event_count().await;
    let refused = w.app.post("/interactions", &call).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "manager_inactive"),
        "{:?}",
        refused.body
    );
    assert_eq!(w.app.event_count().await, before);
}
