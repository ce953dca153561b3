//! The client and lead commands over HTTP: what they append, and that every refusal
//! (400, 404, 409, 422) appends nothing; lead conversion writes its three streams in
//! one transaction or not at all.

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
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Answer {
    send_text(app, method, path, Some(&body.to_string()), headers).await
}

/// One refusal case: path, body, headers, status, code.
type Case<'a> = (
    &'a str,
    String,
    Vec<(&'a str, &'a str)>,
    StatusCode,
    &'a str,
);

/// A pipeline with two stages, appended straight to the log.
async fn pipeline(app: &TestApp) -> (Uuid, Uuid, Uuid) {
    let (id, first, second) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let data = json!({
        "pipeline_id": id,
        "name": "Wholesale",
        "stages": [
            {"stage_id": first, "name": "Qualification", "probability": 0.1},
            {"stage_id": second, "name": "Offer", "probability": 0.5},
        ],
    });
    app.log
        .append(
            &format!("pipeline-{id}"),
            ExpectedVersion::NoStream,
            vec![NewEvent::new("PipelineDefined", data)],
        )
        .await
        .unwrap();
    (id, first, second)
}

/// A lead, assigned to `manager_id` when given.
async fn lead(app: &TestApp, manager_id: Option<Uuid>) -> Uuid {
    let mut body = json!({"source": "site", "channel": "form", "name": "Ivan Petrov",
        "phone": "+7 900 000-00-00", "email": "ivan@example.com"});
    if let Some(manager_id) = manager_id {
        body["manager_id"] = json!(manager_id);
    }
    let answer = app.post("/leads", &body).await;
    let version = if manager_id.is_some() { 2 } else { 1 };
    response_id(&answer, StatusCode::CREATED, "lead", version)
}

#[sqlx::test(migrations = false)]
async fn registering_a_client_appends_client_registered(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let manager_id = manager(&app, "Anna").await;
    let body = json!({
        "name": "Acme LLC",
        "kind": "company",
        "size": "50-100",
        "industry": "Retail",
        "region": "North",
        "source": "referral",
        "manager_id": manager_id,
        "contacts": [{"name": "Olga", "phone": "+1 555 0100"}, {"name": "Petr", "email": "p@acme.test"}],
        "occurred_at": "2026-03-01T09:30:00Z",
    });
    let answer = app.post("/clients", &body).await;
    let id = response_id(&answer, StatusCode::CREATED, "client", 1);

    let stored = events(&app, &format!("client-{id}")).await;
    assert_eq!(stored.len(), 1);
    let event = &stored[0];
    assert_eq!(event["type"], "ClientRegistered");
    assert_eq!(event["occurred_at"], "2026-03-01T09:30:00Z");
    assert_eq!(event["position"], answer.body["position"]);
    assert_eq!(event["metadata"]["source"], "api");
    assert!(event["metadata"]["actor"].is_string());
    assert_eq!(
        event["data"],
        json!({
            "client_id": id,
            "name": "Acme LLC",
            "kind": "company",
            "size": "50-100",
            "industry": "Retail",
            "region": "North",
            "source": "referral",
            "manager_id": manager_id,
            "contacts": [{"name": "Olga", "phone": "+1 555 0100"}, {"name": "Petr", "email": "p@acme.test"}],
        })
    );

    // Its own id; the same id again is refused, and nothing is appended.
    let own = Uuid::new_v4();
    let answer = app
        .post(
            "/clients",
            &json!({"id": own, "name": "Solo", "kind": "person", "manager_id": manager_id}),
        )
        .await;
    assert_eq!(response_id(&answer, StatusCode::CREATED, "client", 1), own);
    let again = json!({"id": own, "name": "Solo", "kind": "person", "manager_id": manager_id});
    refused(
        &app,
        Method::POST,
        "/clients",
        &again.to_string(),
        &[],
        StatusCode::CONFLICT,
        "already_exists",
    )
    .await;
    // Without contacts the list is empty.
    assert_eq!(
        events(&app, &format!("client-{own}")).await[0]["data"]["contacts"],
        json!([])
    );
}

#[sqlx::test(migrations = false)]
async fn client_registration_refusals_append_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let manager_id = manager(&app, "Anna").await;
    let gone = inactive_manager(&app).await;
    let valid = json!({"name": "Acme", "kind": "company", "manager_id": manager_id});
    let with = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        body.to_string()
    };
    let bad_requests = [
        ("{\"name\": \"Acme\",".to_owned(), "malformed_json"),
        (with("name", json!(5)), "invalid_body"),
        (with("kind", json!("robot")), "invalid_body"),
        (with("manager_id", json!("not-a-uuid")), "invalid_body"),
        (with("colour", json!("blue")), "invalid_body"),
        (
            with("contacts", json!([{"name": "Olga", "fax": "1"}])),
            "invalid_body",
        ),
        (
            json!({"name": "Acme", "kind": "company"}).to_string(),
            "invalid_body",
        ),
    ];
    for (body, code) in bad_requests {
        refused(
            &app,
            Method::POST,
            "/clients",
            &body,
            &[],
            StatusCode::BAD_REQUEST,
            code,
        )
        .await;
    }
    let rules = [
        (
            with("manager_id", json!(Uuid::new_v4())),
            "reference_not_found",
        ),
        (with("manager_id", json!(gone)), "manager_inactive"),
        (with("name", json!("  ")), "empty_name"),
        (with("contacts", json!([{"name": ""}])), "empty_name"),
    ];
    for (body, code) in rules {
        refused(
            &app,
            Method::POST,
            "/clients",
            &body,
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
        )
        .await;
    }
    // The valid body itself goes through.
    let answer = app.post("/clients", &valid).await;
    response_id(&answer, StatusCode::CREATED, "client", 1);
}

#[sqlx::test(migrations = false)]
async fn patching_a_client_records_only_what_changes(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let anna = manager(&app, "Anna").await;
    let boris = manager(&app, "Boris").await;
    let answer = app
        .post(
            "/clients",
            &json!({"name": "Acme", "kind": "company", "region": "North", "industry": "Retail",
                "manager_id": anna}),
        )
        .await;
    let id = response_id(&answer, StatusCode::CREATED, "client", 1);
    let path = format!("/clients/{id}");
    let stream = format!("client-{id}");

    // name changes, kind is the same (left out of the event), region is cleared.
    let answer = send(
        &app,
        Method::PATCH,
        &path,
        &json!({"name": "Acme Group", "kind": "company", "region": null,
            "contacts": [{"name": "Olga"}], "occurred_at": "2026-03-02T10:00:00Z"}),
        &[],
    )
    .await;
    assert_eq!(response_id(&answer, StatusCode::OK, "client", 2), id);
    let stored = events(&app, &stream).await;
    assert_eq!(stored[1]["type"], "ClientUpdated");
    assert_eq!(stored[1]["occurred_at"], "2026-03-02T10:00:00Z");
    assert_eq!(
        stored[1]["data"],
        json!({"client_id": id, "changes": {"name": "Acme Group", "region": null,
            "contacts": [{"name": "Olga"}]}})
    );

    // The manager, through PATCH, is a reassignment; with another field, both in one go.
    let answer = send(
        &app,
        Method::PATCH,
        &path,
        &json!({"manager_id": boris, "industry": "Wholesale"}),
        &[("if-match", "2")],
    )
    .await;
    response_id(&answer, StatusCode::OK, "client", 4);
    let stored = events(&app, &stream).await;
    assert_eq!(stored[2]["type"], "ClientUpdated");
    assert_eq!(
        stored[2]["data"]["changes"],
        json!({"industry": "Wholesale"})
    );
    assert_eq!(stored[3]["type"], "ClientReassigned");
    assert_eq!(
        stored[3]["data"],
        json!({"client_id": id, "from_manager_id": anna, "to_manager_id": boris})
    );
    assert_eq!(
        stored[2]["position"].as_i64().unwrap() + 1,
        stored[3]["position"]
    );

    // Refusals.
    let same = json!({"name": "Acme Group", "manager_id": boris}).to_string();
    let unknown = format!("/clients/{}", Uuid::new_v4());
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
            json!({"name": 1}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &path,
            json!({"name": null}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &path,
            json!({"nickname": "A"}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "/clients/not-a-uuid",
            json!({"name": "A"}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            &unknown,
            json!({"name": "A"}).to_string(),
            vec![],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            &path,
            same.clone(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_changes",
        ),
        (
            &path,
            "{}".into(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_changes",
        ),
        (
            &path,
            json!({"name": ""}).to_string(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_name",
        ),
        (
            &path,
            json!({"manager_id": Uuid::new_v4()}).to_string(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "reference_not_found",
        ),
        (
            &path,
            json!({"name": "B"}).to_string(),
            vec![("if-match", "2")],
            StatusCode::CONFLICT,
            "version_conflict",
        ),
    ];
    for (path, body, headers, status, code) in cases {
        refused(&app, Method::PATCH, path, &body, &headers, status, code).await;
    }
    let stale = refused(
        &app,
        Method::PATCH,
        &path,
        &json!({"name": "C"}).to_string(),
        &[("if-match", "1")],
        StatusCode::CONFLICT,
        "version_conflict",
    )
    .await;
    assert_eq!(stale.body["current_version"], 4);
}

#[sqlx::test(migrations = false)]
async fn assigning_a_client_appends_client_reassigned(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let anna = manager(&app, "Anna").await;
    let boris = manager(&app, "Boris").await;
    let gone = inactive_manager(&app).await;
    let id = client(&app, anna).await;
    let path = format!("/clients/{id}/assign");

    let answer = send(
        &app,
        Method::POST,
        &path,
        &json!({"manager_id": boris}),
        &[("if-match", "1")],
    )
    .await;
    assert_eq!(response_id(&answer, StatusCode::OK, "client", 2), id);
    let stored = events(&app, &format!("client-{id}")).await;
    assert_eq!(stored[1]["type"], "ClientReassigned");
    assert_eq!(
        stored[1]["data"],
        json!({"client_id": id, "from_manager_id": anna, "to_manager_id": boris})
    );

    let unknown = format!("/clients/{}/assign", Uuid::new_v4());
    let to = |m: Uuid| json!({"manager_id": m}).to_string();
    let cases: Vec<Case> = vec![
        (
            &path,
            "not json".into(),
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
            json!({"manager_id": 7}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &path,
            json!({"manager_id": anna, "why": "x"}).to_string(),
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
    for (path, body, headers, status, code) in cases {
        let answer = refused(&app, Method::POST, path, &body, &headers, status, code).await;
        if status == StatusCode::CONFLICT {
            assert_eq!(answer.body["current_version"], 2);
        }
    }
}

#[sqlx::test(migrations = false)]
async fn capturing_a_lead_appends_lead_captured_and_assigned(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let anna = manager(&app, "Anna").await;
    let client_id = client(&app, anna).await;

    // Without a manager: one event; received_at is the business time.
    let answer = app
        .post(
            "/leads",
            &json!({"source": "site", "name": "Ivan", "occurred_at": "2026-03-01T08:00:00Z"}),
        )
        .await;
    let id = response_id(&answer, StatusCode::CREATED, "lead", 1);
    let stored = events(&app, &format!("lead-{id}")).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["type"], "LeadCaptured");
    assert_eq!(stored[0]["occurred_at"], "2026-03-01T08:00:00Z");
    assert_eq!(
        stored[0]["data"],
        json!({"lead_id": id, "source": "site", "name": "Ivan",
            "received_at": "2026-03-01T08:00:00Z"})
    );

    // With a manager and a client: LeadCaptured then LeadAssigned.
    let own = Uuid::new_v4();
    let answer = app
        .post(
            "/leads",
            &json!({"id": own, "source": "ads", "channel": "call", "name": "Maria",
                "phone": "+1 555 0101", "email": "m@example.com", "client_id": client_id,
                "manager_id": anna}),
        )
        .await;
    assert_eq!(response_id(&answer, StatusCode::CREATED, "lead", 2), own);
    let stored = events(&app, &format!("lead-{own}")).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0]["type"], "LeadCaptured");
    let data = &stored[0]["data"];
    assert_eq!(
        (
            &data["channel"],
            &data["phone"],
            &data["email"],
            &data["client_id"]
        ),
        (
            &json!("call"),
            &json!("+1 555 0101"),
            &json!("m@example.com"),
            &json!(client_id)
        )
    );
    // Default business time: now, and received_at is that very time.
    assert_eq!(data["received_at"], stored[0]["occurred_at"]);
    assert_eq!(stored[1]["type"], "LeadAssigned");
    assert_eq!(
        stored[1]["data"],
        json!({"lead_id": own, "manager_id": anna})
    );
    assert_eq!(answer.body["position"], stored[1]["position"]);
}

#[sqlx::test(migrations = false)]
async fn lead_capture_refusals_append_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let gone = inactive_manager(&app).await;
    let anna = manager(&app, "Anna").await;
    let id = lead(&app, None).await;
    let valid = json!({"source": "site", "name": "Ivan"});
    let with = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        body.to_string()
    };
    let cases = [
        ("[".to_owned(), StatusCode::BAD_REQUEST, "malformed_json"),
        (
            with("name", json!(["Ivan"])),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            with("received_at", json!("2026-01-01T00:00:00Z")),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({"name": "Ivan"}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            with("occurred_at", json!("yesterday")),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            with("manager_id", json!(Uuid::new_v4())),
            StatusCode::UNPROCESSABLE_ENTITY,
            "reference_not_found",
        ),
        (
            with("manager_id", json!(gone)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "manager_inactive",
        ),
        (
            with("client_id", json!(Uuid::new_v4())),
            StatusCode::UNPROCESSABLE_ENTITY,
            "reference_not_found",
        ),
        // A lead's id is no client's.
        (
            with("client_id", json!(id)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "reference_not_found",
        ),
        (
            with("name", json!("")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_name",
        ),
        (
            with("source", json!(" ")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_source",
        ),
        (
            with("id", json!(id)),
            StatusCode::CONFLICT,
            "already_exists",
        ),
    ];
    for (body, status, code) in cases {
        refused(&app, Method::POST, "/leads", &body, &[], status, code).await;
    }
    // The manager registered after the inactive one is fine.
    let answer = app
        .post(
            "/leads",
            &json!({"source": "site", "name": "Ivan", "manager_id": anna}),
        )
        .await;
    response_id(&answer, StatusCode::CREATED, "lead", 2);
}

#[sqlx::test(migrations = false)]
async fn assigning_a_lead_appends_lead_assigned(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let anna = manager(&app, "Anna").await;
    let boris = manager(&app, "Boris").await;
    let gone = inactive_manager(&app).await;
    let id = lead(&app, None).await;
    let path = format!("/leads/{id}/assign");

    let answer = send(
        &app,
        Method::POST,
        &path,
        &json!({"manager_id": anna}),
        &[("if-match", "1")],
    )
    .await;
    assert_eq!(response_id(&answer, StatusCode::OK, "lead", 2), id);
    let answer = app.post(&path, &json!({"manager_id": boris})).await;
    response_id(&answer, StatusCode::OK, "lead", 3);
    let stored = events(&app, &format!("lead-{id}")).await;
    assert_eq!(stored[1]["type"], "LeadAssigned");
    assert_eq!(
        stored[1]["data"],
        json!({"lead_id": id, "manager_id": anna})
    );
    assert_eq!(
        stored[2]["data"],
        json!({"lead_id": id, "manager_id": boris})
    );

    let unknown = format!("/leads/{}/assign", Uuid::new_v4());
    let to = |m: Uuid| json!({"manager_id": m}).to_string();
    let cases: Vec<Case> = vec![
        (
            &path,
            "{\"manager_id\"".into(),
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
            json!({"manager_id": true}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &path,
            json!({"manager_id": anna, "note": ""}).to_string(),
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
            vec![("if-match", "2")],
            StatusCode::CONFLICT,
            "version_conflict",
        ),
    ];
    for (path, body, headers, status, code) in cases {
        let answer = refused(&app, Method::POST, path, &body, &headers, status, code).await;
        if status == StatusCode::CONFLICT {
            assert_eq!(answer.body["current_version"], 3);
        }
    }
}

#[sqlx::test(migrations = false)]
async fn rejecting_a_lead_appends_lead_rejected_once(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let anna = manager(&app, "Anna").await;
    let id = lead(&app, Some(anna)).await;
    let path = format!("/leads/{id}/reject");
    let unknown = format!("/leads/{}/reject", Uuid::new_v4());

    let early: Vec<Case> = vec![
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
            json!({"reason": 3}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &path,
            json!({"reason": "spam", "by": "me"}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &unknown,
            json!({"reason": "spam"}).to_string(),
            vec![],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            &path,
            json!({"reason": " "}).to_string(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_reason",
        ),
        (
            &path,
            json!({"reason": "spam"}).to_string(),
            vec![("if-match", "1")],
            StatusCode::CONFLICT,
            "version_conflict",
        ),
    ];
    for (path, body, headers, status, code) in early {
        refused(&app, Method::POST, path, &body, &headers, status, code).await;
    }

    let answer = send(
        &app,
        Method::POST,
        &path,
        &json!({"reason": "spam"}),
        &[("if-match", "2")],
    )
    .await;
    assert_eq!(response_id(&answer, StatusCode::OK, "lead", 3), id);
    let stored = events(&app, &format!("lead-{id}")).await;
    assert_eq!(stored[2]["type"], "LeadRejected");
    assert_eq!(stored[2]["data"], json!({"lead_id": id, "reason": "spam"}));

    // Closed: neither rejected again, nor assigned, nor converted.
    let (pipeline_id, _, _) = pipeline(&app).await;
    let closed = [
        (path.clone(), json!({"reason": "again"})),
        (
            format!("/leads/{id}/assign"),
            json!({"manager_id": manager(&app, "Boris").await}),
        ),
        (
            format!("/leads/{id}/convert"),
            json!({"deal": {"pipeline_id": pipeline_id, "title": "T", "amount": 1}}),
        ),
    ];
    for (path, body) in closed {
        refused(
            &app,
            Method::POST,
            &path,
            &body.to_string(),
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
            "lead_closed",
        )
        .await;
    }
}

#[sqlx::test(migrations = false)]
async fn converting_a_lead_writes_lead_client_and_deal_in_one_transaction(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let anna = manager(&app, "Anna").await;
    let (pipeline_id, first_stage, _) = pipeline(&app).await;
    let id = lead(&app, Some(anna)).await;
    let before = app.event_count().await;

    let answer = send(
        &app,
        Method::POST,
        &format!("/leads/{id}/convert"),
        &json!({"deal": {"pipeline_id": pipeline_id, "title": "Pallets", "amount": 150000,
            "expected_close_on": "2026-04-30"}, "occurred_at": "2026-03-03T12:00:00Z"}),
        &[("if-match", "2")],
    )
    .await;
    assert_eq!(response_id(&answer, StatusCode::OK, "lead", 3), id);
    assert_eq!(app.event_count().await, before + 3);

    let lead_events = events(&app, &format!("lead-{id}")).await;
    let converted = &lead_events[2];
    assert_eq!(converted["type"], "LeadConverted");
    assert_eq!(converted["position"], answer.body["position"]);
    let client_id = converted["data"]["client_id"].as_str().unwrap().to_owned();
    let deal_id = converted["data"]["deal_id"].as_str().unwrap().to_owned();

    let client_events = events(&app, &format!("client-{client_id}")).await;
    assert_eq!(client_events.len(), 1);
    assert_eq!(client_events[0]["type"], "ClientRegistered");
    assert_eq!(
        client_events[0]["data"],
        json!({"client_id": client_id, "name": "Ivan Petrov", "kind": "person", "source": "site",
            "manager_id": anna,
            "contacts": [{"name": "Ivan Petrov", "phone": "+7 900 000-00-00", "email": "ivan@example.com"}]})
    );
    let deal_events = events(&app, &format!("deal-{deal_id}")).await;
    assert_eq!(deal_events.len(), 1);
    assert_eq!(deal_events[0]["type"], "DealOpened");
    assert_eq!(
        deal_events[0]["data"],
        json!({"deal_id": deal_id, "client_id": client_id, "pipeline_id": pipeline_id,
            "stage_id": first_stage, "title": "Pallets", "amount": 150000, "manager_id": anna,
            "source": "site", "expected_close_on": "2026-04-30", "lead_id": id})
    );
    for event in [converted, &client_events[0], &deal_events[0]] {
        assert_eq!(event["occurred_at"], "2026-03-03T12:00:00Z");
    }

    // One transaction: the same tx_id on all three streams.
    let mut tx_ids = Vec::new();
    for stream in [
        format!("lead-{id}"),
        format!("client-{client_id}"),
        format!("deal-{deal_id}"),
    ] {
        let stored = app.log.read_stream(&stream, 1, 100).await.unwrap();
        tx_ids.push(stored.last().unwrap().tx_id);
    }
    assert!(tx_ids.iter().all(|t| *t == tx_ids[0]), "{tx_ids:?}");
    let capture_tx = app
        .log
        .read_stream(&format!("lead-{id}"), 1, 1)
        .await
        .unwrap()[0]
        .tx_id;
    assert_ne!(capture_tx, tx_ids[0]);

    // Converted twice: refused, nothing appended.
    refused(
        &app,
        Method::POST,
        &format!("/leads/{id}/convert"),
        &json!({"deal": {"pipeline_id": pipeline_id, "title": "Again", "amount": 1}}).to_string(),
        &[],
        StatusCode::UNPROCESSABLE_ENTITY,
        "lead_closed",
    )
    .await;
}

#[sqlx::test(migrations = false)]
async fn converting_a_lead_of_a_known_client_registers_no_client(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let anna = manager(&app, "Anna").await;
    let (pipeline_id, _, second_stage) = pipeline(&app).await;
    let client_id = client(&app, anna).await;
    let deal_id = Uuid::new_v4();

    // The client named in the request, the stage given, the deal's own id.
    let id = lead(&app, Some(anna)).await;
    let before = app.event_count().await;
    let answer = app
        .post(
            &format!("/leads/{id}/convert"),
            &json!({"client_id": client_id, "deal": {"id": deal_id, "pipeline_id": pipeline_id,
                "stage_id": second_stage, "title": "Boxes", "amount": 0}}),
        )
        .await;
    response_id(&answer, StatusCode::OK, "lead", 3);
    assert_eq!(app.event_count().await, before + 2);
    let converted = &events(&app, &format!("lead-{id}")).await[2];
    assert_eq!(
        converted["data"],
        json!({"lead_id": id, "client_id": client_id, "deal_id": deal_id})
    );
    let opened = &events(&app, &format!("deal-{deal_id}")).await[0]["data"];
    assert_eq!(
        (&opened["client_id"], &opened["stage_id"]),
        (&json!(client_id), &json!(second_stage))
    );
    assert_eq!(events(&app, &format!("client-{client_id}")).await.len(), 1);

    // The lead's own client, when the request names none.
    let answer = app
        .post(
            "/leads",
            &json!({"source": "site", "name": "Maria", "client_id": client_id, "manager_id": anna}),
        )
        .await;
    let other = response_id(&answer, StatusCode::CREATED, "lead", 2);
    let answer = app
        .post(
            &format!("/leads/{other}/convert"),
            &json!({"deal": {"pipeline_id": pipeline_id, "title": "Crates", "amount": 10}}),
        )
        .await;
    response_id(&answer, StatusCode::OK, "lead", 3);
    assert_eq!(
        events(&app, &format!("lead-{other}")).await[2]["data"]["client_id"],
        json!(client_id)
    );
    assert_eq!(events(&app, &format!("client-{client_id}")).await.len(), 1);

    // A deal id that exists already is refused.
    let third = lead(&app, Some(anna)).await;
    refused(
        &app,
        Method::POST,
        &format!("/leads/{third}/convert"),
        &json!({"deal": {"id": deal_id, "pipeline_id": pipeline_id, "title": "Dup", "amount": 1}})
            .to_string(),
        &[],
        StatusCode::CONFLICT,
        "already_exists",
    )
    .await;
}

#[sqlx::test(migrations = false)]
async fn a_refused_conversion_appends_nothing_to_any_stream(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let anna = manager(&app, "Anna").await;
    let (pipeline_id, _, _) = pipeline(&app).await;
    let (_, other_stage, _) = pipeline(&app).await;
    let id = lead(&app, Some(anna)).await;
    let unassigned = lead(&app, None).await;
    let path = format!("/leads/{id}/convert");
    let deal = |extra: Value| {
        let mut deal = json!({"pipeline_id": pipeline_id, "title": "Pallets", "amount": 100});
        for (k, v) in extra.as_object().unwrap() {
            deal[k] = v.clone();
        }
        json!({"deal": deal}).to_string()
    };
    let unknown = format!("/leads/{}/convert", Uuid::new_v4());
    let unassigned_path = format!("/leads/{unassigned}/convert");
    let with_client = json!({"client_id": Uuid::new_v4(),
        "deal": {"pipeline_id": pipeline_id, "title": "T", "amount": 1}})
    .to_string();
    let cases: Vec<Case> = vec![
        (
            &path,
            "{\"deal\": {".into(),
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
            deal(json!({"amount": 1.5})),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &path,
            deal(json!({"amount": "100"})),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &path,
            deal(json!({"manager_id": anna})),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &path,
            deal(json!({"expected_close_on": "30.04.2026"})),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &path,
            json!({"deal": {"pipeline_id": pipeline_id, "amount": 1}}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            &unknown,
            deal(json!({})),
            vec![],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        // The deal part refused: a stage of another pipeline.
        (
            &path,
            deal(json!({"stage_id": other_stage})),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "stage_not_in_pipeline",
        ),
        (
            &path,
            deal(json!({"pipeline_id": Uuid::new_v4()})),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "reference_not_found",
        ),
        (
            &path,
            deal(json!({"amount": -1})),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "negative_amount",
        ),
        (
            &path,
            deal(json!({"title": ""})),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_title",
        ),
        (
            &path,
            with_client,
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "reference_not_found",
        ),
        (
            &unassigned_path,
            deal(json!({})),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "lead_unassigned",
        ),
        (
            &path,
            deal(json!({})),
            vec![("if-match", "1")],
            StatusCode::CONFLICT,
            "version_conflict",
        ),
    ];
    for (path, body, headers, status, code) in cases {
        let answer = refused(&app, Method::POST, path, &body, &headers, status, code).await;
        if status == StatusCode::CONFLICT {
            assert_eq!(answer.body["current_version"], 2);
        }
    }
    // Nothing but the set-up: a manager, two pipelines, a lead assigned and one not.
    assert_eq!(events(&app, &format!("lead-{id}")).await.len(), 2);
    assert_eq!(app.event_count().await, 1 + 2 + 2 + 1);

    // A deactivated manager of the lead refuses the conversion too.
    let boris = manager(&app, "Boris").await;
    let his = lead(&app, Some(boris)).await;
    app.post(&format!("/managers/{boris}/deactivate"), &json!({}))
        .await;
    refused(
        &app,
        Method::POST,
        &format!("/leads/{his}/convert"),
        &deal(json!({})),
        &[],
        StatusCode::UNPROCESSABLE_ENTITY,
        "manager_inactive",
    )
    .await;

    // And the same request, fixed, goes through.
    let answer = app
        .post(&path, &serde_json::from_str(&deal(json!({}))).unwrap())
        .await;
    response_id(&answer, StatusCode::OK, "lead", 3);
}

#[sqlx::test(migrations = false)]
async fn the_openapi_document_describes_every_client_lead_task_and_interaction_command(
    pool: PgPool,
) {
    let app = TestApp::new(pool).await.unwrap();
    let doc = app.get("/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    let operations = [
        ("/clients", "post", "RegisterClientBody"),
        ("/clients/{id}", "patch", "UpdateClientBody"),
        ("/clients/{id}/assign", "post", "AssignClientBody"),
        ("/leads", "post", "CaptureLeadBody"),
        ("/leads/{id}/assign", "post", "AssignLeadBody"),
        ("/leads/{id}/reject", "post", "RejectLeadBody"),
        ("/leads/{id}/convert", "post", "ConvertLeadBody"),
        ("/tasks", "post", "ScheduleTaskBody"),
        ("/tasks/{id}/reschedule", "post", "RescheduleTaskBody"),
        ("/tasks/{id}/assign", "post", "AssignTaskBody"),
        ("/tasks/{id}/complete", "post", "CompleteTaskBody"),
        ("/tasks/{id}/cancel", "post", "CancelTaskBody"),
        ("/interactions", "post", "LogInteractionBody"),
    ];
    for (path, method, schema) in operations {
        let operation = &doc.body["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not described");
        assert!(
            operation["responses"].is_object(),
            "{method} {path}: {operation}"
        );
        assert!(
            doc.body["components"]["schemas"][schema].is_object(),
            "{schema} is not described"
        );
    }
    assert!(doc.body["components"]["schemas"]["ConvertLeadDealBody"].is_object());
    assert!(doc.body["components"]["schemas"]["ContactBody"].is_object());
}
