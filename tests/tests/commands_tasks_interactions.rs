//! The task and interaction commands over HTTP: what they append, and that every
//! refusal (400, 404, 409, 422) appends nothing.

use axum::http::{Method, StatusCode};
use crm_eventlog::{ExpectedVersion, NewEvent};
use crm_tests::scenario::{
    client, events, inactive_manager, manager, refused, response_id, send_text,
};
use crm_tests::{Answer, TestApp};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// Sends a JSON body as the admin with extra headers.
async fn send(app: &TestApp, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
    send_text(app, Method::POST, path, Some(&body.to_string()), headers).await
}

/// One refusal case: path, body, headers, status, code.
type Case<'a> = (
    &'a str,
    String,
    Vec<(&'a str, &'a str)>,
    StatusCode,
    &'a str,
);

/// Runs `cases`; each conflict must name `current` as the current version.
async fn all_refused(app: &TestApp, cases: Vec<Case<'_>>, current: i64) {
    for (path, body, headers, status, code) in cases {
        let answer = refused(app, Method::POST, path, &body, &headers, status, code).await;
        if status == StatusCode::CONFLICT && code == "version_conflict" {
            assert_eq!(answer.body["current_version"], current, "{path}");
        }
    }
}

/// A deal of `client_id`, appended straight to the log.
async fn deal(app: &TestApp, client_id: Uuid, manager_id: Uuid) -> Uuid {
    let id = Uuid::new_v4();
    let data = json!({"deal_id": id, "client_id": client_id, "pipeline_id": Uuid::new_v4(),
        "stage_id": Uuid::new_v4(), "title": "Pallets", "amount": 1000, "manager_id": manager_id});
    app.log
        .append(
            &format!("deal-{id}"),
            ExpectedVersion::NoStream,
            vec![NewEvent::new("DealOpened", data)],
        )
        .await
        .unwrap();
    id
}

/// A task of `assignee_id`, due on 2026-03-10 at 12:00 UTC.
async fn task(app: &TestApp, assignee_id: Uuid) -> Uuid {
    let answer = app
        .post(
            "/tasks",
            &json!({"title": "Call back", "assignee_id": assignee_id,
                "due_at": "2026-03-10T12:00:00Z"}),
        )
        .await;
    response_id(&answer, StatusCode::CREATED, "task", 1)
}

#[sqlx::test(migrations = false)]
async fn scheduling_a_task_appends_task_scheduled(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let anna = manager(&app, "Anna").await;
    let boris = manager(&app, "Boris").await;
    let vera = manager(&app, "Vera").await;
    let client_id = client(&app, anna).await;
    let deal_id = deal(&app, client_id, anna).await;

    let own = Uuid::new_v4();
    let answer = app
        .post(
            "/tasks",
            &json!({"id": own, "title": "Send the offer", "kind": "email", "assignee_id": anna,
                "due_at": "2026-03-10T12:00:00+03:00", "client_id": client_id, "deal_id": deal_id,
                "co_executor_ids": [boris], "observer_ids": [vera, boris],
                "occurred_at": "2026-03-01T09:00:00Z"}),
        )
        .await;
    assert_eq!(response_id(&answer, StatusCode::CREATED, "task", 1), own);
    let stored = events(&app, &format!("task-{own}")).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["type"], "TaskScheduled");
    assert_eq!(stored[0]["occurred_at"], "2026-03-01T09:00:00Z");
    assert_eq!(stored[0]["position"], answer.body["position"]);
    assert_eq!(
        stored[0]["data"],
        json!({"task_id": own, "title": "Send the offer", "kind": "email", "assignee_id": anna,
            "due_at": "2026-03-10T09:00:00Z", "client_id": client_id, "deal_id": deal_id,
            "co_executor_ids": [boris], "observer_ids": [vera, boris]})
    );

    // The least: kind `task`, no helpers, no watchers.
    let id = task(&app, anna).await;
    assert_eq!(
        events(&app, &format!("task-{id}")).await[0]["data"],
        json!({"task_id": id, "title": "Call back", "kind": "task", "assignee_id": anna,
            "due_at": "2026-03-10T12:00:00Z", "co_executor_ids": [], "observer_ids": []})
    );
}

#[sqlx::test(migrations = false)]
async fn task_scheduling_refusals_append_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let anna = manager(&app, "Anna").await;
    let gone = inactive_manager(&app).await;
    let client_id = client(&app, anna).await;
    let other_client = client(&app, anna).await;
    let deal_id = deal(&app, other_client, anna).await;
    let existing = task(&app, anna).await;
    let valid =
        json!({"title": "Call back", "assignee_id": anna, "due_at": "2026-03-10T12:00:00Z"});
    let with = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        body.to_string()
    };
    let bad = StatusCode::BAD_REQUEST;
    let rule = StatusCode::UNPROCESSABLE_ENTITY;
    let cases: Vec<Case> = vec![
        (
            "/tasks",
            "{\"title\": ".into(),
            vec![],
            bad,
            "malformed_json",
        ),
        (
            "/tasks",
            with("title", json!(1)),
            vec![],
            bad,
            "invalid_body",
        ),
        (
            "/tasks",
            with("due_at", json!("tomorrow")),
            vec![],
            bad,
            "invalid_body",
        ),
        (
            "/tasks",
            with("co_executor_ids", json!(anna)),
            vec![],
            bad,
            "invalid_body",
        ),
        (
            "/tasks",
            with("priority", json!("high")),
            vec![],
            bad,
            "invalid_body",
        ),
        (
            "/tasks",
            json!({"title": "Call back", "assignee_id": anna}).to_string(),
            vec![],
            bad,
            "invalid_body",
        ),
        (
            "/tasks",
            with("assignee_id", json!(Uuid::new_v4())),
            vec![],
            rule,
            "reference_not_found",
        ),
        (
            "/tasks",
            with("assignee_id", json!(gone)),
            vec![],
            rule,
            "manager_inactive",
        ),
        (
            "/tasks",
            with("co_executor_ids", json!([anna, gone])),
            vec![],
            rule,
            "manager_inactive",
        ),
        (
            "/tasks",
            with("observer_ids", json!([Uuid::new_v4()])),
            vec![],
            rule,
            "reference_not_found",
        ),
        (
            "/tasks",
            with("client_id", json!(Uuid::new_v4())),
            vec![],
            rule,
            "reference_not_found",
        ),
        (
            "/tasks",
            with("deal_id", json!(Uuid::new_v4())),
            vec![],
            rule,
            "reference_not_found",
        ),
        (
            "/tasks",
            with("title", json!(" ")),
            vec![],
            rule,
            "empty_title",
        ),
        (
            "/tasks",
            with("kind", json!("")),
            vec![],
            rule,
            "empty_kind",
        ),
        (
            "/tasks",
            with("id", json!(existing)),
            vec![],
            StatusCode::CONFLICT,
            "already_exists",
        ),
    ];
    all_refused(&app, cases, 0).await;
    // A deal of another client.
    let mut body = valid.clone();
    body["client_id"] = json!(client_id);
    body["deal_id"] = json!(deal_id);
    refused(
        &app,
        Method::POST,
        "/tasks",
        &body.to_string(),
        &[],
        rule,
        "client_mismatch",
    )
    .await;
}

#[sqlx::test(migrations = false)]
async fn rescheduling_a_task_appends_task_rescheduled(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let anna = manager(&app, "Anna").await;
    let id = task(&app, anna).await;
    let path = format!("/tasks/{id}/reschedule");

    let answer = send(
        &app,
        &path,
        &json!({"due_at": "2026-03-11T15:30:00Z", "occurred_at": "2026-03-09T08:00:00Z"}),
        &[("if-match", "1")],
    )
    .await;
    assert_eq!(response_id(&answer, StatusCode::OK, "task", 2), id);
    let stored = events(&app, &format!("task-{id}")).await;
    assert_eq!(stored[1]["type"], "TaskRescheduled");
    assert_eq!(stored[1]["occurred_at"], "2026-03-09T08:00:00Z");
    assert_eq!(
        stored[1]["data"],
        json!({"task_id": id, "from_due_at": "2026-03-10T12:00:00Z",
            "to_due_at": "2026-03-11T15:30:00Z"})
    );

    let unknown = format!("/tasks/{}/reschedule", Uuid::new_v4());
    let to = |at: &str| json!({ "due_at": at }).to_string();
    let cases: Vec<Case> = vec![
        (
            &path,
            "due_at".into(),
            vec![],
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            &path,
            "{}".into(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &path,
            json!({"due_at": 1}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &path,
            json!({"due_at": "2026-03-12T00:00:00Z", "why": "x"}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "/tasks/42/reschedule",
            to("2026-03-12T00:00:00Z"),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            &unknown,
            to("2026-03-12T00:00:00Z"),
            vec![],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            &path,
            to("2026-03-11T15:30:00Z"),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "same_due_at",
        ),
        (
            &path,
            to("2026-03-12T00:00:00Z"),
            vec![("if-match", "1")],
            StatusCode::CONFLICT,
            "version_conflict",
        ),
    ];
    all_refused(&app, cases, 2).await;
}

#[sqlx::test(migrations = false)]
async fn assigning_a_task_appends_task_reassigned(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let anna = manager(&app, "Anna").await;
    let boris = manager(&app, "Boris").await;
    let gone = inactive_manager(&app).await;
    let id = task(&app, anna).await;
    let path = format!("/tasks/{id}/assign");

    let answer = app.post(&path, &json!({"assignee_id": boris})).await;
    assert_eq!(response_id(&answer, StatusCode::OK, "task", 2), id);
    let stored = events(&app, &format!("task-{id}")).await;
    assert_eq!(stored[1]["type"], "TaskReassigned");
    assert_eq!(
        stored[1]["data"],
        json!({"task_id": id, "from_assignee_id": anna, "to_assignee_id": boris})
    );

    let unknown = format!("/tasks/{}/assign", Uuid::new_v4());
    let to = |m: Uuid| json!({ "assignee_id": m }).to_string();
    let cases: Vec<Case> = vec![
        (
            &path,
            "{".into(),
            vec![],
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            &path,
            "{}".into(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &path,
            json!({"manager_id": anna}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &path,
            json!({"assignee_id": "anna"}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &unknown,
            to(anna),
            vec![],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            &path,
            to(boris),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "same_manager",
        ),
        (
            &path,
            to(Uuid::new_v4()),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "reference_not_found",
        ),
        (
            &path,
            to(gone),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "manager_inactive",
        ),
        (
            &path,
            to(anna),
            vec![("if-match", "1")],
            StatusCode::CONFLICT,
            "version_conflict",
        ),
    ];
    all_refused(&app, cases, 2).await;
}

#[sqlx::test(migrations = false)]
async fn completing_a_task_appends_task_completed_once(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let anna = manager(&app, "Anna").await;
    let boris = manager(&app, "Boris").await;
    let id = task(&app, anna).await;
    let path = format!("/tasks/{id}/complete");
    let unknown = format!("/tasks/{}/complete", Uuid::new_v4());

    let early: Vec<Case> = vec![
        (
            &path,
            "{\"result\"".into(),
            vec![],
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            &path,
            json!({"result": 5}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &path,
            json!({"outcome": "done"}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &unknown,
            "{}".into(),
            vec![],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            &path,
            "{}".into(),
            vec![("if-match", "7")],
            StatusCode::CONFLICT,
            "version_conflict",
        ),
    ];
    all_refused(&app, early, 1).await;

    let answer = send(
        &app,
        &path,
        &json!({"result": "agreed on a meeting"}),
        &[("if-match", "1")],
    )
    .await;
    assert_eq!(response_id(&answer, StatusCode::OK, "task", 2), id);
    let stored = events(&app, &format!("task-{id}")).await;
    assert_eq!(stored[1]["type"], "TaskCompleted");
    assert_eq!(
        stored[1]["data"],
        json!({"task_id": id, "result": "agreed on a meeting"})
    );

    let (cancel_path, reschedule_path, assign_path) = (
        format!("/tasks/{id}/cancel"),
        format!("/tasks/{id}/reschedule"),
        format!("/tasks/{id}/assign"),
    );
    // Closed: completed twice, cancelled, rescheduled or reassigned, all refused.
    let closed: Vec<Case> = vec![
        (
            &path,
            "{}".into(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "task_closed",
        ),
        (
            &cancel_path,
            "{}".into(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "task_closed",
        ),
        (
            &reschedule_path,
            json!({"due_at": "2026-04-01T00:00:00Z"}).to_string(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "task_closed",
        ),
        (
            &assign_path,
            json!({"assignee_id": boris}).to_string(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "task_closed",
        ),
    ];
    for (path, body, headers, status, code) in closed {
        refused(&app, Method::POST, path, &body, &headers, status, code).await;
    }

    // The body may be left out entirely.
    let other = task(&app, anna).await;
    let answer = send_text(
        &app,
        Method::POST,
        &format!("/tasks/{other}/complete"),
        None,
        &[],
    )
    .await;
    response_id(&answer, StatusCode::OK, "task", 2);
    assert_eq!(
        events(&app, &format!("task-{other}")).await[1]["data"],
        json!({ "task_id": other })
    );
}

#[sqlx::test(migrations = false)]
async fn cancelling_a_task_appends_task_cancelled_once(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let anna = manager(&app, "Anna").await;
    let id = task(&app, anna).await;
    let path = format!("/tasks/{id}/cancel");
    let unknown = format!("/tasks/{}/cancel", Uuid::new_v4());

    let early: Vec<Case> = vec![
        (
            &path,
            "[".into(),
            vec![],
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            &path,
            json!({"reason": false}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &path,
            json!({"reason": "x", "y": 1}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &unknown,
            json!({"reason": "x"}).to_string(),
            vec![],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            &path,
            json!({"reason": "x"}).to_string(),
            vec![("if-match", "0")],
            StatusCode::CONFLICT,
            "version_conflict",
        ),
    ];
    all_refused(&app, early, 1).await;

    let answer = app
        .post(
            &path,
            &json!({"reason": "client asked", "occurred_at": "2026-03-05T10:00:00Z"}),
        )
        .await;
    assert_eq!(response_id(&answer, StatusCode::OK, "task", 2), id);
    let stored = events(&app, &format!("task-{id}")).await;
    assert_eq!(stored[1]["type"], "TaskCancelled");
    assert_eq!(stored[1]["occurred_at"], "2026-03-05T10:00:00Z");
    assert_eq!(
        stored[1]["data"],
        json!({"task_id": id, "reason": "client asked"})
    );
    refused(
        &app,
        Method::POST,
        &path,
        "{}",
        &[],
        StatusCode::UNPROCESSABLE_ENTITY,
        "task_closed",
    )
    .await;
    refused(
        &app,
        Method::POST,
        &format!("/tasks/{id}/complete"),
        "{}",
        &[],
        StatusCode::UNPROCESSABLE_ENTITY,
        "task_closed",
    )
    .await;

    // Without a body.
    let other = task(&app, anna).await;
    let answer = send_text(
        &app,
        Method::POST,
        &format!("/tasks/{other}/cancel"),
        None,
        &[],
    )
    .await;
    response_id(&answer, StatusCode::OK, "task", 2);
    assert_eq!(
        events(&app, &format!("task-{other}")).await[1]["data"],
        json!({ "task_id": other })
    );
}

#[sqlx::test(migrations = false)]
async fn logging_an_interaction_appends_interaction_logged(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let anna = manager(&app, "Anna").await;
    let client_id = client(&app, anna).await;
    let deal_id = deal(&app, client_id, anna).await;
    let answer = app
        .post("/leads", &json!({"source": "site", "name": "Ivan"}))
        .await;
    let lead_id = response_id(&answer, StatusCode::CREATED, "lead", 1);

    let own = Uuid::new_v4();
    let answer = app
        .post(
            "/interactions",
            &json!({"id": own, "kind": "call", "direction": "outbound", "manager_id": anna,
                "client_id": client_id, "deal_id": deal_id, "lead_id": lead_id,
                "duration_s": 185, "outcome": "interested", "goal": "qualify", "notes": "call again",
                "occurred_at": "2026-03-02T14:00:00Z"}),
        )
        .await;
    assert_eq!(
        response_id(&answer, StatusCode::CREATED, "interaction", 1),
        own
    );
    let stored = events(&app, &format!("interaction-{own}")).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["type"], "InteractionLogged");
    assert_eq!(stored[0]["occurred_at"], "2026-03-02T14:00:00Z");
    assert_eq!(stored[0]["position"], answer.body["position"]);
    assert_eq!(
        stored[0]["data"],
        json!({"interaction_id": own, "kind": "call", "direction": "outbound", "manager_id": anna,
            "client_id": client_id, "deal_id": deal_id, "lead_id": lead_id,
            "duration": {"seconds": 185}, "outcome": "interested", "goal": "qualify", "notes": "call again"})
    );

    // The least: kind, direction, manager.
    let answer = app
        .post(
            "/interactions",
            &json!({"kind": "meeting", "direction": "inbound", "manager_id": anna}),
        )
        .await;
    let id = response_id(&answer, StatusCode::CREATED, "interaction", 1);
    assert_eq!(
        events(&app, &format!("interaction-{id}")).await[0]["data"],
        json!({"interaction_id": id, "kind": "meeting", "direction": "inbound", "manager_id": anna})
    );
}

#[sqlx::test(migrations = false)]
async fn interaction_refusals_append_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let anna = manager(&app, "Anna").await;
    let gone = inactive_manager(&app).await;
    let client_id = client(&app, anna).await;
    let other_client = client(&app, anna).await;
    let deal_id = deal(&app, other_client, anna).await;
    let answer = app
        .post(
            "/interactions",
            &json!({"kind": "email", "direction": "inbound", "manager_id": anna}),
        )
        .await;
    let existing = response_id(&answer, StatusCode::CREATED, "interaction", 1);
    let valid = json!({"kind": "call", "direction": "outbound", "manager_id": anna});
    let with = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        body.to_string()
    };
    let bad = StatusCode::BAD_REQUEST;
    let rule = StatusCode::UNPROCESSABLE_ENTITY;
    let path = "/interactions";
    let cases: Vec<Case> = vec![
        (
            path,
            "{\"kind\": \"call\"".into(),
            vec![],
            bad,
            "malformed_json",
        ),
        (
            path,
            with("kind", json!("fax")),
            vec![],
            bad,
            "invalid_body",
        ),
        (
            path,
            with("direction", json!("sideways")),
            vec![],
            bad,
            "invalid_body",
        ),
        (
            path,
            with("duration_s", json!("60")),
            vec![],
            bad,
            "invalid_body",
        ),
        (
            path,
            with("duration_s", json!(1.5)),
            vec![],
            bad,
            "invalid_body",
        ),
        (
            path,
            with("mood", json!("good")),
            vec![],
            bad,
            "invalid_body",
        ),
        (
            path,
            json!({"kind": "call", "manager_id": anna}).to_string(),
            vec![],
            bad,
            "invalid_body",
        ),
        (
            path,
            with("duration_s", json!(-1)),
            vec![],
            rule,
            "negative_duration",
        ),
        (
            path,
            with("manager_id", json!(Uuid::new_v4())),
            vec![],
            rule,
            "reference_not_found",
        ),
        (
            path,
            with("manager_id", json!(gone)),
            vec![],
            rule,
            "manager_inactive",
        ),
        (
            path,
            with("client_id", json!(Uuid::new_v4())),
            vec![],
            rule,
            "reference_not_found",
        ),
        (
            path,
            with("deal_id", json!(Uuid::new_v4())),
            vec![],
            rule,
            "reference_not_found",
        ),
        (
            path,
            with("lead_id", json!(Uuid::new_v4())),
            vec![],
            rule,
            "reference_not_found",
        ),
        // A client's id is no lead's.
        (
            path,
            with("lead_id", json!(client_id)),
            vec![],
            rule,
            "reference_not_found",
        ),
        (
            path,
            with("id", json!(existing)),
            vec![],
            StatusCode::CONFLICT,
            "already_exists",
        ),
    ];
    all_refused(&app, cases, 0).await;
    let mut body = valid.clone();
    body["client_id"] = json!(client_id);
    body["deal_id"] = json!(deal_id);
    refused(
        &app,
        Method::POST,
        path,
        &body.to_string(),
        &[],
        rule,
        "client_mismatch",
    )
    .await;
}
