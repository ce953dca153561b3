//! Manager and pipeline commands: success, and every refusal appending nothing; and
//! the OpenAPI document listing every command route.

use axum::http::{Method, StatusCode};
use crm_tests::{TestApp, ADMIN_TOKEN};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrations = false)]
async fn managers_register_and_deactivate(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let id = Uuid::new_v4();
    let answer = app
        .post("/managers", &json!({"id": id, "name": "Olena", "department": "Wholesale", "role": "head",
                                   "email": "olena@example.com", "occurred_at": "2026-01-05T08:00:00Z"}))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(answer.body["id"], id.to_string());
    assert_eq!(
        (
            answer.body["stream"].as_str(),
            answer.body["version"].as_i64()
        ),
        (Some(format!("manager-{id}").as_str()), Some(1))
    );
    let events = app.get(&format!("/streams/manager-{id}/events")).await.body["events"].clone();
    assert_eq!(events[0]["type"], "ManagerRegistered");
    assert_eq!(
        events[0]["data"],
        json!({"manager_id": id, "name": "Olena", "email": "olena@example.com", "department": "Wholesale", "role": "head"})
    );
    assert_eq!(events[0]["occurred_at"], "2026-01-05T08:00:00Z");

    // The body of a deactivation may be left out.
    let off = app
        .send(
            Method::POST,
            &format!("/managers/{id}/deactivate"),
            Some(ADMIN_TOKEN),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (off.status, off.body["version"].as_i64()),
        (StatusCode::OK, Some(2)),
        "{:?}",
        off.body
    );

    let before = app.event_count().await;
    let cases: Vec<(String, Option<Value>, StatusCode, &str)> = vec![
        (
            format!("/managers/{id}/deactivate"),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "manager_inactive",
        ),
        (
            format!("/managers/{}/deactivate", Uuid::new_v4()),
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/managers".into(),
            Some(json!({"id": id, "name": "Again", "department": "D", "role": "manager"})),
            StatusCode::CONFLICT,
            "already_exists",
        ),
        (
            "/managers".into(),
            Some(json!({"name": "", "department": "D", "role": "manager"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_name",
        ),
        (
            "/managers".into(),
            Some(json!({"name": "X", "department": "D", "role": "king"})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "/managers".into(),
            Some(json!({"name": "X", "role": "manager"})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "/managers".into(),
            Some(json!({"name": 5, "department": "D", "role": "manager"})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "/managers".into(),
            Some(json!({"name": "X", "department": "D", "role": "manager", "salary": 1})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            format!("/managers/{id}/deactivate"),
            Some(json!({"reason": "left"})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ];
    for (path, body, status, code) in cases {
        let answer = app
            .send(Method::POST, &path, Some(ADMIN_TOKEN), body.as_ref(), &[])
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{path} {body:?}: {:?}",
            answer.body
        );
    }
    assert_eq!(app.event_count().await, before);
}

#[sqlx::test(migrations = false)]
async fn pipelines_are_defined_with_ordered_stages(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let first = Uuid::new_v4();
    let answer = app
        .post(
            "/pipelines",
            &json!({"name": "Wholesale", "stages": [
            {"id": first, "name": "Qualified", "probability": 0.1},
            {"name": "Won soon", "probability": 0.95}]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    let id = answer.body["id"].as_str().unwrap();
    let events = app
        .get(&format!("/streams/pipeline-{id}/events"))
        .await
        .body["events"]
        .clone();
    let stages = events[0]["data"]["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 2);
    assert_eq!(
        stages[0],
        json!({"stage_id": first, "name": "Qualified", "probability": 0.1})
    );
    assert!(
        Uuid::parse_str(stages[1]["stage_id"].as_str().unwrap()).is_ok(),
        "a stage id is made up when none is given"
    );

    let before = app.event_count().await;
    let stage = |name: &str, p: f64| json!({"name": name, "probability": p});
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"name": "P", "stages": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_stages",
        ),
        (
            json!({"name": "P", "stages": [stage("A", 0.1), stage("a ", 0.2)]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "duplicate_stage_name",
        ),
        (
            json!({"name": "P", "stages": [{"id": first, "name": "A", "probability": 0.1}, {"id": first, "name": "B", "probability": 0.2}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "duplicate_stage_id",
        ),
        (
            json!({"name": "P", "stages": [stage("A", 1.5)]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_probability",
        ),
        (
            json!({"name": "", "stages": [stage("A", 0.5)]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_name",
        ),
        (
            json!({"id": id, "name": "P", "stages": [stage("A", 0.5)]}),
            StatusCode::CONFLICT,
            "already_exists",
        ),
        (
            json!({"name": "P", "stages": [{"name": "A"}]}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({"name": "P", "stages": "A,B"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ];
    for (body, status, code) in cases {
        let answer = app.post("/pipelines", &body).await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{body}: {:?}",
            answer.body
        );
    }
    assert_eq!(app.event_count().await, before);
}

#[sqlx::test(migrations = false)]
async fn the_openapi_document_lists_every_command(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let doc = app
        .send(Method::GET, "/openapi.json", None, None, &[])
        .await
        .body;
    let expected: [(&str, &str); 26] = [
        ("/managers", "post"),
        ("/managers/{id}/deactivate", "post"),
        ("/managers/{id}/handover", "post"),
        ("/pipelines", "post"),
        ("/clients", "post"),
        ("/clients/{id}", "patch"),
        ("/clients/{id}/assign", "post"),
        ("/leads", "post"),
        ("/leads/{id}/assign", "post"),
        ("/leads/{id}/convert", "post"),
        ("/leads/{id}/reject", "post"),
        ("/deals", "post"),
        ("/deals/{id}", "get"),
        ("/deals/{id}/stage", "post"),
        ("/deals/{id}/amount", "post"),
        ("/deals/{id}/assign", "post"),
        ("/deals/{id}/win", "post"),
        ("/deals/{id}/lose", "post"),
        ("/deals/{id}/reopen", "post"),
        ("/interactions", "post"),
        ("/tasks", "post"),
        ("/tasks/{id}/reschedule", "post"),
        ("/tasks/{id}/assign", "post"),
        ("/tasks/{id}/complete", "post"),
        ("/tasks/{id}/cancel", "post"),
        ("/events", "get"),
    ];
    for (path, method) in expected {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
    let ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "operation ids are unique: {ids:?}");
}
